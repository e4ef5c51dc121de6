"""Agency placement (委外): placing an account with an agency, recalling it, the history.

A placement is made from the account's open agency_placement task (which it closes) or
directly by a supervisor; it records the balance, overdue and DPD the agency received and a
planned recall date. One active placement per loan (a partial unique index). While placed,
the account is off the in-house work list ("next account"): :mod:`service.assignment.worklist`
leaves placed loans out. Close of business recalls what is due back (:func:`recall_due`).
Every placement and recall is audited with the account's state before and after.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, exists, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from service import audit
from service.assignment.worklist import refresh_work_items
from service.clock import utcnow
from service.db.models import (
    Agency,
    Borrower,
    Loan,
    LoanStatus,
    Payment,
    Placement,
    Task,
    WorkItem,
)
from service.domain.agencies import PLACED, RecallReason, recall_reason
from service.domain.casework import TaskKind, TaskStatus
from service.errors import Conflict, NotFound, ValidationFailed
from service.settings import Settings


async def place(
    conn: AsyncConnection,
    *,
    loan_ref: str,
    agency_ref: str,
    actor: str,
    today: dt.date,
    recall_days: int,
    recall_on: dt.date | None = None,
    task_id: int | None = None,
    note: str = "",
) -> dict[str, Any]:
    """Place an open account with an active agency from ``today`` until ``recall_on``
    (default: ``recall_days`` later). ``task_id``: the agency_placement task it answers;
    without it, the loan's open agency_placement tasks are closed all the same."""
    loan = (
        await conn.execute(
            select(
                Loan.id,
                Loan.loan_ref,
                Loan.status,
                Loan.outstanding,
                Loan.overdue_amount,
                Loan.days_past_due,
            ).where(Loan.loan_ref == loan_ref)
        )
    ).one_or_none()
    if loan is None:
        raise NotFound(f"loan {loan_ref!r} not found")
    agency = (
        await conn.execute(select(Agency.id, Agency.active).where(Agency.agency_ref == agency_ref))
    ).one_or_none()
    if agency is None:
        raise NotFound(f"agency {agency_ref!r} not found")
    if not agency.active:
        raise Conflict(f"agency {agency_ref!r} is not active")
    if loan.status != LoanStatus.open:
        raise Conflict(f"loan {loan_ref!r} is {loan.status}: only open accounts are placed")
    active = await _active(conn, loan.id)
    if active is not None:
        raise Conflict(
            f"loan {loan_ref!r} is already placed with {active.agency_ref} "
            f"since {active.placed_on.isoformat()}"
        )
    recall_on = recall_on or today + dt.timedelta(days=recall_days)
    if recall_on <= today:
        raise ValidationFailed(
            "the recall date must be after the placement day",
            details=[{"field": "recall_on", "reason": "on or before today"}],
        )
    tasks = await _placement_tasks(conn, loan.id, task_id)
    try:
        async with conn.begin_nested():
            placement_id = await conn.scalar(
                insert(Placement)
                .values(
                    loan_id=loan.id,
                    agency_id=agency.id,
                    task_id=task_id if task_id is not None else (tasks[0] if tasks else None),
                    placed_on=today,
                    placed_at=utcnow(),
                    placed_by=actor,
                    balance_at_placement=loan.outstanding,
                    overdue_at_placement=loan.overdue_amount,
                    dpd_at_placement=loan.days_past_due,
                    recall_on=recall_on,
                    note=note,
                )
                .returning(Placement.id)
            )
    except IntegrityError:  # placed by a concurrent request: the index keeps one
        raise Conflict(f"loan {loan_ref!r} is already placed") from None
    details = {"agency_ref": agency_ref, "placement": placement_id}
    for task in tasks:
        await conn.execute(
            update(Task)
            .where(Task.id == task, Task.status == TaskStatus.open)
            .values(
                status=TaskStatus.done,
                outcome=PLACED,
                details=details,
                result=f"placed with {agency_ref}",
                notes=note,
                closed_at=utcnow(),
                closed_by=actor,
            )
        )
    # Off the in-house work list at once (a lease in progress ends with it).
    await conn.execute(delete(WorkItem).where(WorkItem.loan_id == loan.id))
    after = {
        "placed": True,
        "agency_ref": agency_ref,
        "placement": placement_id,
        "placed_on": today.isoformat(),
        "recall_on": recall_on.isoformat(),
        "balance": f"{loan.outstanding:.2f}",
        "overdue": f"{loan.overdue_amount:.2f}",
        "dpd": loan.days_past_due,
    }
    await audit.record(
        conn,
        actor=actor,
        action="placement.created",
        entity_type="loan",
        entity_ref=loan_ref,
        details={"before": {"placed": False}, "after": after, "tasks_closed": tasks},
    )
    return {"id": int(placement_id or 0), "loan_ref": loan_ref, **after}


