"""The calendar Arrears reasons about: dates from 1900 to 2999.

A loan's dates, a contact's moment and a close of business all fall in it. Outside it, date
arithmetic overflows (year 9999 has no next day) or the value is a typing mistake (year 1); every
reader of dates (the import, the API, the command line, the guard) refuses what falls outside.
"""

from __future__ import annotations

import datetime as dt

EARLIEST_DATE = dt.date(1900, 1, 1)
LATEST_DATE = dt.date(2999, 12, 31)
# The calendar's dates as text: YYYY-MM-DD in ASCII digits (no week, ordinal or compact forms,
# which Python's fromisoformat also takes); the day of the month is checked by parsing.
DATE_PATTERN = r"(?:19[0-9]{2}|2[0-9]{3})-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"


def in_calendar(day: dt.date) -> bool:
    return EARLIEST_DATE <= day <= LATEST_DATE
