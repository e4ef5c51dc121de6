"""The supervisor dashboard's figures (docs/dashboard.md), read from the aggregates the close of
business maintains (:mod:`service.cob.aggregates`) and, for the live backlog, from the work
list's leases. The JSON API and the page both call these functions: a number on the page is the
API's. Each KPI is computed by :mod:`service.domain.kpis`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from service.cob.aggregates import month_start
from service.db import dialect
from service.db.dialect import date_sql
from service.domain import kpis
from service.domain.delinquency import RiskClass
from service.errors import ValidationFailed

Grouping = Literal["all", "collector", "queue", "arm"]
GROUPINGS: tuple[Grouping, ...] = ("all", "collector", "queue", "arm")
# The column of the aggregates each grouping reads.
_COLUMN: dict[Grouping, str] = {
    "all": "NULL",
    "collector": "collector_id",
    "queue": "queue_id",
    "arm": "strategy_arm",
}
CENT = Decimal("0.01")
CLOSED = "closed"  # a loan paid off or gone between two month-ends (the matrix's last column)
# The longest range a dashboard query covers.
MAX_DAYS = 3 * 366


@dataclasses.dataclass(frozen=True, slots=True)
class Period:
    """The date range (both ends included) and how the figures are grouped."""

    start: dt.date
    end: dt.date
    group: Grouping = "all"

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValidationFailed("to is before from", details=[{"field": "to"}])
        if (self.end - self.start).days > MAX_DAYS:
            raise ValidationFailed(
                f"a range is at most {MAX_DAYS} days", details=[{"field": "from"}]
            )
        if self.group not in GROUPINGS:
            raise ValidationFailed(
                f"group is one of {', '.join(GROUPINGS)}", details=[{"field": "group"}]
            )


def _money(value: Any) -> Decimal:
    # SQLite's SUM of amounts may come back a float: read it through its text.
    return Decimal(str(value or 0)).quantize(CENT)


def _day(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


class _Names:
    """Who and what a group key is: a collector's username, a queue's name, an arm as it is."""

    def __init__(self, queues: dict[int, str], users: dict[int, str]) -> None:
        self.queues, self.users = queues, users

    @classmethod
    async def load(cls, conn: AsyncConnection, group: Grouping) -> _Names:
        queues: dict[int, str] = {}
        users: dict[int, str] = {}
        if group == "queue":
            queues = {
                int(i): str(n) for i, n in await conn.execute(text("SELECT id, name FROM queues"))
            }
        if group == "collector":
            users = {
                int(i): str(n)
                for i, n in await conn.execute(text("SELECT id, username FROM users"))
            }
        return cls(queues, users)

    def name(self, group: Grouping, key: Any) -> str | None:
        if group == "all" or key is None:
            return None
        if group == "queue":
            return self.queues.get(int(key), f"#{key}")
        if group == "collector":
            return self.users.get(int(key), f"#{key}")
        return str(key)


def _group_by(*columns: str) -> str:
    """A GROUP BY of these columns but the constant that stands for "all" (PostgreSQL refuses
    to group by a constant)."""
    kept = [c for c in columns if c != "NULL"]
    return f"GROUP BY {', '.join(kept)}" if kept else ""


def _order(group: object) -> tuple[int, str]:
    # Unassigned (None) last, the rest by name.
    return (1, "") if group is None else (0, str(group))


async def latest_close(conn: AsyncConnection, on_or_before: dt.date) -> dt.date | None:
    """The last close of business with aggregates on or before a date."""
    return _day(
        (
            await conn.execute(
                text(
                    "SELECT MAX(as_of) FROM dash_portfolio_daily "
                    f"WHERE as_of <= {date_sql(conn, on_or_before)}"
                )
            )
        ).scalar()
    )


async def _start_close(conn: AsyncConnection, start: dt.date) -> dt.date | None:
    """The period's opening position: the close before it, else its first close."""
    before = await latest_close(conn, start - dt.timedelta(days=1))
    if before is not None:
        return before
    return _day(
        (
            await conn.execute(
                text(
                    "SELECT MIN(as_of) FROM dash_portfolio_daily "
                    f"WHERE as_of >= {date_sql(conn, start)}"
                )
            )
        ).scalar()
    )


