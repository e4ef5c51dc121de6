"""What the supervisor tools' pages share: a period read from the query string as the API reads
it, a list's page of results with its links, and the flash a form's redirect names."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from service.errors import ArrearsError
from service.web.api.compliance import PeriodQuery
from service.web.api.framework import validated
from service.web.ui.i18n import gettext as _
from service.web.ui.task_view import Problem, lender_day, page_number, problem

PAGE_SIZE = 50
# The period a report shows when none is asked for: the last week, today included.
DEFAULT_DAYS = 7


@dataclasses.dataclass(frozen=True, slots=True)
class Period:
    start: dt.date
    end: dt.date
    refused: Problem | None = None

    def query(self) -> dict[str, str]:
        return {"from": self.start.isoformat(), "to": self.end.isoformat()}


def period(request: web.Request) -> Period:
    """The ``from`` and ``to`` of the query (lender's days), checked by the API's model; the
    last week when absent, and when refused (the refusal shown beside it)."""
    today = lender_day(request)
    fallback = Period(today - dt.timedelta(days=DEFAULT_DAYS - 1), today)
    wanted = {k: v for k in ("from", "to") if (v := request.query.get(k, "").strip())}
    if not wanted:
        return fallback
    wanted.setdefault("from", fallback.start.isoformat())
    wanted.setdefault("to", fallback.end.isoformat())
    try:
        found = validated(PeriodQuery, wanted)
        if found.end < found.start:
            return dataclasses.replace(fallback, refused=_backwards())
    except ArrearsError as exc:
        return dataclasses.replace(fallback, refused=problem(exc))
    return Period(found.start, found.end)


def _backwards() -> Problem:
    return Problem(_("The period ends before it starts."), "", 422, ("to",))


@dataclasses.dataclass(frozen=True, slots=True)
class Paging:
    """Which slice of a list a page shows, and the links to the pages beside it."""

    page: int
    total: int
    shown: int
    previous_url: str | None
    next_url: str | None

    @property
    def first(self) -> int:
        return (self.page - 1) * PAGE_SIZE + 1 if self.shown else 0

    @property
    def last(self) -> int:
        return (self.page - 1) * PAGE_SIZE + self.shown


def offset_of(query: Mapping[str, str]) -> tuple[int, int]:
    """(page, offset) of the query's ``page``."""
    page = page_number(query.get("page"))
    return page, (page - 1) * PAGE_SIZE


def paging(page: int, total: int, shown: int, url: Callable[[int], str]) -> Paging:
    last_page = max(1, -(-total // PAGE_SIZE))
    return Paging(
        page=page,
        total=total,
        shown=shown,
        previous_url=url(page - 1) if page > 1 else None,
        next_url=url(page + 1) if page < last_page else None,
    )


def link(path: str, **params: Any) -> str:
    """``path`` with the non-empty ``params`` as its query string."""
    wanted = {
        k: v for k, v in params.items() if v not in (None, "") and not (k == "page" and v == 1)
    }
    return path + (f"?{urlencode(wanted)}" if wanted else "")


def flash(request: web.Request, messages: Mapping[str, Callable[[], str]]) -> str | None:
    """The message a form's redirect names (``?flash=created``), in the page's words."""
    found = messages.get(request.query.get("flash", ""))
    return found() if found else None
