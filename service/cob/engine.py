"""Close of business, the engine: every open loan's position on a date, set-based, on both
databases.

The figures are those of :func:`service.domain.delinquency.loan_position`; a property test
compares the two loan by loan. How (see docs/delinquency.md): settlement is replayed from the
schedule and the payments in *steps*, all loans at once per step — step *k* accrues each loan's
penalty up to its *k*-th payment date and applies that day's payments through the waterfall —
then a last accrual brings every loan to the as-of date, and one statement derives DPD, bucket,
tier and class. The night's sequence around these steps is :mod:`service.cob.nightly`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from service.clock import utcnow
from service.db import dialect
from service.db.dialect import date_sql, days_sql, drop_temp_table
from service.domain.compliance import HoldKind
from service.domain.delinquency import (
    FLAG_FLOORS,
    BucketScheme,
    ClassificationProfile,
    CobConfig,
    Component,
    RiskClass,
    TierScheme,
)

# Holds that floor the classification as the flags of the same name do.
HOLD_FLOORS = tuple(kind.value for kind in HoldKind if kind.value in FLAG_FLOORS)
# The temporary tables of a run, dropped when a payment's refresh is done with them.
WORK_TABLES = ("cob_scope", "cob_loans", "cob_events", "cob_cursor", "cob_positions", "cob_inst")


@dataclasses.dataclass(frozen=True, slots=True)
class Settlement:
    """What positioning a date did: loans positioned, payment steps replayed, loans resumed."""

    loans: int
    steps: int
    resumed: int  # continued from their stored settlement rather than replayed


def fingerprint(config: CobConfig) -> str:
    """What a stored settlement was computed under; a change of rules forces a replay."""
    return repr(config)


def _resumed(column: str, zero: str, flag: str = "c.resume") -> str:
    return f"CASE WHEN {flag} = 1 THEN {column} ELSE {zero} END"


def _later(a: str, b: str) -> str:
    return f"CASE WHEN {a} > {b} THEN {a} ELSE {b} END"


def _clamp(value: str, upper: str) -> str:
    return f"CASE WHEN {value} <= 0 THEN 0 WHEN {value} >= {upper} THEN {upper} ELSE {value} END"


def _flags(day: str) -> str:
    """The loan's flags and, as flags too, the holds in force on ``day`` that floor the class
    (a bankruptcy, a death: DESIGN.md §5), whether on the loan or on every loan of the borrower."""
    held = " ".join(
        f"""|| CASE WHEN EXISTS (
                 SELECT 1 FROM holds h
                 WHERE h.borrower_id = l.borrower_id AND (h.loan_id IS NULL OR h.loan_id = l.id)
                   AND h.code = '{kind}' AND h.started_on <= {day}
                   AND (h.ends_on IS NULL OR h.ends_on >= {day})) THEN ',{kind}' ELSE '' END"""
        for kind in HOLD_FLOORS
    )
    return f"(l.flags {held})"


def bucket_sql(scheme: BucketScheme, dpd: str) -> str:
    arms = " ".join(
        f"WHEN {dpd} <= {upper} THEN 'M{index}'" for index, upper in enumerate(scheme.upper)
    )
    return f"CASE {arms} ELSE '{scheme.labels[-1]}' END"


def tier_sql(scheme: TierScheme, amount: str) -> str:
    arms = " ".join(
        f"WHEN {amount} <= {upper} THEN '{label}'"
        for label, upper in zip(scheme.labels, scheme.upper, strict=False)
    )
    return f"CASE {arms} ELSE '{scheme.labels[-1]}' END"


def class_sql(profile: ClassificationProfile, dpd: str, flags: str) -> str:
    """The class: the worse of the DPD class and the floors of the loan's flags."""
    classes = list(RiskClass)[1:]
    by_days = " ".join(
        f"WHEN {dpd} >= {edge} THEN {risk.value}"
        for risk, edge in reversed(list(zip(classes, profile.edges, strict=True)))
    )
    rank = f"CASE {by_days} ELSE 0 END"
    for flag, floor in FLAG_FLOORS.items():
        has = f"(',' || {flags} || ',') LIKE '%,{flag},%'"
        rank = f"CASE WHEN {has} AND {floor.value} > {rank} THEN {floor.value} ELSE {rank} END"
    names = " ".join(f"WHEN {risk.value} THEN '{risk.name}'" for risk in RiskClass)
    return f"CASE {rank} {names} END"


