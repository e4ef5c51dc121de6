"""Post-loan inspections (贷后检查) as tasks: scheduled each night for the loans that need one, in
set-based SQL over the whole book; listed for their officers and whoever may see the account
(the caller's ``visible`` condition, as for every task); recorded with how they were done and
what they found, which closes the task — and a finding of risk brings the next one sooner
(docs/inspections.md; the rules: service.domain.inspections).

Each inspection is a ``tasks`` row of kind ``inspection`` (no treatment plan), owned by the
loan's officer (``loans.officer_id``; none: the account's queue and the supervisors work it).
A loan has one open inspection at a time, keyed ``inspection:LOAN:after:LAST`` — LAST being the
loan's last closed inspection — so running a night twice opens nothing twice, and recording one
lets the next night open the next.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

import structlog
from sqlalchemy import ColumnElement, Select, func, select, text, true, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from service import audit
from service.clock import utcnow
from service.db import dialect
from service.db.models import Borrower, Loan, Task, User
from service.domain.casework import TaskKind, TaskStatus
from service.domain.inspections import (
    InspectionFinding,
    InspectionKind,
    InspectionMethod,
    InspectionOutcome,
    InspectionPolicy,
    RiskSignal,
    ScheduleCalendar,
    outcome_of,
)
from service.domain.workdays import WorkingDays
from service.errors import Conflict, NotFound, ValidationFailed

log = structlog.get_logger(__name__)

INSPECTION = TaskKind.inspection.value
NOTES_LIMIT = 2000


# --- the nightly schedule ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class InspectionSchedule:
    """What a night did to the inspections: opened, brought forward by a risk signal, handed
    to the loan's new officer, cancelled because the loan is no longer open."""

    scheduled: int = 0
    sooner: int = 0
    reassigned: int = 0
    cancelled: int = 0

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


async def schedule_inspections(
    conn: AsyncConnection,
    as_of: dt.date,
    policy: InspectionPolicy | None = None,
    *,
    actor: str = "cob",
) -> InspectionSchedule:
    """Open the inspections the loans need as of ``as_of`` (close of business calls it, after
    positions: DPD is the night's), in the caller's transaction, every change audited.

    Set-based: a few statements over the whole book whatever its size. The working-day and
    month arithmetic is a table of dates for the window the book spans (one row a day, from
    the earliest disbursement), computed by the domain's rules and joined to.
    """
    policy = policy or InspectionPolicy()
    now = utcnow()
    params = {"now": dialect.timestamp(conn, now), "actor": actor}
    stamp = dialect.timestamp_sql(conn, ":now")
    cancelled = await _cancel_closed_loans(conn, params, stamp)
    day = dialect.date_sql(conn, as_of)
    window = (
        await conn.execute(
            text(
                "SELECT min(l.disbursed_on), (SELECT min(t.done_on) FROM tasks t "
                f"  WHERE t.kind = '{INSPECTION}' AND t.status = 'done' AND t.done_on <= {day}) "
                f"FROM loans l WHERE l.status = 'open' AND l.disbursed_on <= {day}"
            )
        )
    ).one()
    starts = [_as_date(value) for value in window if value is not None]
    if not starts:
        return InspectionSchedule(cancelled=cancelled)
    await _write_calendar(conn, ScheduleCalendar(min(starts), as_of, policy))
    await _loan_states(conn, as_of)
    scheduled = await _open_due(conn, as_of, policy, params, stamp)
    sooner = await _bring_forward(conn, as_of, params, stamp)
    reassigned = await _follow_officer(conn, params, stamp)
    for table in ("inspection_calendar", "inspection_loans", "inspection_due"):
        await dialect.drop_temp_table(conn, table)
    report = InspectionSchedule(scheduled, sooner, reassigned, cancelled)
    log.info("inspection.schedule", as_of=as_of.isoformat(), **report.as_dict())
    return report


def _as_date(value: Any) -> dt.date:
    # SQLite answers an aggregate over a date column with its text.
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