async def _active(conn: AsyncConnection, loan_id: int) -> Any:
    return (
        await conn.execute(
            select(Placement.id, Placement.placed_on, Agency.agency_ref)
            .join(Agency, Agency.id == Placement.agency_id)
            .where(Placement.loan_id == loan_id, Placement.recalled_on.is_(None))
        )
    ).one_or_none()


async def _placement_tasks(conn: AsyncConnection, loan_id: int, task_id: int | None) -> list[int]:
    """The open agency_placement tasks a placement closes (the named one must be one)."""
    query = select(Task.id, Task.kind, Task.status).where(Task.loan_id == loan_id)
    if task_id is not None:
        row = (await conn.execute(query.where(Task.id == task_id))).one_or_none()
        if row is None or row.kind != TaskKind.agency_placement:
            raise NotFound(f"agency placement task {task_id} not found for this loan")
        if row.status != TaskStatus.open:
            raise Conflict(f"task {task_id} is already {row.status}")
    rows = await conn.execute(
        query.where(
            Task.kind == TaskKind.agency_placement, Task.status == TaskStatus.open
        ).order_by(Task.id)
    )
    return [row.id for row in rows]


async def task_loan(conn: AsyncConnection, task_id: int, visible: Any) -> str:
    """The loan of an agency_placement task the caller may see (404 otherwise)."""
    row = (
        await conn.execute(
            select(Task.kind, Loan.loan_ref)
            .join(Loan, Loan.id == Task.loan_id)
            .join(Borrower, Borrower.id == Loan.borrower_id)
            .where(Task.id == task_id, visible)
        )
    ).one_or_none()
    if row is None or row.kind != TaskKind.agency_placement:
        raise NotFound(f"agency placement task {task_id} not found")
    return str(row.loan_ref)


async def recall(
    conn: AsyncConnection,
    *,
    actor: str,
    today: dt.date,
    loan_ref: str | None = None,
    placement_id: int | None = None,
    reason: RecallReason = RecallReason.manual,
    note: str = "",
    settings: Settings | None = None,
) -> dict[str, Any]:
    """End a placement — the loan's active one, or the one named — by hand or for ``reason``;
    with ``settings`` the account is back on the work list at once (close of business puts
    back its own)."""
    query = select(Loan.id, Loan.loan_ref, Placement.id.label("placement"), Placement.recalled_on)
    if placement_id is not None:
        query = query.join(Placement, Placement.loan_id == Loan.id).where(
            Placement.id == placement_id
        )
        what = f"placement {placement_id}"
    else:
        query = query.outerjoin(
            Placement, (Placement.loan_id == Loan.id) & Placement.recalled_on.is_(None)
        ).where(Loan.loan_ref == loan_ref)
        what = f"loan {loan_ref!r}"
    found = (await conn.execute(query)).one_or_none()
    if found is None:
        raise NotFound(f"{what} not found")
    if found.placement is None:
        raise Conflict(f"{what} is not placed with an agency")
    if found.recalled_on is not None:
        raise Conflict(f"{what} was recalled on {found.recalled_on.isoformat()}")
    recalled = await _recall(conn, found.placement, found.loan_ref, reason, today, actor, note)
    if settings is not None:
        await refresh_work_items(conn, settings, today, "l.id = :loan_id", {"loan_id": found.id})
    return recalled