async def position_loans(conn: AsyncConnection, as_of: dt.date, config: CobConfig) -> Settlement:
    """Settle and position every open loan as of ``as_of``, in the caller's transaction.

    The positions stay in the temporary table ``cob_positions`` for :func:`snapshot`. A date
    earlier than the loans' own (a backfill) writes snapshots but leaves their current position,
    which belongs to the latest date run.
    """
    loans, steps = await _settle(conn, as_of, config)
    resumed = await conn.scalar(text("SELECT count(*) FROM cob_loans WHERE resume = 1"))
    await _derive_positions(conn, as_of, config)
    return Settlement(loans, steps, int(resumed or 0))


async def latest_close(conn: AsyncConnection) -> dt.date | None:
    """The latest date close of business has run for (None: never)."""
    latest = await conn.scalar(text("SELECT MAX(as_of) FROM cob_runs"))
    # SQLite hands a date column back as text in raw SQL.
    return dt.date.fromisoformat(str(latest)[:10]) if latest is not None else None


async def latest_position(conn: AsyncConnection) -> dt.date | None:
    """The latest date a loan is positioned as of (a payment or an import refreshes loans as of
    the lender's today, ahead of the latest close of business)."""
    latest = await conn.scalar(text("SELECT MAX(state_as_of) FROM loans"))
    return dt.date.fromisoformat(str(latest)[:10]) if latest is not None else None


async def record_run(
    conn: AsyncConnection, as_of: dt.date, loans: int, actor: str, config: CobConfig
) -> None:
    """The run itself, with the rules it ran under (a change of rules forces a full replay)."""
    await conn.execute(
        text(
            "INSERT INTO cob_runs (as_of, started_at, finished_at, loans, actor, config) "
            "VALUES (:as_of, :now, :now, :loans, :actor, :config)"
        ),
        {
            "as_of": as_of,
            "now": utcnow(),
            "loans": loans,
            "actor": actor,
            "config": fingerprint(config),
        },
    )


async def prune(conn: AsyncConnection, as_of: dt.date, retention_days: int) -> None:
    """Drop snapshots and bucket changes older than ``retention_days`` before ``as_of``, but
    for each month's closing (latest) snapshot: the roll-rate matrix is made of those."""
    cutoff = as_of - dt.timedelta(days=retention_days)
    horizon = date_sql(conn, cutoff)
    closing: dict[tuple[int, int], dt.date] = {}
    # Closing: the month's latest close of business, a later one in the month counting too.
    for (value,) in await _execute(conn, "SELECT DISTINCT as_of FROM cob_runs"):
        day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
        key = (day.year, day.month)
        closing[key] = max(day, closing.get(key, day))
    kept = ", ".join(date_sql(conn, day) for day in sorted(closing.values()) if day < cutoff)
    spared = f" AND as_of NOT IN ({kept})" if kept else ""
    await _execute(conn, f"DELETE FROM loan_snapshots WHERE as_of < {horizon}{spared}")
    await _execute(conn, f"DELETE FROM bucket_events WHERE as_of < {horizon}")


async def refresh_loans(
    conn: AsyncConnection, loan_ids: Sequence[int], as_of: dt.date, config: CobConfig | None = None
) -> int:
    """Recompute some loans' positions now (a payment arrived), in the caller's transaction.

    Same steps as the nightly COB, limited to these loans, without snapshots: the day's snapshot
    is the close of business's. A loan that is fully paid is closed.
    """
    if not loan_ids:
        return 0
    config = config or CobConfig()
    await dialect.write_now(conn)
    await dialect.create_temp_table(conn, "cob_scope", (("loan_id", "int"),))
    for start in range(0, len(loan_ids), 10_000):
        await conn.execute(
            text("INSERT INTO cob_scope (loan_id) VALUES (:id)"),
            [{"id": loan_id} for loan_id in loan_ids[start : start + 10_000]],
        )
    loans, _steps = await _settle(conn, as_of, config, scoped=True)
    await _derive_positions(conn, as_of, config)
    for name in WORK_TABLES:
        await drop_temp_table(conn, name)
    return loans


