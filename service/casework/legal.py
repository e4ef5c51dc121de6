"""The legal review (法律清收) of an account M4 and older: its outcome from the closed list
(service.domain.casework.LegalOutcome) closes the task, with what the outcome does.

A suit (``file_suit``) puts a ``legal_action`` hold on the loan from the lender's day, which
stops automated dunning (the compliance guard blocks on it, DESIGN.md §3); ``refer_write_off``
opens a write-off proposal task for supervisors, unless one is open already.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from service import audit
from service.auth import CurrentUser
from service.clock import utcnow
from service.db import dialect
from service.db.models import Borrower, Loan, Task
from service.domain.casework import LegalOutcome, TaskKind, TaskStatus
from service.domain.compliance import HoldKind
from service.errors import Conflict, NotFound, ValidationFailed
from service.portfolio.restrictions import NewHold, record_hold


async def close_legal_review(
    conn: AsyncConnection,
    actor: CurrentUser,
    task_id: int,
    outcome: str,
    notes: str,
    visible: Any,
    today: dt.date,
) -> dict[str, Any]:
    """Record a legal review's outcome on a task the actor may see (``visible``)."""
    if outcome not in set(LegalOutcome):
        raise ValidationFailed(
            f"outcome must be one of {', '.join(LegalOutcome)}", details=[{"field": "outcome"}]
        )
    decided = LegalOutcome(outcome)
    row = (
        await conn.execute(
            select(Task.id, Task.kind, Task.status, Task.loan_id, Loan.loan_ref)
            .add_columns(Borrower.borrower_ref)
            .join(Loan, Loan.id == Task.loan_id)
            .join(Borrower, Borrower.id == Loan.borrower_id)
            .where(Task.id == task_id, visible)
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"task {task_id} not found")
    if row.kind != TaskKind.legal_review:
        raise ValidationFailed(
            f"task {task_id} is a {row.kind}, not a legal review", details=[{"field": "id"}]
        )
    if row.status != TaskStatus.open:
        raise Conflict(f"task {task_id} is already {row.status}")
    notes = notes.strip()
    closed = await conn.execute(
        update(Task)
        .where(Task.id == task_id, Task.status == TaskStatus.open)
        .values(
            status=TaskStatus.done,
            outcome=decided.value,
            notes=notes,
            result=f"{decided.value}: {notes}" if notes else decided.value,
            closed_at=utcnow(),
            closed_by=actor.username,
        )
    )
    if closed.rowcount != 1:  # closed by someone else since it was read
        raise Conflict(f"task {task_id} was closed meanwhile")
    hold_ref: str | None = None
    write_off_task: int | None = None
    if decided is LegalOutcome.file_suit:
        hold = await record_hold(
            conn,
            actor,
            NewHold(
                borrower_ref=row.borrower_ref,
                kind=HoldKind.legal_action,
                starts_on=today,
                loan_ref=row.loan_ref,
                note=f"suit filed (legal review, task {task_id})" + (f": {notes}" if notes else ""),
            ),
        )
        hold_ref = hold["hold_ref"]
    elif decided is LegalOutcome.refer_write_off:
        write_off_task = await _write_off_task(conn, row.loan_id, task_id, today)
    await audit.record(
        conn,
        actor=actor.username,
        actor_id=actor.id,
        action="task.closed",
        entity_type="loan",
        entity_ref=row.loan_ref,
        details={
            "task": task_id,
            "kind": row.kind,
            "status": TaskStatus.done.value,
            "outcome": decided.value,
            "notes": notes,
            "before": {"status": TaskStatus.open.value},
            "after": {"status": TaskStatus.done.value, "outcome": decided.value},
            "hold_ref": hold_ref,
            "write_off_task": write_off_task,
        },
    )
    return {
        "id": task_id,
        "kind": row.kind,
        "loan_ref": row.loan_ref,
        "status": TaskStatus.done,
        "outcome": decided,
        "hold_ref": hold_ref,
        "write_off_task_id": write_off_task,
    }


async def _write_off_task(
    conn: AsyncConnection, loan_id: int, review_id: int, today: dt.date
) -> int:
    """The loan's open write-off proposal task: the one open already, or a new one keyed as
    the plan keys it (so the plan makes no second), or by this review when that key is used."""
    open_task = await conn.scalar(
        select(Task.id).where(
            Task.loan_id == loan_id,
            Task.kind == TaskKind.write_off_proposal,
            Task.status == TaskStatus.open,
        )
    )
    if open_task is not None:
        return int(open_task)
    key = f"{loan_id}:{TaskKind.write_off_proposal.value}"
    if await conn.scalar(select(Task.id).where(Task.idempotency_key == key)) is not None:
        key += f":legal{review_id}"
    values = {
        "idempotency_key": key,
        "loan_id": loan_id,
        "plan_id": None,
        "kind": TaskKind.write_off_proposal.value,
        "status": TaskStatus.open,
        "due_on": today,
        "result": "",
        "created_at": utcnow(),
    }
    statement = dialect.insert(conn, Task).on_conflict_do_nothing(
        index_elements=["idempotency_key"]
    )
    await conn.execute(statement, [values])
    created = await conn.scalar(select(Task.id).where(Task.idempotency_key == key))
    assert created is not None
    return int(created)
