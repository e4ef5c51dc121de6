"""Time as a dependency: the clock every "now" comes from, and the lender's calendar.

Code that decides something by the time (which day it is for the lender, whether a lease ran
out, when a job started) takes a :class:`Clock` with its other resources, so that a test, a dry
run or a simulation can run at any moment it names (DESIGN.md §4). Record stamps such as
``created_at`` use :func:`utcnow`: they say when a row was written, not what day it is.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
from typing import Protocol
from zoneinfo import ZoneInfo


def utcnow() -> dt.datetime:
    """The wall clock, aware UTC."""
    return dt.datetime.now(dt.UTC)


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current moment, aware UTC."""
        ...


class SystemClock:
    """The machine's clock: what production runs on."""

    def now(self) -> dt.datetime:
        return utcnow()


@dataclasses.dataclass(slots=True)
class FixedClock:
    """A clock that says what it is told (tests, dry runs, simulated days); ``advance`` moves it."""

    moment: dt.datetime

    def __post_init__(self) -> None:
        if self.moment.tzinfo is None:
            raise ValueError("a clock's moment must be aware")

    def now(self) -> dt.datetime:
        return self.moment

    def advance(self, delta: dt.timedelta) -> None:
        self.moment += delta


def lender_today(zone: str, now: dt.datetime | None = None) -> dt.date:
    """The date where the lender books its business, at ``now`` (default: the wall clock)."""
    moment = now or utcnow()
    return moment.astimezone(ZoneInfo(zone)).date()


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` later, or the month's last day if shorter (31 Jan → 28 Feb)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))