async def _write_calendar(conn: AsyncConnection, calendar: ScheduleCalendar) -> None:
    columns = (
        ("day", "date"),
        ("first_due", "date"),
        ("exempt_until", "date"),
        ("periodic_due", "date"),
        ("risk_due", "date"),
    )
    await dialect.create_temp_table(conn, "inspection_calendar", columns, primary_key=("day",))
    rows = [(d.day, d.first_due, d.exempt_until, d.periodic_due, d.risk_due) for d in calendar]
    await dialect.bulk_insert(conn, "inspection_calendar", columns, rows)
    await dialect.analyze(conn, "inspection_calendar")


async def _loan_states(conn: AsyncConnection, as_of: dt.date) -> None:
    """One row per open, disbursed, non-exempt loan: its last inspection, its open one, and
    which risk signals stand (each a hash join over a pre-aggregated set, not a probe a loan)."""
    day = dialect.date_sql(conn, as_of)
    await dialect.create_temp_table_as(
        conn,
        "inspection_loans",
        f"""
        SELECT l.id AS loan_id, l.loan_ref AS loan_ref, l.officer_id AS officer_id,
               l.disbursed_on AS disbursed_on, h.last_on AS last_on,
               h.last_closed AS last_closed, o.id AS open_task, o.due_on AS open_due,
               o.owner_id AS open_owner,
               CASE WHEN l.days_past_due >= 1 THEN 1 ELSE 0 END AS overdue,
               CASE WHEN hl.loan_id IS NOT NULL OR hb.borrower_id IS NOT NULL
                    THEN 1 ELSE 0 END AS held,
               CASE WHEN bp.last_broken > h.last_on THEN 1 ELSE 0 END AS broken,
               CASE WHEN h.last_risk_on = h.last_on THEN 1 ELSE 0 END AS finding
        FROM loans l
        JOIN inspection_calendar c ON c.day = l.disbursed_on
        LEFT JOIN (
            SELECT loan_id,
                   max(CASE WHEN status = 'done' AND done_on <= {day} THEN done_on END)
                     AS last_on,
                   max(CASE WHEN status = 'done' AND done_on <= {day}
                            AND outcome = '{InspectionOutcome.risk_found}' THEN done_on END)
                     AS last_risk_on,
                   max(CASE WHEN status <> 'open' THEN id END) AS last_closed
            FROM tasks WHERE kind = '{INSPECTION}' GROUP BY loan_id
        ) h ON h.loan_id = l.id
        LEFT JOIN tasks o
          ON o.loan_id = l.id AND o.kind = '{INSPECTION}' AND o.status = 'open'
        LEFT JOIN (
            SELECT DISTINCT loan_id FROM holds
            WHERE loan_id IS NOT NULL AND started_on <= {day}
              AND (ends_on IS NULL OR ends_on >= {day})
        ) hl ON hl.loan_id = l.id
        LEFT JOIN (
            SELECT DISTINCT borrower_id FROM holds
            WHERE loan_id IS NULL AND started_on <= {day}
              AND (ends_on IS NULL OR ends_on >= {day})
        ) hb ON hb.borrower_id = l.borrower_id
        LEFT JOIN (
            SELECT loan_id, max(promised_on) AS last_broken FROM promises
            WHERE status = 'broken' AND promised_on <= {day} GROUP BY loan_id
        ) bp ON bp.loan_id = l.id
        WHERE l.status = 'open' AND l.disbursed_on <= {day} AND l.maturity_on > c.exempt_until
        """,
    )
    await dialect.index_for_nested_loops(conn, "inspection_loans", ("loan_id",), unique=True)
    await dialect.analyze(conn, "inspection_loans")


# The risk signals standing for a row of inspection_loans, as text ("overdue hold"), and
# whether there is any: only a loan inspected before has them (a first inspection is sooner).
_SIGNALS = " || ".join(
    f"CASE WHEN s.{column} = 1 THEN '{signal} ' ELSE '' END"
    for column, signal in (
        ("overdue", RiskSignal.overdue),
        ("broken", RiskSignal.broken_promise),
        ("held", RiskSignal.hold),
        ("finding", RiskSignal.risk_finding),
    )
)
_RISKY = "(s.overdue + s.broken + s.held + s.finding) > 0"


