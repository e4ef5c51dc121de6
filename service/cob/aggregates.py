"""The dashboard's aggregates, written by the close of business after the night's snapshots
(docs/dashboard.md): the portfolio by bucket, class and owner; the contact activity, promises
made and money collected since the previous close; the promises that fell due, by outcome; and
the month's roll-rate matrix from the previous month's closing snapshot. Each is replaced for
its date on a re-run, so a night run twice, or rebuilt (``arrears dashboard rebuild``), gives
the same rows.

Set-based SQL over both databases; the contact log and the promises are read as tables (this
layer sits below the contact package, which writes them).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from service.db import dialect
from service.db.dialect import date_sql

# A promise can settle after its date (grace days, a payment recorded late): each night
# re-counts the promises that fell due this many days back.
PROMISE_LOOKBACK_DAYS = 62
# Dispositions of a conversation that did not reach the debtor (DESIGN.md §1, disposition).
NOT_RIGHT_PARTY = ("wrong_party", "third_party", "wrong_number")
OWNER = "queue_id, collector_id, strategy_arm"


@dataclasses.dataclass(frozen=True, slots=True)
class Refreshed:
    """What one date's refresh wrote."""

    as_of: dt.date
    portfolio_rows: int
    activity_rows: int
    promise_rows: int
    roll_rows: int


async def _rows(conn: AsyncConnection, statement: str, **params: Any) -> int:
    result = await conn.execute(text(statement), params)
    return int(result.rowcount or 0)


async def _scalar(conn: AsyncConnection, statement: str, **params: Any) -> Any:
    return (await conn.execute(text(statement), params)).scalar()


def _day(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def next_month(day: dt.date) -> dt.date:
    first = month_start(day)
    return (first + dt.timedelta(days=32)).replace(day=1)


async def has_snapshot(conn: AsyncConnection, as_of: dt.date) -> bool:
    day = date_sql(conn, as_of)
    found = await _scalar(conn, f"SELECT 1 FROM loan_snapshots WHERE as_of = {day} LIMIT 1")
    return found is not None


async def refresh_day(conn: AsyncConnection, as_of: dt.date, lender_zone: str) -> Refreshed:
    """Replace ``as_of``'s aggregates from its snapshots (written first by the night) and the
    tables of record. A date without snapshots (pruned) keeps the rows it has."""
    if not await has_snapshot(conn, as_of):
        return Refreshed(as_of, 0, 0, 0, 0)
    return Refreshed(
        as_of,
        await _portfolio(conn, as_of),
        await _activity(conn, as_of, lender_zone),
        await _promises(conn, as_of),
        await _rolls(conn, as_of),
    )


async def _portfolio(conn: AsyncConnection, as_of: dt.date) -> int:
    day = date_sql(conn, as_of)
    await _rows(conn, f"DELETE FROM dash_portfolio_daily WHERE as_of = {day}")
    return await _rows(
        conn,
        f"""INSERT INTO dash_portfolio_daily (as_of, bucket, risk_class, {OWNER}, accounts,
                outstanding, overdue_amount)
            SELECT as_of, bucket, risk_class, {OWNER}, count(*), SUM(outstanding),
                   SUM(overdue_amount)
            FROM loan_snapshots WHERE as_of = {day}
            GROUP BY as_of, bucket, risk_class, {OWNER}""",
    )


async def _activity(conn: AsyncConnection, as_of: dt.date, lender_zone: str) -> int:
    """Since the previous close (or ``as_of`` alone, the first night): outbound calls,
    conversations and right-party contacts (the attempts as they stand, not superseded
    revisions), promises made (not mere proposals) and payments by overdue accounts."""
    day = date_sql(conn, as_of)
    previous = _day(
        await _scalar(conn, f"SELECT MAX(as_of) FROM loan_snapshots WHERE as_of < {day}")
    )
    first = previous + dt.timedelta(days=1) if previous is not None else as_of
    zone = ZoneInfo(lender_zone)
    since = dt.datetime.combine(first, dt.time(), zone).astimezone(dt.UTC)
    until = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(), zone).astimezone(dt.UTC)
    start = date_sql(conn, first)
    # Money collected is what accounts overdue at the previous close paid (an instalment paid
    # on time by a current account is not a recovery); the first night, those overdue tonight.
    before = date_sql(conn, previous if previous is not None else as_of)
    zero = dialect.money_zero_sql(conn)
    not_rpc = ", ".join(f"'{code}'" for code in NOT_RIGHT_PARTY)
    await _rows(conn, f"DELETE FROM dash_activity_daily WHERE day = {day}")
    return await _rows(
        conn,
        f"""INSERT INTO dash_activity_daily (day, {OWNER}, attempts, connected, right_party,
                promises_made, promised_amount, collected)
            SELECT {day}, s.queue_id, s.collector_id, s.strategy_arm, SUM(f.attempts),
                   SUM(f.connected), SUM(f.right_party), SUM(f.promises), SUM(f.promised),
                   SUM(f.collected)
            FROM (
              SELECT a.loan_id, 1 AS attempts,
                     CASE WHEN a.result = 'conversation' THEN 1 ELSE 0 END AS connected,
                     CASE WHEN a.result = 'conversation' AND a.contact_id IS NULL
                               AND COALESCE(a.disposition, '') NOT IN ({not_rpc})
                          THEN 1 ELSE 0 END AS right_party,
                     0 AS promises, {zero} AS promised, {zero} AS collected
              FROM attempts a
              WHERE a.channel = 'call' AND a.direction = 'outbound'
                AND a.occurred_at >= {dialect.timestamp_sql(conn, ":since")}
                AND a.occurred_at < {dialect.timestamp_sql(conn, ":until")}
                AND NOT EXISTS (SELECT 1 FROM attempts n WHERE n.supersedes_id = a.id)
              UNION ALL
              SELECT loan_id, 0, 0, 0, 1, amount, {zero} FROM promises
              WHERE made_on >= {start} AND made_on <= {day} AND status <> 'proposed'
              UNION ALL
              SELECT loan_id, 0, 0, 0, 0, {zero}, amount FROM payments
              WHERE paid_on >= {start} AND paid_on <= {day}
                AND EXISTS (SELECT 1 FROM loan_snapshots b WHERE b.loan_id = payments.loan_id
                            AND b.as_of = {before} AND b.overdue_amount > 0)
            ) f
            LEFT JOIN loan_snapshots s ON s.loan_id = f.loan_id AND s.as_of = {day}
            GROUP BY s.queue_id, s.collector_id, s.strategy_arm""",
        since=dialect.timestamp(conn, since),
        until=dialect.timestamp(conn, until),
    )


