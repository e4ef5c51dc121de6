"""Treatment: versioned plans (``plans``), lost contact (``lost_contact``), the day's planner
(``planner``), the compliance facts it decides from (``facts``) and the messages it renders
(``messages``)."""
