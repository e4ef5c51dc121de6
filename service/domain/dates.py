"""The calendar Arrears reasons about: dates from 1900 to 2999.

A loan's dates, a contact's moment and a close of business all fall in it. Outside it, date
arithmetic overflows (year 9999 has no next day) or the value is a typing mistake (year 1); every
reader of dates (the import, the API, the command line, the guard) refuses what falls outside.
"""

from __future__ import annotations

import datetime as dt

EARLIEST_DATE = dt.date(1900, 1, 1)
LATEST_DATE = dt.date(2999, 12, 31)


def in_calendar(day: dt.date) -> bool:
    return EARLIEST_DATE <= day <= LATEST_DATE