async def _execute(conn: AsyncConnection, statement: str, **params: Any) -> Any:
    return await conn.execute(text(statement), params)


async def _settle(
    conn: AsyncConnection, as_of: dt.date, config: CobConfig, scoped: bool = False
) -> tuple[int, int]:
    """Replay every open loan's payments through the waterfall, accruing penalty between them."""
    day = date_sql(conn, as_of)
    policy = config.penalty
    scope = "AND l.id IN (SELECT loan_id FROM cob_scope)" if scoped else ""
    # A loan resumes from its stored settlement when nothing it was computed from has changed
    # since (same rules, no payment or installment added or changed at or before its state
    # date, no change to the loan); otherwise it is replayed from its first payment.
    latest = await conn.scalar(text("SELECT config FROM cob_runs ORDER BY id DESC LIMIT 1"))
    same_rules = "1 = 1" if latest == fingerprint(config) else "1 = 0"
    await dialect.create_temp_table_as(
        conn,
        "cob_loans",
        f"""SELECT l.id AS loan_id,
                       penalty_rate(l.annual_rate, COALESCE(l.penalty_rate_daily,
                                    {policy.daily_rate}), {policy.annual_cap}) AS rate,
                       CASE WHEN l.state_as_of IS NULL OR l.state_as_of <= {day}
                            THEN 1 ELSE 0 END AS current_state,
                       CASE WHEN {same_rules} AND l.state_as_of <= {day}
                             AND l.updated_at <= l.state_computed_at
                             AND NOT EXISTS (
                               SELECT 1 FROM payments p
                               WHERE p.loan_id = l.id AND p.paid_on <= l.state_as_of
                                 AND (p.created_at > l.state_computed_at
                                      OR p.updated_at > l.state_computed_at))
                             AND NOT EXISTS (
                               SELECT 1 FROM installments i
                               WHERE i.loan_id = l.id AND i.updated_at > l.state_computed_at)
                            THEN 1 ELSE 0 END AS resume,
                       l.state_as_of AS since,
                       l.credit AS credit
                FROM loans l
                WHERE (l.status = 'open' OR l.closed_on >= {day})
                  AND l.disbursed_on <= {day} {scope}""",
    )
    # The replay works on a narrow copy without indexes (and, on PostgreSQL, without WAL):
    # many small UPDATEs there, then one write-back of the rows that changed.
    zero = dialect.money_zero_sql(conn)
    await dialect.create_temp_table_as(
        conn,
        "cob_inst",
        f"""SELECT i.id, i.loan_id, i.seq, i.due_on, i.principal_due, i.interest_due,
                       {_resumed("i.principal_paid", zero)} AS principal_paid,
                       {_resumed("i.interest_paid", zero)} AS interest_paid,
                       {_resumed("i.penalty_accrued", zero)} AS penalty_accrued,
                       {_resumed("i.penalty_paid", zero)} AS penalty_paid,
                       CASE WHEN c.resume = 1 THEN i.settled_on END AS settled_on
                FROM installments i JOIN cob_loans c ON c.loan_id = i.loan_id""",
    )
    await dialect.create_temp_table_as(
        conn,
        "cob_events",
        f"""SELECT p.loan_id, p.paid_on, SUM(p.amount) AS amount,
                       ROW_NUMBER() OVER (PARTITION BY p.loan_id ORDER BY p.paid_on) AS k
                FROM payments p JOIN cob_loans c ON c.loan_id = p.loan_id
                WHERE p.paid_on <= {day} AND (c.resume = 0 OR p.paid_on > c.since)
                GROUP BY p.loan_id, p.paid_on""",
    )
    await dialect.create_temp_table_as(
        conn,
        "cob_cursor",
        f"""SELECT loan_id, rate,
                       CASE WHEN resume = 1 THEN since END AS accrued_through,
                       {_resumed("credit", zero, "resume")} AS credit
                FROM cob_loans""",
    )
    await dialect.index_for_nested_loops(conn, "cob_events", ("k", "loan_id"))
    await dialect.index_for_nested_loops(conn, "cob_cursor", ("loan_id",), unique=True)
    await dialect.index_for_nested_loops(conn, "cob_inst", ("id",), unique=True)
    await dialect.index_for_nested_loops(conn, "cob_inst", ("loan_id", "seq"))
    for name in ("cob_events", "cob_cursor", "cob_inst"):
        await dialect.analyze(conn, name)
    loans = (await conn.execute(text("SELECT count(*) FROM cob_loans"))).scalar_one()
    steps = (await conn.execute(text("SELECT COALESCE(MAX(k), 0) FROM cob_events"))).scalar_one()
    for k in range(1, int(steps) + 1):
        await _accrue(conn, f"cob_events e ON e.loan_id = c.loan_id AND e.k = {k}", "e.paid_on")
        await _allocate(conn, k, config.waterfall)
        await _execute(
            conn,
            f"""UPDATE cob_cursor SET accrued_through = e.paid_on
                FROM cob_events e
                WHERE e.loan_id = cob_cursor.loan_id AND e.k = {k}""",
        )
    await _accrue(conn, None, day)
    # Credit: whatever was paid by the date and not taken by any installment.
    await _execute(
        conn,
        f"""UPDATE cob_cursor SET credit = ROUND(x.paid - x.allocated, 2)
            FROM (SELECT l.loan_id, COALESCE(p.paid, 0) AS paid, COALESCE(a.allocated, 0)
                           AS allocated
                  FROM cob_loans l
                  LEFT JOIN (SELECT pay.loan_id, SUM(pay.amount) AS paid
                             FROM payments pay JOIN cob_loans s ON s.loan_id = pay.loan_id
                             WHERE pay.paid_on <= {day} GROUP BY pay.loan_id) p
                    ON p.loan_id = l.loan_id
                  LEFT JOIN (SELECT loan_id,
                                    SUM(principal_paid + interest_paid + penalty_paid)
                                      AS allocated
                             FROM cob_inst GROUP BY loan_id) a ON a.loan_id = l.loan_id) x
            WHERE cob_cursor.loan_id = x.loan_id""",
    )
    # Settlement back onto the schedule, only where it changed (most rows, most nights, do not).
    columns = ("principal_paid", "interest_paid", "penalty_accrued", "penalty_paid", "settled_on")
    await _execute(
        conn,
        f"""UPDATE installments SET {", ".join(f"{c} = s.{c}" for c in columns)}
            FROM cob_inst s JOIN cob_loans c ON c.loan_id = s.loan_id
            WHERE installments.id = s.id AND c.current_state = 1
              AND ({" OR ".join(f"installments.{c} IS DISTINCT FROM s.{c}" for c in columns)})""",
    )
    return int(loans), int(steps)