async def _recall(
    conn: AsyncConnection,
    placement_id: int,
    loan_ref: str,
    reason: RecallReason,
    today: dt.date,
    actor: str,
    note: str,
) -> dict[str, Any]:
    row = (
        await conn.execute(
            select(Placement.placed_on, Placement.recall_on, Agency.agency_ref)
            .join(Agency, Agency.id == Placement.agency_id)
            .where(Placement.id == placement_id)
        )
    ).one()
    # Recalled on the day it was placed at the earliest (a placement's days never run back).
    recalled_on = max(today, row.placed_on)
    done = await conn.execute(
        update(Placement)
        .where(Placement.id == placement_id, Placement.recalled_on.is_(None))
        .values(recalled_on=recalled_on, recall_reason=reason, recalled_by=actor)
    )
    if done.rowcount != 1:
        raise Conflict(f"loan {loan_ref!r}'s placement was recalled meanwhile")
    before = {
        "placed": True,
        "agency_ref": row.agency_ref,
        "placement": placement_id,
        "placed_on": row.placed_on.isoformat(),
        "recall_on": row.recall_on.isoformat(),
    }
    after = {"placed": False, "recalled_on": recalled_on.isoformat(), "reason": reason.value}
    await audit.record(
        conn,
        actor=actor,
        action="placement.recalled",
        entity_type="loan",
        entity_ref=loan_ref,
        details={"before": before, "after": after, "note": note},
    )
    return {"id": placement_id, "loan_ref": loan_ref, "agency_ref": row.agency_ref, **after}


async def recall_due(
    conn: AsyncConnection, as_of: dt.date, actor: str = "cob"
) -> Counter[RecallReason]:
    """Close of business: recall every active placement whose loan closed, was cured by a
    payment since placement, or reached its recall date (in the night's transaction; the
    night's assignment then puts the accounts back on the work list). How many, by reason."""
    paid = exists(
        select(Payment.id).where(
            Payment.loan_id == Placement.loan_id,
            Payment.paid_on >= Placement.placed_on,
            Payment.paid_on <= as_of,
        )
    )
    rows = await conn.execute(
        select(
            Placement.id,
            Placement.recall_on,
            Loan.loan_ref,
            Loan.status,
            Loan.overdue_amount,
            paid.label("paid"),
        )
        .join(Loan, Loan.id == Placement.loan_id)
        .where(Placement.recalled_on.is_(None))
        .order_by(Placement.id)
    )
    recalled: Counter[RecallReason] = Counter()
    for row in rows.all():
        reason = recall_reason(
            loan_open=row.status == LoanStatus.open,
            overdue=Decimal(row.overdue_amount),
            paid_since_placement=bool(row.paid),
            recall_on=row.recall_on,
            as_of=as_of,
        )
        if reason is not None:
            await _recall(conn, row.id, row.loan_ref, reason, as_of, actor, "")
            recalled[reason] += 1
    return recalled


async def list_placements(
    conn: AsyncConnection,
    visible: Any,
    *,
    loan_ref: str | None = None,
    agency_ref: str | None = None,
    placement_id: int | None = None,
    active_only: bool = False,
    limit: int = 200,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Placements of the loans ``visible`` selects, newest first: an account's history
    (``loan_ref``), an agency's book (``agency_ref``), or only those still placed."""
    query = (
        select(
            Placement.id,
            Loan.loan_ref,
            Agency.agency_ref,
            Placement.placed_on,
            Placement.placed_by,
            Placement.balance_at_placement,
            Placement.overdue_at_placement,
            Placement.dpd_at_placement,
            Placement.recall_on,
            Placement.recalled_on,
            Placement.recall_reason,
            Placement.recalled_by,
            Placement.task_id,
            Placement.note,
        )
        .join(Loan, Loan.id == Placement.loan_id)
        .join(Borrower, Borrower.id == Loan.borrower_id)
        .join(Agency, Agency.id == Placement.agency_id)
        .where(visible)
    )
    if loan_ref is not None:
        query = query.where(Loan.loan_ref == loan_ref)
    if agency_ref is not None:
        query = query.where(Agency.agency_ref == agency_ref)
    if placement_id is not None:
        query = query.where(Placement.id == placement_id)
    if active_only:
        query = query.where(Placement.recalled_on.is_(None))
    query = query.order_by(Placement.placed_on.desc(), Placement.id.desc())
    rows = await conn.execute(query.limit(limit).offset(offset))
    return [dict(row._mapping) for row in rows]