async def portfolio(
    conn: AsyncConnection,
    period: Period,
    by: Literal["bucket", "risk_class"],
    buckets: Sequence[str],
) -> dict[str, Any]:
    """The portfolio at the period's last close: accounts, outstanding and overdue balance per
    bucket (or five-category class), per group."""
    as_of = await latest_close(conn, period.end)
    rows: list[dict[str, Any]] = []
    if as_of is not None:
        column = _COLUMN[period.group]
        names = await _Names.load(conn, period.group)
        result = await conn.execute(
            text(
                f"""SELECT {column} AS g, {by}, SUM(accounts), SUM(outstanding),
                           SUM(overdue_amount)
                    FROM dash_portfolio_daily WHERE as_of = {date_sql(conn, as_of)}
                    {_group_by(column, by)}"""
            )
        )
        for key, value, accounts, outstanding, overdue in result:
            rows.append(
                {
                    "group": names.name(period.group, key),
                    by: str(value),
                    "accounts": int(accounts),
                    "outstanding": _money(outstanding),
                    "overdue_amount": _money(overdue),
                }
            )
    rank = (
        {label: i for i, label in enumerate(buckets)}
        if by == "bucket"
        else {member.name: member.value for member in RiskClass}
    )
    rows.sort(key=lambda r: (_order(r["group"]), rank.get(r[by], len(rank)), r[by]))
    return {"as_of": as_of, "rows": rows}


async def recovery(conn: AsyncConnection, period: Period) -> dict[str, Any]:
    """Per group: overdue balance at the period's opening close, amount collected in the
    period, recovery rate."""
    opening = await _start_close(conn, period.start)
    column = _COLUMN[period.group]
    names = await _Names.load(conn, period.group)
    overdue: dict[Any, Decimal] = defaultdict(Decimal)
    collected: dict[Any, Decimal] = defaultdict(Decimal)
    if opening is not None:
        for key, amount in await conn.execute(
            text(
                f"""SELECT {column}, SUM(overdue_amount) FROM dash_portfolio_daily
                    WHERE as_of = {date_sql(conn, opening)} {_group_by(column)}"""
            )
        ):
            overdue[key] += _money(amount)
    for key, amount in await conn.execute(
        text(
            f"""SELECT {column}, SUM(collected) FROM dash_activity_daily
                WHERE {_days(conn, "day", period)} {_group_by(column)}"""
        )
    ):
        if amount is not None:  # None: no row at all (a sum over nothing, ungrouped)
            collected[key] += _money(amount)
    rows = [
        {
            "group": names.name(period.group, key),
            "overdue_at_start": overdue.get(key, Decimal("0.00")),
            "collected": collected.get(key, Decimal("0.00")),
            "recovery_rate": kpis.recovery_rate(
                collected.get(key, Decimal(0)), overdue.get(key, Decimal(0))
            ),
        }
        for key in {*overdue, *collected}
    ]
    rows.sort(key=lambda r: _order(r["group"]))
    return {"opening_close": opening, "rows": rows}


def _days(conn: AsyncConnection, column: str, period: Period) -> str:
    return (
        f"{column} >= {date_sql(conn, period.start)} AND {column} <= {date_sql(conn, period.end)}"
    )


