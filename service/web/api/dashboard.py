"""The supervisor dashboard's figures over the API (docs/dashboard.md): the portfolio by bucket
and class, recovery, the roll-rate matrix with roll and cure rates, promises kept, contact and
right-party-contact rates — over a date range, grouped by collector, queue or strategy arm — and
the live queue backlog with lease ages. Read from the aggregates the close of business keeps;
the /dashboard page calls the same functions."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from aiohttp import web
from pydantic import Field

from service.clock import lender_today
from service.portfolio import dashboard
from service.web.api.framework import STAFF, Api, Out, TextIn
from service.web.api.schemas import Day, Instant, Money, Ratio
from service.web.keys import CLOCK, ENGINE, SETTINGS

api = Api("dashboard")


class DashboardQuery(TextIn):
    start: Day | None = Field(
        None, alias="from", description="first day (default: the first of the month two back)"
    )
    end: Day | None = Field(None, alias="to", description="last day, included (default: today)")
    group: Literal["all", "collector", "queue", "arm"] = Field(
        "all", description="one row per collector, queue or strategy arm, or one in all"
    )


class Range(Out):
    start: dt.date = Field(serialization_alias="from")
    end: dt.date = Field(serialization_alias="to")
    group: str


class BucketRow(Out):
    group: str | None = Field(description="the collector, queue or arm (null: none, or all)")
    bucket: str
    accounts: int
    outstanding: Money
    overdue_amount: Money


class ClassRow(Out):
    group: str | None
    risk_class: str
    accounts: int
    outstanding: Money
    overdue_amount: Money


class PortfolioOut(Out):
    range: Range
    as_of: dt.date | None = Field(description="the period's last close of business")
    by_bucket: list[BucketRow]
    by_class: list[ClassRow]


class RecoveryRow(Out):
    group: str | None
    overdue_at_start: Money
    collected: Money
    recovery_rate: Ratio | None


class RecoveryOut(Out):
    range: Range
    opening_close: dt.date | None = Field(description="the close whose overdue balance is used")
    rows: list[RecoveryRow]


class RollCell(Out):
    bucket: str
    accounts: int
    balance: Money
    share: Ratio | None
    balance_share: Ratio | None


class MatrixRow(Out):
    from_bucket: str
    accounts: int
    balance: Money
    to: list[RollCell]


class RollMonthOut(Out):
    month: dt.date
    from_on: dt.date
    to_on: dt.date
    rows: list[MatrixRow]


class RateRow(Out):
    month: dt.date
    group: str | None
    accounts: int
    roll_rate: Ratio | None
    roll_rate_balance: Ratio | None
    cure_rate: Ratio | None
    cure_rate_balance: Ratio | None


class RollsOut(Out):
    range: Range
    buckets: list[str]
    months: list[RollMonthOut]
    rates: list[RateRow]


class PromiseRow(Out):
    group: str | None
    made: int
    made_amount: Money
    due: int
    due_amount: Money
    kept: int
    partially_kept: int
    broken: int
    open: int
    settled_amount: Money
    kept_amount: Money
    kept_rate: Ratio | None
    kept_amount_rate: Ratio | None


class PromisesOut(Out):
    range: Range
    rows: list[PromiseRow]


class ContactRow(Out):
    group: str | None
    attempts: int
    connected: int
    right_party: int
    contact_rate: Ratio | None
    rpc_rate: Ratio | None


class ContactOut(Out):
    range: Range
    rows: list[ContactRow]


class BacklogRow(Out):
    queue: str
    accounts: int
    assigned: int
    leased: int
    oldest_lease_seconds: int | None
    newest_lease_seconds: int | None


class BacklogOut(Out):
    at: Instant = Field(description="when the leases were read")
    as_of: dt.date | None = Field(description="the close of business the accounts are counted at")
    rows: list[BacklogRow]


def period_of(request: web.Request, query: DashboardQuery) -> dashboard.Period:
    """The asked range, the missing ends from the default (ending today, the lender's)."""
    settings = request.app[SETTINGS]
    today = lender_today(settings.lender_timezone, request.app[CLOCK].now())
    default = dashboard.default_period(query.end or today)
    return dashboard.Period(query.start or default.start, query.end or default.end, query.group)


def _range(period: dashboard.Period) -> Range:
    return Range(start=period.start, end=period.end, group=period.group)


def _buckets(request: web.Request) -> tuple[str, ...]:
    return request.app[SETTINGS].cob_config().buckets.labels


@api.get("/api/dashboard/portfolio", summary="Portfolio by bucket and class", roles=STAFF)
async def portfolio(request: web.Request, query: DashboardQuery) -> PortfolioOut:
    """At the period's last close: accounts, outstanding and overdue balance per bucket and per
    five-category class."""
    period = period_of(request, query)
    async with request.app[ENGINE].connect() as conn:
        by_bucket = await dashboard.portfolio(conn, period, "bucket", _buckets(request))
        by_class = await dashboard.portfolio(conn, period, "risk_class", _buckets(request))
    return PortfolioOut(
        range=_range(period),
        as_of=by_bucket["as_of"],
        by_bucket=[BucketRow.model_validate(r) for r in by_bucket["rows"]],
        by_class=[ClassRow.model_validate(r) for r in by_class["rows"]],
    )


@api.get("/api/dashboard/recovery", summary="Recovery rate", roles=STAFF)
async def recovery(request: web.Request, query: DashboardQuery) -> RecoveryOut:
    """Collected in the period ÷ overdue balance at the close before it."""
    period = period_of(request, query)
    async with request.app[ENGINE].connect() as conn:
        found = await dashboard.recovery(conn, period)
    return RecoveryOut(
        range=_range(period),
        opening_close=found["opening_close"],
        rows=[RecoveryRow.model_validate(r) for r in found["rows"]],
    )


@api.get("/api/dashboard/rolls", summary="Roll-rate matrix, roll and cure rates", roles=STAFF)
async def rolls(request: web.Request, query: DashboardQuery) -> RollsOut:
    """Month over month, M0…M7+ (and closed): from each bucket at one month-end to the next,
    by count and by balance; roll and cure rates per group and month."""
    period = period_of(request, query)
    async with request.app[ENGINE].connect() as conn:
        found = await dashboard.rolls(conn, period, _buckets(request))
    return RollsOut(range=_range(period), **{k: found[k] for k in ("buckets", "months", "rates")})


@api.get("/api/dashboard/promises", summary="Promises made, falling due and kept", roles=STAFF)
async def promises(request: web.Request, query: DashboardQuery) -> PromisesOut:
    period = period_of(request, query)
    async with request.app[ENGINE].connect() as conn:
        found = await dashboard.promises(conn, period)
    return PromisesOut(range=_range(period), rows=found["rows"])


@api.get("/api/dashboard/contact", summary="Contact and right-party-contact rates", roles=STAFF)
async def contact(request: web.Request, query: DashboardQuery) -> ContactOut:
    period = period_of(request, query)
    async with request.app[ENGINE].connect() as conn:
        found = await dashboard.contact(conn, period)
    return ContactOut(range=_range(period), rows=found["rows"])


@api.get("/api/dashboard/backlog", summary="Queue backlog and lease ages", roles=STAFF)
async def backlog(request: web.Request) -> BacklogOut:
    """Each queue's accounts at the last close of business; the leases held now, live."""
    async with request.app[ENGINE].connect() as conn:
        found = await dashboard.backlog(
            conn, request.app[CLOCK].now(), request.app[SETTINGS].lease_minutes
        )
    return BacklogOut(at=found["at"], as_of=found["as_of"], rows=found["rows"])
