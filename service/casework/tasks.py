"""Tasks for people outside the dialer — field visits, agency placements, legal reviews,
write-off proposals: listed for whoever may see their accounts, closed with an outcome (audited,
forward only). Close of business creates them from the treatment plan."""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from service import audit
from service.casework.visits import VisitPromise, visible_task, visit_closing
from service.clock import utcnow
from service.db.models import Borrower, Loan, Task
from service.domain.casework import TASK_OUTCOMES, TaskKind, TaskStatus
from service.errors import Conflict, ValidationFailed

_Query = TypeVar("_Query", bound=Select[*tuple[Any, ...]])


async def list_tasks(
    conn: AsyncConnection,
    visible: Any,
    *,
    open_only: bool = True,
    limit: int = 200,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Tasks on the loans ``visible`` selects (a collector: their queues' accounts), a page of
    them in due order; :func:`count_tasks` counts the same selection."""
    query = _tasks(
        select(
            Task.id,
            Task.kind,
            Task.status,
            Task.due_on,
            Task.result,
            Task.outcome,
            Task.notes,
            Task.closed_by,
            Loan.loan_ref,
            Loan.outstanding,
            Loan.days_past_due,
        ),
        visible,
        open_only,
    )
    query = query.order_by(Task.due_on, Task.id).limit(limit).offset(offset)
    return [dict(row._mapping) for row in await conn.execute(query)]


async def count_tasks(conn: AsyncConnection, visible: Any, *, open_only: bool = True) -> int:
    """How many tasks :func:`list_tasks` pages through."""
    return int(await conn.scalar(_tasks(select(func.count(Task.id)), visible, open_only)) or 0)


def _tasks(query: _Query, visible: Any, open_only: bool) -> _Query:
    query = (
        query.select_from(Task)
        .join(Loan, Loan.id == Task.loan_id)
        .join(Borrower, Borrower.id == Loan.borrower_id)
        # Inspections have a list of their own, with what they record (casework.inspections).
        .where(visible, Task.kind != TaskKind.inspection)
    )
    return query.where(Task.status == TaskStatus.open) if open_only else query


async def close_task(
    conn: AsyncConnection,
    task_id: int,
    status: str | None,
    result: str,
    actor: str,
    visible: Any,
    *,
    outcome: str | None = None,
    promise: VisitPromise | None = None,
    today: dt.date | None = None,
) -> dict[str, Any]:
    """Record a task's outcome, with the notes (``result``). A field visit closes with what it
    found (``outcome``; its state follows: a visit that did not find the debtor fails and
    counts toward the agency placement) and, for a promise, the amount and date (``today``:
    the lender's, the earliest date a promise may name)."""
    if status is not None and status not in TASK_OUTCOMES:
        raise ValidationFailed(
            f"status must be one of {', '.join(TASK_OUTCOMES)}", details=[{"field": "status"}]
        )
    row = await visible_task(conn, task_id, visible)
    if row.status != TaskStatus.open:
        raise Conflict(f"task {task_id} is already {row.status}")
    if row.kind == TaskKind.inspection:
        # Its outcome is how it was done and what it found (service.casework.inspections).
        raise ValidationFailed(
            f"task {task_id} is an inspection: record it with POST /api/inspections/{task_id}"
            f"/outcome or arrears inspections record {task_id}",
            details=[{"field": "status", "reason": "an inspection is closed by its record"}],
        )
    details: dict[str, Any] | None = None
    if row.kind == TaskKind.field_visit:
        closing, found, details = visit_closing(status, outcome, promise, today or utcnow().date())
        outcome = found.value if found is not None else None
    elif outcome is not None or promise is not None:
        raise ValidationFailed(
            f"a {row.kind} task takes no outcome, only a status",
            details=[{"field": "outcome" if outcome is not None else "promise"}],
        )
    elif status is None:
        raise ValidationFailed(
            f"status must be one of {', '.join(TASK_OUTCOMES)}", details=[{"field": "status"}]
        )
    else:
        closing = TaskStatus(status)
    closed = await conn.execute(
        update(Task)
        .where(Task.id == task_id, Task.status == TaskStatus.open)
        .values(
            status=closing,
            result=result,
            notes=result,
            outcome=outcome,
            details=details,
            closed_at=utcnow(),
            closed_by=actor,
        )
    )
    if closed.rowcount != 1:  # closed by someone else since it was read
        raise Conflict(f"task {task_id} was closed meanwhile")
    await audit.record(
        conn,
        actor=actor,
        action="task.closed",
        entity_type="loan",
        entity_ref=row.loan_ref,
        details={
            "task": task_id,
            "kind": row.kind,
            "status": closing.value,
            "result": result,
            "outcome": outcome,
            **(details or {}),
            "before": {"status": TaskStatus.open.value},
            "after": {"status": closing.value, "outcome": outcome},
        },
    )
    return {
        "id": task_id,
        "kind": row.kind,
        "loan_ref": row.loan_ref,
        "status": closing,
        "outcome": outcome,
        # A promise made at a visit: the contact area records it as the loan's promise.
        "promise": (details or {}).get("promise"),
    }