async def contact(conn: AsyncConnection, period: Period) -> dict[str, Any]:
    """Per group: outbound calls, connected, right-party contacts, contact and RPC rates."""
    column = _COLUMN[period.group]
    names = await _Names.load(conn, period.group)
    rows = []
    for key, attempts, connected, right_party in await conn.execute(
        text(
            f"""SELECT {column}, SUM(attempts), SUM(connected), SUM(right_party)
                FROM dash_activity_daily WHERE {_days(conn, "day", period)}
                {_group_by(column)}"""
        )
    ):
        if not attempts:  # None: no row at all (a sum over nothing, ungrouped)
            continue  # collected money only (recovery's), no calls
        rows.append(
            {
                "group": names.name(period.group, key),
                "attempts": int(attempts),
                "connected": int(connected),
                "right_party": int(right_party),
                "contact_rate": kpis.contact_rate(int(connected), int(attempts)),
                "rpc_rate": kpis.right_party_rate(int(right_party), int(attempts)),
            }
        )
    rows.sort(key=lambda r: _order(r["group"]))
    return {"rows": rows}


async def promises(conn: AsyncConnection, period: Period) -> dict[str, Any]:
    """Per group: promises made in the period (and their amount); promises falling due in it,
    kept, partly kept, broken and still open; the kept rate by count and by amount."""
    column = _COLUMN[period.group]
    names = await _Names.load(conn, period.group)
    made: dict[Any, tuple[int, Decimal]] = {}
    for key, count, amount in await conn.execute(
        text(
            f"""SELECT {column}, SUM(promises_made), SUM(promised_amount)
                FROM dash_activity_daily WHERE {_days(conn, "day", period)}
                {_group_by(column)}"""
        )
    ):
        if count is not None:  # None: no row at all (a sum over nothing, ungrouped)
            made[key] = (int(count), _money(amount))
    due: dict[Any, tuple[Any, ...]] = {}
    for key, *figures in await conn.execute(
        text(
            f"""SELECT {column}, SUM(promises_due), SUM(due_amount), SUM(promises_kept),
                       SUM(promises_partial), SUM(promises_broken), SUM(settled_amount),
                       SUM(kept_amount)
                FROM dash_promise_daily WHERE {_days(conn, "day", period)}
                {_group_by(column)}"""
        )
    ):
        if figures[0] is not None:
            due[key] = tuple(figures)
    rows = []
    for key in {*made, *due}:
        count_made, amount_made = made.get(key, (0, Decimal("0.00")))
        falling, due_amount, kept, partial, broken, settled, kept_amount = due.get(
            key, (0, 0, 0, 0, 0, 0, 0)
        )
        if not (count_made or falling):
            continue
        kept, partial, broken = int(kept), int(partial), int(broken)
        settled_count = kept + partial + broken
        rows.append(
            {
                "group": names.name(period.group, key),
                "made": count_made,
                "made_amount": amount_made,
                "due": int(falling),
                "due_amount": _money(due_amount),
                "kept": kept,
                "partially_kept": partial,
                "broken": broken,
                "open": int(falling) - settled_count,
                "settled_amount": _money(settled),
                "kept_amount": _money(kept_amount),
                "kept_rate": kpis.promise_kept_rate(Decimal(kept), Decimal(settled_count)),
                "kept_amount_rate": kpis.promise_kept_rate(_money(kept_amount), _money(settled)),
            }
        )
    rows.sort(key=lambda r: _order(r["group"]))
    return {"rows": rows}


def _shares(cells: dict[str, tuple[int, Decimal]], order: Sequence[str]) -> dict[str, Any]:
    """One row of the matrix: each destination's accounts and balance, and their shares."""
    accounts = sum(n for n, _ in cells.values())
    balance = sum((b for _, b in cells.values()), Decimal(0))
    return {
        "accounts": accounts,
        "balance": balance.quantize(CENT),
        "to": [
            {
                "bucket": bucket,
                "accounts": cells.get(bucket, (0, Decimal(0)))[0],
                "balance": cells.get(bucket, (0, Decimal(0)))[1].quantize(CENT),
                "share": kpis.roll_rate(
                    Decimal(cells.get(bucket, (0, Decimal(0)))[0]), Decimal(accounts)
                ),
                "balance_share": kpis.roll_rate(cells.get(bucket, (0, Decimal(0)))[1], balance),
            }
            for bucket in order
        ],
    }


