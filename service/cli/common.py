"""What every verb group shares: registering a verb, an engine on a migrated database, the
acting user's name, JSON options, and the reading of every date and time argument."""

from __future__ import annotations

import argparse
import calendar
import contextlib
import datetime as dt
import json
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from service.db.engine import create_engine
from service.db.migrate import upgrade
from service.domain.dates import EARLIEST_DATE, LATEST_DATE
from service.errors import ArrearsError
from service.settings import Settings

# A verb's handler: async verbs return a coroutine that main() runs; sync ones (those that
# start a server or a worker with a loop of its own) return the exit code.
Handler = Callable[[Settings, argparse.Namespace], Awaitable[int] | int]
Verbs = argparse._SubParsersAction  # the parser's sub-commands, as add_subparsers returns them


def verb(
    verbs: Verbs[argparse.ArgumentParser],
    name: str,
    handler: Handler,
    help: str,  # argparse's own keyword
) -> argparse.ArgumentParser:
    parser = verbs.add_parser(name, help=help)
    parser.set_defaults(handler=handler)
    return parser


@contextlib.asynccontextmanager
async def migrated(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """An engine on a database brought to the latest schema, disposed of afterwards."""
    engine = create_engine(settings)
    try:
        await upgrade(engine)
        yield engine
    finally:
        await engine.dispose()


def actor() -> str:
    """Who runs the command, for the audit trail."""
    return os.environ.get("USER", "cli")


def json_object(raw: str, option: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ArrearsError(f"{option} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ArrearsError(f"{option} must be a JSON object")
    return value


# A loan's dates lie in the calendar's years (service.domain.dates); anything outside is a typo
# (0001, 20266) that would otherwise reach the database or the date arithmetic of a night.
FIRST_YEAR, LAST_YEAR = EARLIEST_DATE.year, LATEST_DATE.year
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")


def date_arg(text: str) -> dt.date:
    """argparse ``type=`` of every date argument: YYYY-MM-DD, a day of the calendar, in the
    years a loan can have. Anything else is a usage error with its reason (argparse exits 2)."""
    found = _DATE.fullmatch(text)
    if found is None:
        # Only the one form: fromisoformat would also take 20260101 and ISO week dates.
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)")
    year, month, day = (int(part) for part in found.groups())
    _check_year(text, year)
    if not 1 <= month <= 12:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: there is no month {month}")
    days = calendar.monthrange(year, month)[1]
    if not 1 <= day <= days:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date: {year}-{month:02d} has {days} days"
        )
    return dt.date(year, month, day)


def moment_arg(text: str) -> dt.datetime:
    """argparse ``type=`` of a moment: ISO 8601 with its UTC offset, since a time without one
    does not say when it was (the lender's, the debtor's or the server's clock)."""
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time (e.g. 2026-11-24T10:00:00+08:00)"
        ) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} has no UTC offset: write it with one, e.g. 2026-11-24T10:00:00+08:00"
        )
    _check_year(text, moment.year)
    return moment


def _check_year(text: str, year: int) -> None:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise argparse.ArgumentTypeError(
            f"{text!r} is out of range: years {FIRST_YEAR} to {LAST_YEAR}"
        )