async def _promises(conn: AsyncConnection, as_of: dt.date) -> int:
    """The promises due in the look-back window, re-counted by outcome (a promise still
    pending counts as due, not yet as settled), each under its account's owner tonight."""
    day = date_sql(conn, as_of)
    start = date_sql(conn, as_of - dt.timedelta(days=PROMISE_LOOKBACK_DAYS))
    settled = "p.status IN ('kept', 'partially_kept', 'broken')"
    await _rows(conn, f"DELETE FROM dash_promise_daily WHERE day >= {start} AND day <= {day}")
    return await _rows(
        conn,
        f"""INSERT INTO dash_promise_daily (day, {OWNER}, promises_due, due_amount,
                promises_kept, promises_partial, promises_broken, settled_amount, kept_amount)
            SELECT p.promised_on, s.queue_id, s.collector_id, s.strategy_arm, count(*),
                   SUM(p.amount),
                   SUM(CASE WHEN p.status = 'kept' THEN 1 ELSE 0 END),
                   SUM(CASE WHEN p.status = 'partially_kept' THEN 1 ELSE 0 END),
                   SUM(CASE WHEN p.status = 'broken' THEN 1 ELSE 0 END),
                   SUM(CASE WHEN {settled} THEN p.amount ELSE 0 END),
                   SUM(CASE WHEN {settled} THEN
                         CASE WHEN p.paid_amount < p.amount THEN p.paid_amount ELSE p.amount END
                       ELSE 0 END)
            FROM promises p
            LEFT JOIN loan_snapshots s ON s.loan_id = p.loan_id AND s.as_of = {day}
            WHERE p.promised_on >= {start} AND p.promised_on <= {day}
              AND p.status NOT IN ('proposed', 'cancelled')
            GROUP BY p.promised_on, s.queue_id, s.collector_id, s.strategy_arm""",
    )


async def _rolls(conn: AsyncConnection, as_of: dt.date) -> int:
    """The month's matrix: from the previous month's closing (latest) snapshot to ``as_of``,
    when ``as_of`` is its month's latest snapshot so far. A loan closed in between rolls to
    ``closed``; the balance is its outstanding at the start."""
    first, after = month_start(as_of), next_month(as_of)
    latest = _day(
        await _scalar(
            conn,
            f"""SELECT MAX(as_of) FROM loan_snapshots
                WHERE as_of >= {date_sql(conn, first)} AND as_of < {date_sql(conn, after)}""",
        )
    )
    if latest != as_of:
        return 0  # a back-filled day: the month's later snapshot made the matrix
    await _rows(conn, f"DELETE FROM dash_roll_monthly WHERE month = {date_sql(conn, first)}")
    previous = _day(
        await _scalar(
            conn, f"SELECT MAX(as_of) FROM loan_snapshots WHERE as_of < {date_sql(conn, first)}"
        )
    )
    if previous is None:
        return 0
    day, start = date_sql(conn, as_of), date_sql(conn, previous)
    return await _rows(
        conn,
        f"""INSERT INTO dash_roll_monthly (month, from_on, to_on, from_bucket, to_bucket,
                {OWNER}, accounts, balance)
            SELECT {date_sql(conn, first)}, {start}, {day}, p.bucket,
                   COALESCE(c.bucket, 'closed'), p.queue_id, p.collector_id, p.strategy_arm,
                   count(*), SUM(p.outstanding)
            FROM loan_snapshots p
            LEFT JOIN loan_snapshots c ON c.loan_id = p.loan_id AND c.as_of = {day}
            WHERE p.as_of = {start}
            GROUP BY p.bucket, COALESCE(c.bucket, 'closed'), p.queue_id, p.collector_id,
                     p.strategy_arm""",
    )


async def snapshot_days(
    conn: AsyncConnection, start: dt.date | None, end: dt.date | None
) -> list[dt.date]:
    """The dates close of business ran for, oldest first, within the bounds given."""
    where = []
    if start is not None:
        where.append(f"as_of >= {date_sql(conn, start)}")
    if end is not None:
        where.append(f"as_of <= {date_sql(conn, end)}")
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    rows = await conn.execute(text(f"SELECT DISTINCT as_of FROM cob_runs {clause} ORDER BY as_of"))
    return [day for (value,) in rows if (day := _day(value)) is not None]