async def rolls(conn: AsyncConnection, period: Period, buckets: Sequence[str]) -> dict[str, Any]:
    """The roll-rate matrix M0…M7+ month over month, for each month-end pair whose later month
    is in the period: from each bucket at the earlier month-end, where the accounts (and their
    balance then) sit at the later one. With, per group and month, the roll rate (bucket i to
    i+1, over M0…M6) and the cure rate (overdue to M0), by count and by balance."""
    column = _COLUMN[period.group]
    names = await _Names.load(conn, period.group)
    months_in = (
        f"month >= {date_sql(conn, month_start(period.start))} "
        f"AND month <= {date_sql(conn, month_start(period.end))}"
    )
    order = [*buckets, CLOSED]
    cells: dict[tuple[dt.date, dt.date, dt.date], dict[str, dict[str, tuple[int, Decimal]]]] = (
        defaultdict(lambda: defaultdict(dict))
    )
    for month, from_on, to_on, from_bucket, to_bucket, accounts, balance in await conn.execute(
        text(
            f"""SELECT month, from_on, to_on, from_bucket, to_bucket, SUM(accounts), SUM(balance)
                FROM dash_roll_monthly WHERE {months_in}
                GROUP BY month, from_on, to_on, from_bucket, to_bucket"""
        )
    ):
        month_d, from_d, to_d = _day(month), _day(from_on), _day(to_on)
        assert month_d is not None
        assert from_d is not None
        assert to_d is not None
        cells[(month_d, from_d, to_d)][from_bucket][to_bucket] = (int(accounts), _money(balance))
    months = [
        {
            "month": month,
            "from_on": from_on,
            "to_on": to_on,
            "rows": [
                {"from_bucket": bucket, **_shares(cells[(month, from_on, to_on)][bucket], order)}
                for bucket in buckets
                if bucket in cells[(month, from_on, to_on)]
            ],
        }
        for month, from_on, to_on in sorted(cells)
    ]
    # Per group, summed in SQL: roll (bucket i → i+1, i below the last) and cure (overdue → M0).
    labels = ", ".join(f"'{b}'" for b in buckets[:-1])
    rolled = " OR ".join(
        f"(from_bucket = '{a}' AND to_bucket = '{b}')" for a, b in itertools.pairwise(buckets)
    )
    overdue = f"from_bucket <> '{buckets[0]}'"
    cured = f"{overdue} AND to_bucket = '{buckets[0]}'"

    def both(condition: str) -> str:
        return (
            f"SUM(CASE WHEN {condition} THEN accounts ELSE 0 END), "
            f"SUM(CASE WHEN {condition} THEN balance ELSE 0 END)"
        )

    rates = []
    for month, key, accounts, *figures in await conn.execute(
        text(
            f"""SELECT month, {column}, SUM(accounts), {both(f"from_bucket IN ({labels})")},
                       {both(rolled)}, {both(overdue)}, {both(cured)}
                FROM dash_roll_monthly WHERE {months_in}
                {_group_by("month", column)}"""
        )
    ):
        n_in, b_in, n_rolled, b_rolled, n_overdue, b_overdue, n_cured, b_cured = (
            Decimal(str(v or 0)) for v in figures
        )
        rates.append(
            {
                "month": _day(month),
                "group": names.name(period.group, key),
                "accounts": int(accounts),
                "roll_rate": kpis.roll_rate(n_rolled, n_in),
                "roll_rate_balance": kpis.roll_rate(b_rolled, b_in),
                "cure_rate": kpis.cure_rate(n_cured, n_overdue),
                "cure_rate_balance": kpis.cure_rate(b_cured, b_overdue),
            }
        )
    rates.sort(key=lambda r: (r["month"], _order(r["group"])))
    return {"buckets": order, "months": months, "rates": rates}


