"""Tasks for people outside the dialer — field visits, agency placements, legal reviews,
write-off proposals: listed for whoever may see their accounts, closed with an outcome (audited,
forward only). Close of business creates them from the treatment plan."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, TypeVar

from sqlalchemy import Select, and_, case, func, literal_column, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from service import audit
from service.casework.visits import VisitPromise, visible_task, visit_closing
from service.clock import utcnow
from service.db.models import Borrower, Loan, Task
from service.domain.casework import TASK_OUTCOMES, TaskKind, TaskStatus
from service.errors import Conflict, NotFound, ValidationFailed

_Query = TypeVar("_Query", bound=Select[*tuple[Any, ...]])


# Every kind a plain task list shows: inspections have a list of their own, with what they
# record (service.casework.inspections), and are shown only when asked for by name.
LISTED_KINDS = tuple(kind for kind in TaskKind if kind is not TaskKind.inspection)


@dataclasses.dataclass(frozen=True, slots=True)
class TaskFilter:
    """Which of the visible tasks a list shows: of these kinds, in this state (None: any),
    due on or before ``due_by`` (None: whenever)."""

    kinds: tuple[TaskKind, ...] = LISTED_KINDS
    status: TaskStatus | None = TaskStatus.open
    due_by: dt.date | None = None


async def list_tasks(
    conn: AsyncConnection,
    visible: Any,
    *,
    open_only: bool = True,
    limit: int = 200,
    offset: int = 0,
    where: TaskFilter | None = None,
    first_for: int | None = None,
) -> list[dict[str, Any]]:
    """Tasks on the loans ``visible`` selects (a collector: their queues' accounts), a page of
    them in due order; :func:`count_tasks` counts the same selection. ``where`` narrows them
    (default: the open ones, or every state without ``open_only``); ``first_for``: a user id
    whose own tasks come first (``mine``: the task is theirs, or its account is and nobody
    owns the task)."""
    mine = _mine(first_for)
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
            Loan.currency,
            Loan.outstanding,
            Loan.days_past_due,
            Borrower.name.label("borrower_name"),
            mine.label("mine"),
        ),
        visible,
        _where(where, open_only),
    )
    order = (Task.due_on, Task.id) if first_for is None else (mine.desc(), Task.due_on, Task.id)
    query = query.order_by(*order).limit(limit).offset(offset)
    return [_listed(row) for row in await conn.execute(query)]


async def count_tasks(
    conn: AsyncConnection, visible: Any, *, open_only: bool = True, where: TaskFilter | None = None
) -> int:
    """How many tasks :func:`list_tasks` pages through."""
    query = _tasks(select(func.count(Task.id)), visible, _where(where, open_only))
    return int(await conn.scalar(query) or 0)


async def count_by_kind(
    conn: AsyncConnection, visible: Any, where: TaskFilter
) -> dict[TaskKind, int]:
    """How many tasks of each of ``where``'s kinds the same selection holds (0 for none)."""
    query = _tasks(select(Task.kind, func.count(Task.id)), visible, where).group_by(Task.kind)
    found = {TaskKind(kind): int(count) for kind, count in await conn.execute(query)}
    return {kind: found.get(kind, 0) for kind in where.kinds}


def _where(where: TaskFilter | None, open_only: bool) -> TaskFilter:
    return where or TaskFilter(status=TaskStatus.open if open_only else None)


def _mine(user_id: int | None) -> Any:
    if user_id is None:
        return literal_column("0")
    return case(
        (Task.owner_id == user_id, 1),
        (and_(Task.owner_id.is_(None), Loan.collector_id == user_id), 1),
        else_=0,
    )


def _listed(row: Any) -> dict[str, Any]:
    found = dict(row._mapping)
    found["mine"] = bool(found["mine"])
    return found


def _tasks(query: _Query, visible: Any, where: TaskFilter) -> _Query:
    query = (
        query.select_from(Task)
        .join(Loan, Loan.id == Task.loan_id)
        .join(Borrower, Borrower.id == Loan.borrower_id)
        .where(visible, Task.kind.in_([kind.value for kind in where.kinds]))
    )
    if where.status is not None:
        query = query.where(Task.status == where.status)
    if where.due_by is not None:
        query = query.where(Task.due_on <= where.due_by)
    return query


async def get_task(conn: AsyncConnection, task_id: int, visible: Any) -> dict[str, Any]:
    """One task ``visible`` lets the caller see (any kind), with its account's summary:
    NotFound otherwise, whether it exists or not."""
    row = (
        await conn.execute(
            select(
                Task.id,
                Task.kind,
                Task.status,
                Task.due_on,
                Task.result,
                Task.outcome,
                Task.notes,
                Task.details,
                Task.created_at,
                Task.closed_at,
                Task.closed_by,
                Task.done_on,
                Task.owner_id,
                Loan.loan_ref,
                Loan.status.label("loan_status"),
                Loan.product,
                Loan.currency,
                Loan.outstanding,
                Loan.overdue_amount,
                Loan.days_past_due,
                Loan.bucket,
                Loan.risk_class,
                Loan.lost_contact_on,
                Borrower.borrower_ref,
                Borrower.name.label("borrower_name"),
                Borrower.address,
            )
            .join(Loan, Loan.id == Task.loan_id)
            .join(Borrower, Borrower.id == Loan.borrower_id)
            .where(Task.id == task_id, visible)
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"task {task_id} not found")
    found = dict(row._mapping)
    found["kind"] = TaskKind(found["kind"])
    found["details"] = dict(found["details"] or {})
    return found


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
