"""The planner's side of the outbox and the task list: rows keyed for idempotency, written so
that planning a day again changes only what has not been sent, withdrawn when they no longer
apply, and expired when their day has passed."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from service.clock import utcnow
from service.db import dialect
from service.db.models import Loan, LoanStatus, OutboxMessage, OutboxStatus, Task
from service.domain.casework import TaskStatus
from service.domain.outbox import COLLECTOR_SMS_STEP
from service.treatment.plans import StoredPlan
from strategies.treatment import Step, TreatmentAccount

# Rows that planning may still change: nothing has left for them.
UNSENT = (OutboxStatus.pending, OutboxStatus.blocked, OutboxStatus.deferred, OutboxStatus.review)
CHUNK = 2000


def outbox_key(loan_id: int, step: Step, day: dt.date) -> str:
    return f"{loan_id}:{step.key}" if step.once else f"{loan_id}:{step.key}:{day.isoformat()}"


def task_row(
    account: TreatmentAccount, plan: StoredPlan, step: Step, day: dt.date, now: dt.datetime
) -> dict[str, Any]:
    """A task keyed by its kind: once per loan, or once per lost-contact episode (失联 again
    after being reached is a new episode); a repeating one (a field visit) by how many of the
    episode's were closed before it, so one is open at a time."""
    key = f"{account.loan_id}:{step.template}"
    if step.when.get("lost_contact") is True and account.lost_since is not None:
        key += f":{account.lost_since.isoformat()}"
    if not step.once:
        key += f":visit{account.closed_visits + 1}"
    return {
        "idempotency_key": key,
        "loan_id": account.loan_id,
        "plan_id": plan.id,
        "kind": step.template,
        "status": TaskStatus.open,
        "due_on": day,
        "result": "",
        "created_at": now,
    }


async def existing_states(
    conn: AsyncConnection, column: Any, status: Any, keys: Sequence[str]
) -> dict[str, str]:
    found: dict[str, str] = {}
    for start in range(0, len(keys), CHUNK):
        rows = await conn.execute(
            select(column, status).where(column.in_(keys[start : start + CHUNK]))
        )
        found.update((key, str(state)) for key, state in rows)
    return found


async def write_tasks(
    conn: AsyncConnection, tasks: list[dict[str, Any]]
) -> Counter[tuple[str, str]]:
    """Create the tasks not created before; returns (kind, "new" | "existing") counts."""
    existing = await existing_states(
        conn, Task.idempotency_key, Task.status, [t["idempotency_key"] for t in tasks]
    )
    new = [t for t in tasks if t["idempotency_key"] not in existing]
    counts: Counter[tuple[str, str]] = Counter(
        (task["kind"], "existing" if task["idempotency_key"] in existing else "new")
        for task in tasks
    )
    if new:
        statement = dialect.insert(conn, Task).on_conflict_do_nothing(
            index_elements=["idempotency_key"]
        )
        for start in range(0, len(new), CHUNK):
            await conn.execute(statement, new[start : start + CHUNK])
    return counts


async def withdraw_closed(conn: AsyncConnection) -> int:
    """Every unsent row of a loan that is no longer open is cancelled."""
    closed = await conn.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.status.in_(UNSENT),
            OutboxMessage.loan_id.in_(select(Loan.id).where(Loan.status != LoanStatus.open)),
        )
        .values(status=OutboxStatus.cancelled, reasons="loan_closed", updated_at=utcnow())
    )
    return int(closed.rowcount)


async def withdraw_unplanned(
    conn: AsyncConnection, day: dt.date, low: int, high: int, planned: set[str]
) -> int:
    """Re-planning a day: the slice's unsent rows of that day that this run did not plan again
    (the loan paid, moved on, or the plan changed) are cancelled."""
    rows = await conn.execute(
        select(OutboxMessage.id, OutboxMessage.idempotency_key).where(
            OutboxMessage.loan_id >= low,
            OutboxMessage.loan_id < high,
            OutboxMessage.planned_for == day,
            OutboxMessage.status.in_(UNSENT),
            # A collector's own text is no plan's to withdraw.
            OutboxMessage.step != COLLECTOR_SMS_STEP,
        )
    )
    stale = [row_id for row_id, key in rows if key not in planned]
    return await cancel_unsent(conn, stale, "not_planned")


async def cancel_unsent(conn: AsyncConnection, ids: Sequence[int], reason: str) -> int:
    """Cancel these rows — those still unsent when the statement runs: a dispatcher may have
    claimed one since it was read, and a claimed row is the dispatcher's."""
    cancelled = 0
    for start in range(0, len(ids), CHUNK):
        result = await conn.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id.in_(ids[start : start + CHUNK]),
                OutboxMessage.status.in_(UNSENT),
            )
            .values(status=OutboxStatus.cancelled, reasons=reason, updated_at=utcnow())
        )
        cancelled += result.rowcount
    return cancelled


async def expire(conn: AsyncConnection, day: dt.date, lender: ZoneInfo) -> int:
    """Calls and texts of earlier days not sent by the time ``day`` begins (for the lender)
    are cancelled: a reminder belongs to its day. Letters wait to be sent."""
    start = dt.datetime.combine(day, dt.time(), lender)
    result = await conn.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.planned_for < day,
            OutboxMessage.not_before < start,
            OutboxMessage.channel.in_(("sms", "call")),
            # Day-keyed rows only (loan:step:YYYY-MM-DD); a one-off step waits to be sent.
            OutboxMessage.idempotency_key.like("%:____-__-__"),
            OutboxMessage.status.in_(
                (OutboxStatus.pending, OutboxStatus.deferred, OutboxStatus.review)
            ),
        )
        .values(status=OutboxStatus.cancelled, reasons="expired", updated_at=utcnow())
    )
    return int(result.rowcount)


async def write_outbox(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    statement = dialect.insert(conn, OutboxMessage)
    changed = (
        "step",
        "channel",
        "template",
        "planned_for",
        "not_before",
        "status",
        "reasons",
        "next_allowed_at",
        "phone",
        "plan_id",
        "locale",
        "context",
        "updated_at",
    )
    statement = statement.on_conflict_do_update(
        index_elements=["idempotency_key"],
        set_={name: statement.excluded[name] for name in changed},
        # Spelled out: an expanding IN cannot run with executemany.
        where=text("outbox.status IN (" + ", ".join(f"'{s.value}'" for s in UNSENT) + ")"),
    )
    for start in range(0, len(rows), CHUNK):
        await conn.execute(statement, rows[start : start + CHUNK])