async def backlog(conn: AsyncConnection, now: dt.datetime, lease_minutes: int) -> dict[str, Any]:
    """Per active queue: its accounts and those with a collector at the last close of business
    (the aggregates), and, live, the leases held now and how long the oldest and newest have
    been held (through the index of lease holders: a lease is rare beside the work list)."""
    as_of = _day((await conn.execute(text("SELECT MAX(as_of) FROM dash_portfolio_daily"))).scalar())
    rows: dict[int, dict[str, Any]] = {
        int(queue_id): {
            "queue": str(name),
            "accounts": 0,
            "assigned": 0,
            "leased": 0,
            "oldest_lease_seconds": None,
            "newest_lease_seconds": None,
        }
        for queue_id, name in await conn.execute(text("SELECT id, name FROM queues WHERE active"))
    }
    if as_of is not None:
        for queue_id, accounts, assigned in await conn.execute(
            text(
                f"""SELECT queue_id, SUM(accounts),
                           SUM(CASE WHEN collector_id IS NOT NULL THEN accounts ELSE 0 END)
                    FROM dash_portfolio_daily
                    WHERE as_of = {date_sql(conn, as_of)} AND queue_id IS NOT NULL
                    GROUP BY queue_id"""
            )
        ):
            if (row := rows.get(int(queue_id))) is not None:
                row["accounts"], row["assigned"] = int(accounts), int(assigned)
    for queue_id, leased, first, last in await conn.execute(
        text(
            f"""SELECT queue_id, count(*), MIN(lease_expires_at), MAX(lease_expires_at)
                FROM work_items
                WHERE lease_holder_id IS NOT NULL
                  AND lease_expires_at > {dialect.timestamp_sql(conn, ":now")}
                GROUP BY queue_id"""
        ),
        {"now": dialect.timestamp(conn, now)},
    ):
        if (row := rows.get(int(queue_id))) is not None:
            row["leased"] = int(leased)
            row["oldest_lease_seconds"] = _held(now, first, lease_minutes)
            row["newest_lease_seconds"] = _held(now, last, lease_minutes)
    return {"at": now, "as_of": as_of, "rows": sorted(rows.values(), key=lambda r: r["queue"])}


def _held(now: dt.datetime, expires: Any, lease_minutes: int) -> int:
    """Seconds since a lease was taken: it runs ``lease_minutes`` from then (renewed leases
    count from the last renewal)."""
    if not isinstance(expires, dt.datetime):
        expires = dt.datetime.fromisoformat(str(expires))
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=dt.UTC)
    taken = expires - dt.timedelta(minutes=lease_minutes)
    return max(0, int((now - taken).total_seconds()))


def group_names(rows: Iterable[dict[str, Any]]) -> list[str | None]:
    """The groups of a table, in its order, each once."""
    seen: dict[str | None, None] = {}
    for row in rows:
        seen.setdefault(row["group"], None)
    return list(seen)


def default_period(today: dt.date, group: Grouping = "all") -> Period:
    """What the dashboard shows when no range is asked for: this month and the two before it
    (three roll-rate months), to today."""
    start = month_start(
        month_start(month_start(today) - dt.timedelta(days=1)) - dt.timedelta(days=1)
    )
    return Period(start, today, group)


async def everything(
    conn: AsyncConnection,
    period: Period,
    buckets: Sequence[str],
    now: dt.datetime,
    lease_minutes: int,
    only: Collection[str] | None = None,
) -> dict[str, Any]:
    """Every table of the dashboard page (or ``only`` those named), each as its API endpoint
    gives it."""
    reads: dict[str, Callable[[], Awaitable[dict[str, Any]]]] = {
        "portfolio_bucket": lambda: portfolio(conn, period, "bucket", buckets),
        "portfolio_class": lambda: portfolio(conn, period, "risk_class", buckets),
        "recovery": lambda: recovery(conn, period),
        "rolls": lambda: rolls(conn, period, buckets),
        "promises": lambda: promises(conn, period),
        "contact": lambda: contact(conn, period),
        "backlog": lambda: backlog(conn, now, lease_minutes),
    }
    return {name: await read() for name, read in reads.items() if only is None or name in only}