async def _open_due(
    conn: AsyncConnection,
    as_of: dt.date,
    policy: InspectionPolicy,
    params: dict[str, Any],
    stamp: str,
) -> int:
    """Open an inspection for each loan without one whose next falls due within the lead."""
    day = dialect.date_sql(conn, as_of)
    horizon = dialect.date_sql(conn, as_of + dt.timedelta(days=policy.lead_days))
    risk_due = f"CASE WHEN lc.risk_due < {day} THEN {day} ELSE lc.risk_due END"
    await dialect.create_temp_table_as(
        conn,
        "inspection_due",
        f"""
        SELECT q.* FROM (
            SELECT s.loan_id AS loan_id, s.loan_ref AS loan_ref, s.officer_id AS owner_id,
                   'inspection:' || CAST(s.loan_id AS VARCHAR(20)) || ':after:'
                     || CAST(COALESCE(s.last_closed, 0) AS VARCHAR(20)) AS idempotency_key,
                   CASE WHEN s.last_on IS NULL THEN '{InspectionKind.first}'
                        WHEN {_RISKY} THEN '{InspectionKind.risk}'
                        ELSE '{InspectionKind.periodic}' END AS kind,
                   CASE WHEN s.last_on IS NULL THEN dc.first_due
                        WHEN {_RISKY} THEN {risk_due}
                        ELSE lc.periodic_due END AS due_on,
                   CASE WHEN s.last_on IS NULL THEN '' ELSE TRIM({_SIGNALS}) END AS signals
            FROM inspection_loans s
            JOIN inspection_calendar dc ON dc.day = s.disbursed_on
            LEFT JOIN inspection_calendar lc ON lc.day = s.last_on
            WHERE s.open_task IS NULL
        ) q
        WHERE q.due_on <= {horizon}
          AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.idempotency_key = q.idempotency_key)
        """,
    )
    details = dialect.json_object_sql(conn, {"inspection": "d.kind", "signals": "d.signals"})
    inserted = await conn.execute(
        text(
            "INSERT INTO tasks (idempotency_key, loan_id, plan_id, kind, status, due_on, result, "
            "created_at, owner_id, notes, details) "
            f"SELECT d.idempotency_key, d.loan_id, NULL, '{INSPECTION}', "
            f"'{TaskStatus.open}', d.due_on, '', {stamp}, d.owner_id, '', {details} "
            "FROM inspection_due d"
        ),
        params,
    )
    after = dialect.json_object_sql(
        conn,
        {
            "status": f"'{TaskStatus.open}'",
            "inspection": "d.kind",
            "due_on": "d.due_on",
            "owner_id": "d.owner_id",
            "signals": "d.signals",
        },
    )
    await _audit(
        conn,
        "inspection.scheduled",
        dialect.json_object_sql(conn, {"task": "t.id", "before": "NULL", "after": after}),
        "FROM inspection_due d JOIN tasks t ON t.idempotency_key = d.idempotency_key",
        "d.loan_ref",
        params,
        stamp,
    )
    return int(inserted.rowcount)


async def _bring_forward(
    conn: AsyncConnection, as_of: dt.date, params: dict[str, Any], stamp: str
) -> int:
    """An open inspection not yet a risk one, of a loan with a risk signal standing now, falls
    due when the rule for a risk says if that is sooner (never later: a signal that passes
    leaves the earlier date)."""
    day = dialect.date_sql(conn, as_of)
    risk_due = f"CASE WHEN lc.risk_due < {day} THEN {day} ELSE lc.risk_due END"
    await dialect.create_temp_table_as(
        conn,
        "inspection_due",
        f"""
        SELECT q.* FROM (
            SELECT s.open_task AS task_id, s.loan_ref AS loan_ref, s.open_due AS old_due,
                   {risk_due} AS due_on, TRIM({_SIGNALS}) AS signals
            FROM inspection_loans s
            JOIN inspection_calendar lc ON lc.day = s.last_on
            WHERE s.open_task IS NOT NULL AND {_RISKY}
        ) q
        WHERE q.due_on < q.old_due
        """,
    )
    before = dialect.json_object_sql(
        conn, {"inspection": f"'{InspectionKind.periodic}'", "due_on": "d.old_due"}
    )
    after = dialect.json_object_sql(
        conn,
        {"inspection": f"'{InspectionKind.risk}'", "due_on": "d.due_on", "signals": "d.signals"},
    )
    await _audit(
        conn,
        "inspection.sooner",
        dialect.json_object_sql(conn, {"task": "d.task_id", "before": before, "after": after}),
        "FROM inspection_due d",
        "d.loan_ref",
        params,
        stamp,
    )
    details = dialect.json_object_sql(
        conn,
        {
            "inspection": f"'{InspectionKind.risk}'",
            "signals": "d.signals",
            "was_due_on": "d.old_due",
        },
    )
    moved = await conn.execute(
        text(
            # UPDATE … FROM (both databases): one join, not a lookup per row.
            f"UPDATE tasks SET due_on = d.due_on, details = {details} FROM inspection_due d "
            f"WHERE d.task_id = tasks.id AND tasks.status = '{TaskStatus.open}'"
        )
    )
    return int(moved.rowcount)