async def _accrue(conn: AsyncConnection, join: str | None, until: str) -> None:
    """Add each overdue installment's daily penalty for the days up to ``until`` (inclusive)."""
    start = _later("COALESCE(c.accrued_through, i.due_on)", "i.due_on")
    events = f"JOIN {join}" if join else ""
    unpaid = "(i.principal_due - i.principal_paid + i.interest_due - i.interest_paid)"
    await _execute(
        conn,
        f"""UPDATE cob_inst SET penalty_accrued = ROUND(penalty_accrued + a.amount, 2)
            FROM (SELECT i.id,
                         daily_penalty(ROUND({unpaid}, 2), c.rate) * {days_sql(conn, until, start)}
                           AS amount
                  FROM cob_inst i
                  JOIN cob_cursor c ON c.loan_id = i.loan_id
                  {events}
                  WHERE ROUND({unpaid}, 2) > 0 AND {until} > {start} AND c.rate > 0) a
            WHERE cob_inst.id = a.id""",
    )


async def _allocate(conn: AsyncConnection, k: int, waterfall: Sequence[Component]) -> None:
    """Apply each loan's k-th payment day: oldest installment first, components in order."""
    remaining = {
        Component.penalty: "ROUND(i.penalty_accrued - i.penalty_paid, 2)",
        Component.interest: "ROUND(i.interest_due - i.interest_paid, 2)",
        Component.principal: "ROUND(i.principal_due - i.principal_paid, 2)",
    }
    total = " + ".join(remaining.values())
    pays: list[str] = []
    covered = "r.before"
    for component in waterfall:
        left = f"(r.amount - ({covered}))"
        pays.append(f"{_clamp(left, f'r.{component.value}')} AS pay_{component.value}")
        covered = f"{covered} + r.{component.value}"
    await _execute(
        conn,
        f"""UPDATE cob_inst
            SET penalty_paid = ROUND(penalty_paid + p.pay_penalty, 2),
                interest_paid = ROUND(interest_paid + p.pay_interest, 2),
                principal_paid = ROUND(principal_paid + p.pay_principal, 2),
                settled_on = CASE
                  WHEN settled_on IS NULL AND ROUND(p.interest + p.principal
                       - p.pay_interest - p.pay_principal, 2) = 0 THEN p.paid_on
                  ELSE settled_on END
            FROM (SELECT r.id, r.paid_on, r.interest, r.principal, {", ".join(pays)}
                  FROM (SELECT i.id, e.amount, e.paid_on,
                               {remaining[Component.penalty]} AS penalty,
                               {remaining[Component.interest]} AS interest,
                               {remaining[Component.principal]} AS principal,
                               COALESCE(SUM({total}) OVER (
                                 PARTITION BY i.loan_id ORDER BY i.seq
                                 ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before
                        FROM cob_inst i
                        JOIN cob_events e ON e.loan_id = i.loan_id AND e.k = {k}
                        -- Settled rows take nothing and add nothing to the running total.
                        WHERE {" OR ".join(f"{r} > 0" for r in remaining.values())}) r) p
            WHERE cob_inst.id = p.id
              AND (p.pay_penalty > 0 OR p.pay_interest > 0 OR p.pay_principal > 0)""",
    )


