"""Working days (工作日) in mainland China: Monday to Friday, less the public holidays, plus
the weekend days the State Council makes working days to bridge a holiday week (调休 补班).

The calendar is the ``holidays`` package's (``holidays.country_holidays("CN")``), which follows
the State Council's yearly notice on the next year's holidays (国务院办公厅关于…部分节假日安排
的通知, published each November). A year not yet announced has its statutory holidays but no
make-up days: the package must be upgraded when the notice is out (docs/inspections.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import holidays

_DAY = dt.timedelta(days=1)


class WorkingDays:
    """China's working days, for the years a computation touches (more are added on demand)."""

    def __init__(self, years: Iterable[int] = ()) -> None:
        self._calendar = holidays.country_holidays("CN", years=list(years))

    def is_working_day(self, day: dt.date) -> bool:
        # A weekend day is a working day only when it is a make-up day; any other day unless
        # it is a holiday (a 调休 weekday off is listed as a holiday: "Day off (substituted …)").
        return self._calendar.is_working_day(day)

    def next_working_day(self, day: dt.date) -> dt.date:
        """``day`` itself when it is a working day, else the first working day after it."""
        while not self.is_working_day(day):
            day += _DAY
        return day

    def add(self, start: dt.date, days: int) -> dt.date:
        """The ``days``-th working day after ``start`` (``start`` itself not counted): a loan
        disbursed on a Friday before the National Day week has its 1st working day on the
        make-up Sunday, and the holiday week counts for nothing."""
        if days < 0:
            raise ValueError("a number of working days is not negative")
        day = start
        for _ in range(days):
            day = self.next_working_day(day + _DAY)
        return day


def add_working_days(start: dt.date, days: int) -> dt.date:
    """The ``days``-th working day after ``start`` in China's calendar (:class:`WorkingDays`)."""
    # Two years cover any count the rules use (15 working days, a form within 2): more are
    # added on demand when a count runs past them.
    return WorkingDays(range(start.year, start.year + 2)).add(start, days)