async def _follow_officer(conn: AsyncConnection, params: dict[str, Any], stamp: str) -> int:
    """An open inspection goes to the loan's officer when the lender names another."""
    changed = (
        "s.open_task IS NOT NULL AND s.officer_id IS NOT NULL "
        "AND (s.open_owner IS NULL OR s.open_owner <> s.officer_id)"
    )
    where = f"FROM inspection_loans s WHERE {changed}"
    await _audit(
        conn,
        "inspection.reassigned",
        dialect.json_object_sql(
            conn,
            {
                "task": "s.open_task",
                "before": dialect.json_object_sql(conn, {"owner_id": "s.open_owner"}),
                "after": dialect.json_object_sql(conn, {"owner_id": "s.officer_id"}),
            },
        ),
        where,
        "s.loan_ref",
        params,
        stamp,
    )
    moved = await conn.execute(
        text(
            "UPDATE tasks SET owner_id = s.officer_id FROM inspection_loans s "
            f"WHERE s.open_task = tasks.id AND tasks.status = '{TaskStatus.open}' AND {changed}"
        )
    )
    return int(moved.rowcount)


async def _cancel_closed_loans(conn: AsyncConnection, params: dict[str, Any], stamp: str) -> int:
    """Post-loan management ends when the loan is repaid ("从贷款发放之日起到贷款收回之时止"):
    an open inspection of a loan no longer open is cancelled."""
    where = (
        f"FROM tasks t JOIN loans l ON l.id = t.loan_id WHERE t.kind = '{INSPECTION}' "
        f"AND t.status = '{TaskStatus.open}' AND l.status <> 'open'"
    )
    await _audit(
        conn,
        "inspection.cancelled",
        dialect.json_object_sql(
            conn,
            {
                "task": "t.id",
                "reason": "'loan_closed'",
                "before": dialect.json_object_sql(conn, {"status": f"'{TaskStatus.open}'"}),
                "after": dialect.json_object_sql(conn, {"status": f"'{TaskStatus.cancelled}'"}),
            },
        ),
        where,
        "l.loan_ref",
        params,
        stamp,
    )
    cancelled = await conn.execute(
        text(
            f"UPDATE tasks SET status = '{TaskStatus.cancelled}', closed_at = {stamp}, "
            "closed_by = :actor, result = 'loan closed' "
            f"WHERE id IN (SELECT t.id {where})"
        ),
        params,
    )
    return int(cancelled.rowcount)


async def _audit(
    conn: AsyncConnection,
    action: str,
    details: str,
    source: str,
    loan_ref: str,
    params: dict[str, Any],
    stamp: str,
) -> None:
    """One audit event per row of ``source`` (the set-based form of service.audit.record)."""
    await conn.execute(
        text(
            "INSERT INTO audit_log (occurred_at, actor, action, entity_type, entity_ref, details) "
            f"SELECT {stamp}, :actor, '{action}', 'loan', {loan_ref}, {details} {source}"
        ),
        params,
    )


# --- reading and recording -----------------------------------------------------------------------


_Officer = aliased(User)


def _inspections(query: Select[Any], visible: ColumnElement[bool]) -> Select[Any]:
    return (
        query.select_from(Task)
        .join(Loan, Loan.id == Task.loan_id)
        .join(Borrower, Borrower.id == Loan.borrower_id)
        .outerjoin(_Officer, _Officer.id == Task.owner_id)
        .where(Task.kind == INSPECTION, visible)
    )