async def _derive_positions(conn: AsyncConnection, as_of: dt.date, config: CobConfig) -> None:
    """Positions of the settled loans into ``cob_positions``; loans take them if not older.

    A COB for an earlier date (a backfill) writes its snapshots but leaves the loans' current
    position, which belongs to the latest date run.
    """
    day = date_sql(conn, as_of)
    dpd = f"COALESCE({days_sql(conn, day, 'x.oldest_due')}, 0)"
    unpaid = "i.principal_due - i.principal_paid + i.interest_due - i.interest_paid"
    # Never NULL (a NULL would count as neither on time nor late).
    on_time = (
        f"(CASE WHEN i.settled_on IS NULL THEN ROUND({unpaid}, 2) = 0 "
        "ELSE i.settled_on <= i.due_on END)"
    )
    await dialect.create_temp_table_as(
        conn,
        "cob_positions",
        f"""SELECT x.*, {dpd} AS dpd,
                       {bucket_sql(config.buckets, dpd)} AS bucket,
                       {tier_sql(config.tiers, "x.principal_left")} AS tier,
                       {class_sql(config.classification, dpd, _flags(day))} AS risk,
                       CASE WHEN x.outstanding = 0 AND x.principal_left = 0
                            THEN 1 ELSE 0 END AS settled,
                       x.accrued_through AS last_paid
                FROM (SELECT c.loan_id, c.credit, c.accrued_through,
                        MIN(CASE WHEN i.due_on < {day} AND ROUND({unpaid}, 2) > 0
                              THEN i.due_on END) AS oldest_due,
                        ROUND(SUM(CASE WHEN i.due_on < {day} THEN {unpaid} ELSE 0 END), 2)
                          AS overdue,
                        ROUND(SUM(i.principal_due - i.principal_paid), 2) AS principal_left,
                        ROUND(SUM(i.principal_due - i.principal_paid
                              + CASE WHEN i.due_on < {day} THEN i.interest_due - i.interest_paid
                                ELSE 0 END
                              + i.penalty_accrued - i.penalty_paid), 2) AS outstanding,
                        ROUND(SUM(i.penalty_accrued), 2) AS penalty,
                        ROUND(SUM(i.penalty_accrued - i.penalty_paid), 2) AS penalty_unpaid,
                        SUM(CASE WHEN i.due_on < {day} AND {on_time} THEN 1 ELSE 0 END)
                          AS on_time,
                        SUM(CASE WHEN i.due_on < {day} AND NOT {on_time} THEN 1 ELSE 0 END)
                          AS late
                      FROM cob_cursor c JOIN cob_inst i ON i.loan_id = c.loan_id
                      GROUP BY c.loan_id, c.credit, c.accrued_through) x
                JOIN loans l ON l.id = x.loan_id""",
    )
    # Only loans whose position changed are written: a second run for a date changes nothing.
    position = {
        "state_as_of": day,
        "days_past_due": "p.dpd",
        "bucket": "p.bucket",
        "amount_tier": "p.tier",
        "risk_class": "p.risk",
        "overdue_amount": "p.overdue",
        "outstanding": "p.outstanding",
        "penalty_accrued": "p.penalty",
        "penalty_unpaid": "p.penalty_unpaid",
        "credit": "p.credit",
        "installments_on_time": "p.on_time",
        "installments_late": "p.late",
        # A written-off loan is positioned on its write-off day (its last on the books) and
        # stays written off, whatever that day's payments settle (service.casework.write_off).
        "status": "CASE WHEN loans.status = 'written_off' THEN loans.status "
        "WHEN p.settled = 1 THEN 'closed' ELSE 'open' END",
        "closed_on": "CASE WHEN loans.status = 'written_off' THEN loans.closed_on "
        f"WHEN p.settled = 1 THEN COALESCE(p.last_paid, {day}) END",
    }
    changed = " OR ".join(f"loans.{c} IS DISTINCT FROM {v}" for c, v in position.items())
    await _execute(
        conn,
        f"""UPDATE loans SET state_computed_at = :computed_at,
              {", ".join(f"{column} = {value}" for column, value in position.items())}
            FROM cob_positions p
            WHERE loans.id = p.loan_id
              AND (loans.state_as_of IS NULL OR loans.state_as_of <= {day})
              AND ({changed})""",
        computed_at=dialect.timestamp(conn, utcnow()),
    )
    # The borrower's credit coefficient, over all their loans, when this is their latest COB.
    steps = config.credit
    raw = f"(1 + {steps.up} * b.on_time - {steps.down} * b.late)"
    await _execute(
        conn,
        f"""UPDATE borrowers SET credit_coefficient = ROUND(CASE
                  WHEN {raw} < {steps.floor} THEN {steps.floor}
                  WHEN {raw} > {steps.ceiling} THEN {steps.ceiling}
                  ELSE {raw} END, 3)
            FROM (SELECT l.borrower_id, SUM(l.installments_on_time) AS on_time,
                         SUM(l.installments_late) AS late
                  FROM loans l
                  WHERE l.borrower_id IN (
                    SELECT l2.borrower_id FROM loans l2 JOIN cob_positions p ON p.loan_id = l2.id
                    WHERE l2.state_as_of = {day})
                  GROUP BY l.borrower_id) b
            WHERE borrowers.id = b.borrower_id""",
    )


async def snapshot(conn: AsyncConnection, as_of: dt.date) -> dict[str, int]:
    """Replace the date's snapshots and bucket changes (so a re-run changes nothing)."""
    day = date_sql(conn, as_of)
    await _execute(conn, f"DELETE FROM loan_snapshots WHERE as_of = {day}")
    await _execute(conn, f"DELETE FROM bucket_events WHERE as_of = {day}")
    await _execute(
        conn,
        f"""INSERT INTO loan_snapshots (as_of, loan_id, days_past_due, bucket, amount_tier,
                risk_class, overdue_amount, outstanding, penalty_accrued, queue_id, collector_id,
                strategy_arm)
            SELECT {day}, l.id, p.dpd, p.bucket, p.tier, p.risk, p.overdue, p.outstanding,
                   p.penalty, l.queue_id, l.collector_id, l.strategy_arm
            FROM cob_positions p JOIN loans l ON l.id = p.loan_id""",
    )
    await _execute(
        conn,
        # Against the previous close of business (the primary key's prefix finds its date).
        f"""INSERT INTO bucket_events (loan_id, as_of, from_bucket, to_bucket)
            SELECT cur.loan_id, {day}, prev.bucket, cur.bucket
            FROM loan_snapshots cur
            JOIN loan_snapshots prev ON prev.loan_id = cur.loan_id
             AND prev.as_of = (SELECT MAX(as_of) FROM loan_snapshots WHERE as_of < {day})
            WHERE cur.as_of = {day} AND prev.bucket <> cur.bucket""",
    )
    rows = (
        await conn.execute(
            text(f"SELECT bucket, count(*) FROM loan_snapshots WHERE as_of = {day} GROUP BY bucket")
        )
    ).all()
    return {str(bucket): int(count) for bucket, count in rows}