def _filtered(
    query: Select[Any],
    *,
    owner_id: int | None,
    open_only: bool,
    due_by: dt.date | None,
    loan_ref: str | None,
    task_id: int | None = None,
) -> Select[Any]:
    if task_id is not None:
        query = query.where(Task.id == task_id)
    if owner_id is not None:
        query = query.where(Task.owner_id == owner_id)
    if open_only:
        query = query.where(Task.status == TaskStatus.open)
    if due_by is not None:
        query = query.where(Task.due_on <= due_by)
    if loan_ref is not None:
        query = query.where(Loan.loan_ref == loan_ref)
    return query


async def list_inspections(
    conn: AsyncConnection,
    visible: ColumnElement[bool],
    *,
    owner_id: int | None = None,
    open_only: bool = True,
    due_by: dt.date | None = None,
    loan_ref: str | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Inspections ``visible`` selects (``owner_id``: only that officer's), in due order."""
    query = _filtered(
        _inspections(select(*_COLUMNS), visible),
        owner_id=owner_id,
        open_only=open_only,
        due_by=due_by,
        loan_ref=loan_ref,
    )
    rows = await conn.execute(query.order_by(Task.due_on, Task.id).limit(limit).offset(offset))
    return [_inspection(row._mapping) for row in rows]


async def count_inspections(
    conn: AsyncConnection,
    visible: ColumnElement[bool],
    *,
    owner_id: int | None = None,
    open_only: bool = True,
    due_by: dt.date | None = None,
    loan_ref: str | None = None,
) -> int:
    query = _filtered(
        _inspections(select(func.count(Task.id)), visible),
        owner_id=owner_id,
        open_only=open_only,
        due_by=due_by,
        loan_ref=loan_ref,
    )
    return int(await conn.scalar(query) or 0)


_COLUMNS = (
    Task.id,
    Task.status,
    Task.due_on,
    Task.outcome,
    Task.notes,
    Task.details,
    Task.done_on,
    Task.closed_by,
    Task.owner_id,
    _Officer.username.label("owner"),
    Loan.loan_ref,
    Loan.product,
    Loan.disbursed_on,
    Loan.maturity_on,
    Loan.outstanding,
    Loan.days_past_due,
)


def _inspection(row: Any) -> dict[str, Any]:
    details = dict(row["details"] or {})
    return {
        "id": row["id"],
        "loan_ref": row["loan_ref"],
        "kind": InspectionKind(details.get("inspection", InspectionKind.periodic)),
        "status": TaskStatus(row["status"]),
        "due_on": row["due_on"],
        "owner": row["owner"],
        "signals": [RiskSignal(s) for s in str(details.get("signals") or "").split()],
        "outcome": InspectionOutcome(row["outcome"]) if row["outcome"] else None,
        "method": InspectionMethod(details["method"]) if details.get("method") else None,
        "findings": [InspectionFinding(f) for f in details.get("findings", [])],
        "notes": row["notes"],
        "inspected_on": row["done_on"],
        "recorded_late": bool(details.get("recorded_late", False)),
        "recorded_by": row["closed_by"],
        "product": row["product"],
        "disbursed_on": row["disbursed_on"],
        "maturity_on": row["maturity_on"],
        "outstanding": row["outstanding"],
        "days_past_due": row["days_past_due"],
    }


async def record_inspection(
    conn: AsyncConnection,
    task_id: int,
    *,
    method: str,
    findings: Sequence[str],
    notes: str,
    inspected_on: dt.date | None,
    today: dt.date,
    actor: str,
    visible: ColumnElement[bool],
    actor_id: int | None = None,
    policy: InspectionPolicy | None = None,
) -> dict[str, Any]:
    """Record how an inspection was done and what it found, closing its task (once).

    ``inspected_on`` (default ``today``, the lender's) is when it was done: not in the future,
    not before the loan was disbursed. A finding of risk is audited on its own and makes the
    loan's next inspection a risk one (monthly). The next is opened by the next night.
    """
    policy = policy or InspectionPolicy()
    problems = []
    if method not in set(InspectionMethod):
        problems.append(
            {"field": "method", "reason": f"one of {', '.join(InspectionMethod)}, not {method!r}"}
        )
    unknown = [f for f in findings if f not in set(InspectionFinding)]
    if unknown:
        problems.append(
            {
                "field": "findings",
                "reason": f"unknown findings {unknown}; each is one of "
                + ", ".join(InspectionFinding),
            }
        )
    if len(notes) > NOTES_LIMIT:
        problems.append({"field": "notes", "reason": f"longer than {NOTES_LIMIT} characters"})
    day = inspected_on or today
    if day > today:
        problems.append({"field": "inspected_on", "reason": f"{day} is after today ({today})"})
    if problems:
        raise ValidationFailed(f"{len(problems)} invalid field(s)", details=problems)
    found = [InspectionFinding(f) for f in dict.fromkeys(findings)]  # each once, in order
    row = (
        await conn.execute(
            _inspections(
                select(
                    Task.id,
                    Task.status,
                    Task.due_on,
                    Task.details,
                    Task.owner_id,
                    Loan.loan_ref,
                    Loan.disbursed_on,
                ),
                visible,
            ).where(Task.id == task_id)
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"inspection {task_id} not found")
    if row.status != TaskStatus.open:
        raise Conflict(f"inspection {task_id} is already {row.status}")
    if day < row.disbursed_on:
        raise ValidationFailed(
            f"the loan was disbursed on {row.disbursed_on}, after {day}",
            details=[{"field": "inspected_on", "reason": "before the disbursement"}],
        )
    outcome = outcome_of(found)
    # The form is due within 2 working days of the inspection (首次跟踪检查表).
    deadline = WorkingDays(range(day.year, today.year + 1)).add(
        day, policy.record_within_working_days
    )
    kept = dict(row.details or {})
    details = {
        **kept,
        "method": InspectionMethod(method).value,
        "findings": [f.value for f in found],
        "recorded_late": today > deadline,
    }
    summary = f"{InspectionMethod(method).value}: {outcome.value}"
    if found:
        summary += f" ({', '.join(found)})"
    closed = await conn.execute(
        update(Task)
        .where(Task.id == task_id, Task.status == TaskStatus.open)
        .values(
            status=TaskStatus.done,
            outcome=outcome.value,
            notes=notes,
            details=details,
            done_on=day,
            result=summary,
            closed_at=utcnow(),
            closed_by=actor,
        )
    )
    if closed.rowcount != 1:  # recorded by someone else since it was read
        raise Conflict(f"inspection {task_id} was recorded meanwhile")
    kind = kept.get("inspection", InspectionKind.periodic)
    await audit.record(
        conn,
        actor=actor,
        actor_id=actor_id,
        action="inspection.recorded",
        entity_type="loan",
        entity_ref=row.loan_ref,
        details={
            "task": task_id,
            "before": {"status": TaskStatus.open.value, "inspection": kind},
            "after": {
                "status": TaskStatus.done.value,
                "outcome": outcome.value,
                "method": details["method"],
                "findings": details["findings"],
                "inspected_on": day.isoformat(),
                "recorded_late": details["recorded_late"],
            },
        },
    )
    if outcome is InspectionOutcome.risk_found:
        # 发现风险信号及时预警: the finding stands on the account's timeline by itself.
        await audit.record(
            conn,
            actor=actor,
            actor_id=actor_id,
            action="inspection.risk_found",
            entity_type="loan",
            entity_ref=row.loan_ref,
            details={"task": task_id, "findings": details["findings"]},
        )
    return await get_inspection(conn, task_id, true())


async def get_inspection(
    conn: AsyncConnection, task_id: int, visible: ColumnElement[bool]
) -> dict[str, Any]:
    """One inspection ``visible`` selects (NotFound otherwise)."""
    query = _filtered(
        _inspections(select(*_COLUMNS), visible),
        owner_id=None,
        open_only=False,
        due_by=None,
        loan_ref=None,
        task_id=task_id,
    )
    row = (await conn.execute(query)).one_or_none()
    if row is None:
        raise NotFound(f"inspection {task_id} not found")
    return _inspection(row._mapping)
