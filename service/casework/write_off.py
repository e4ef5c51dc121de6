"""Write-off (核销) with maker-checker: a supervisor proposes writing a loan off, with the amounts
it writes off and a reason; a different supervisor (or an admin) approves or rejects it.

Approval writes the loan off on the lender's day: status ``written_off``, ``closed_on`` that
day, out of its queue and the work list, its open tasks and unsent contacts cancelled; the
close of business positions it that day for the last time and never again (no more penalty).
Payments are still recorded on it; those dated after the write-off day are recoveries. Every
step is audited on the loan with what it was before and after.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, insert, select, type_coerce, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from service import audit
from service.assignment.worklist import refresh_work_items
from service.auth import CurrentUser
from service.casework.placements import recall
from service.clock import utcnow
from service.db.models import (
    AssignmentMove,
    Borrower,
    Callback,
    CallbackStatus,
    Installment,
    Loan,
    LoanStatus,
    OutboxMessage,
    Payment,
    Placement,
    Promise,
    PromiseStatus,
    Task,
    User,
    WriteOff,
)
from service.db.types import Money
from service.domain.agencies import RecallReason
from service.domain.casework import TaskKind, TaskStatus
from service.domain.write_offs import DECIDING_ROLES, LIVE, WriteOffStatus, decision_refusal
from service.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from service.settings import Settings
from service.treatment.outbox import UNSENT, cancel_unsent

ZERO = Decimal("0.00")


def _require_staff(actor: CurrentUser, what: str) -> None:
    if actor.role.value not in DECIDING_ROLES:
        raise PermissionDenied(f"role {actor.role.value} may not {what} a write-off")


async def propose_write_off(
    conn: AsyncConnection,
    actor: CurrentUser,
    *,
    loan_ref: str,
    reason: str,
    task_id: int | None = None,
) -> dict[str, Any]:
    """Propose writing off an open loan, at the amounts of its last position.

    ``task_id``: the loan's open write_off_proposal task it answers (whichever it is, the
    loan's open write-off proposal task is closed as done by the proposal).
    """
    _require_staff(actor, "propose")
    reason = reason.strip()
    if not reason:
        raise ValidationFailed("a reason is required", details=[{"field": "reason"}])
    loan = (
        await conn.execute(
            select(
                Loan.id,
                Loan.status,
                Loan.state_as_of,
                Loan.days_past_due,
                Loan.risk_class,
                Loan.penalty_unpaid,
            ).where(Loan.loan_ref == loan_ref)
        )
    ).one_or_none()
    if loan is None:
        raise NotFound(f"loan {loan_ref!r} not found")
    if loan.status != LoanStatus.open:
        raise Conflict(f"loan {loan_ref} is {loan.status}: only an open loan is written off")
    if loan.state_as_of is None:
        raise Conflict(f"loan {loan_ref} has no position yet: run close of business first")
    live = await conn.scalar(
        select(WriteOff.id).where(WriteOff.loan_id == loan.id, WriteOff.status.in_(LIVE))
    )
    if live is not None:
        raise Conflict(f"loan {loan_ref} already has write-off {live} open")
    tasks = await _proposal_tasks(conn, loan.id)
    if task_id is not None and task_id not in tasks:
        raise ValidationFailed(
            f"task {task_id} is not an open write-off proposal task of loan {loan_ref}",
            details=[{"field": "task_id"}],
        )
    principal, interest = await _unpaid(conn, loan.id, loan.state_as_of)
    values = {
        "loan_id": loan.id,
        "task_id": task_id if task_id is not None else (tasks[0] if tasks else None),
        "status": WriteOffStatus.proposed,
        "principal": principal,
        "interest": interest,
        "penalty": loan.penalty_unpaid,
        "amounts_as_of": loan.state_as_of,
        "days_past_due": loan.days_past_due,
        "risk_class": loan.risk_class,
        "reason": reason,
        "proposed_by": actor.id,
        "proposed_at": utcnow(),
    }
    try:
        async with conn.begin_nested():
            write_off_id = await conn.scalar(
                insert(WriteOff).values(**values).returning(WriteOff.id)
            )
    except IntegrityError:  # proposed by someone else since it was read (one live per loan)
        raise Conflict(f"loan {loan_ref} already has a write-off open") from None
    now = utcnow()
    for task in tasks:
        await conn.execute(
            update(Task)
            .where(Task.id == task, Task.status == TaskStatus.open)
            .values(
                status=TaskStatus.done,
                outcome="proposed",
                notes=reason,
                result=f"write-off {write_off_id} proposed",
                closed_at=now,
                closed_by=actor.username,
            )
        )
        await audit.record(
            conn,
            actor=actor.username,
            actor_id=actor.id,
            action="task.closed",
            entity_type="loan",
            entity_ref=loan_ref,
            details={
                "task": task,
                "kind": TaskKind.write_off_proposal.value,
                "status": TaskStatus.done.value,
                "outcome": "proposed",
                "before": {"status": TaskStatus.open.value},
                "after": {"status": TaskStatus.done.value, "write_off": write_off_id},
            },
        )
    found = await get_write_off(conn, int(write_off_id or 0))
    await audit.record(
        conn,
        actor=actor.username,
        actor_id=actor.id,
        action="write_off.proposed",
        entity_type="loan",
        entity_ref=loan_ref,
        details={"write_off": write_off_id, "before": None, "after": _audited(found)},
    )
    return found


async def decide_write_off(
    conn: AsyncConnection,
    settings: Settings,
    actor: CurrentUser,
    write_off_id: int,
    *,
    approve: bool,
    note: str,
    today: dt.date,
) -> dict[str, Any]:
    """Approve (the loan is written off on ``today``) or reject a proposal: never by its
    proposer, above the largest amount tier only by an admin."""
    _require_staff(actor, "decide")
    note = note.strip()
    if not approve and not note:
        raise ValidationFailed("a rejection says why", details=[{"field": "note"}])
    before = await get_write_off(conn, write_off_id)
    if before["status"] != WriteOffStatus.proposed:
        raise Conflict(f"write-off {write_off_id} is already {before['status']}")
    refusal = decision_refusal(
        proposer_id=before["proposed_by_id"],
        decider_id=actor.id,
        decider_role=actor.role.value,
        amount=before["amount"],
        admin_above=settings.tier_bounds[-1],
    )
    if refusal is not None:
        error = Conflict if refusal.code == "maker_checker" else PermissionDenied
        raise error(refusal.message, details={"rule": refusal.code})
    loan = (
        await conn.execute(
            select(Loan.id, Loan.status, Loan.queue_id, Loan.collector_id, Loan.strategy_arm).where(
                Loan.id == before["loan_id"]
            )
        )
    ).one()
    if approve and loan.status != LoanStatus.open:
        raise Conflict(f"loan {before['loan_ref']} is {loan.status}: withdraw the proposal instead")
    now = utcnow()
    status = WriteOffStatus.approved if approve else WriteOffStatus.rejected
    decided = await conn.execute(
        update(WriteOff)
        .where(WriteOff.id == write_off_id, WriteOff.status == WriteOffStatus.proposed)
        .values(
            status=status,
            decided_by=actor.id,
            decided_at=now,
            decision_note=note,
            written_off_on=today if approve else None,
        )
    )
    if decided.rowcount != 1:  # decided or withdrawn by someone else since it was read
        raise Conflict(f"write-off {write_off_id} was decided meanwhile")
    effects: dict[str, Any] = {}
    if approve:
        effects = await _write_off_loan(conn, settings, actor, loan, write_off_id, today, now)
    after = await get_write_off(conn, write_off_id)
    await audit.record(
        conn,
        actor=actor.username,
        actor_id=actor.id,
        action=f"write_off.{status.value}",
        entity_type="loan",
        entity_ref=before["loan_ref"],
        details={
            "write_off": write_off_id,
            "before": _audited(before) | {"loan_status": loan.status, "queue_id": loan.queue_id,
                                          "collector_id": loan.collector_id},
            "after": _audited(after) | {
                "loan_status": LoanStatus.written_off.value if approve else loan.status,
                "queue_id": None if approve else loan.queue_id,
                "collector_id": None if approve else loan.collector_id,
            },
            **effects,
        },
    )  # fmt: skip
    return after


async def withdraw_write_off(
    conn: AsyncConnection, actor: CurrentUser, write_off_id: int, note: str
) -> dict[str, Any]:
    """Take a proposal back before it is decided (its proposer, or any supervisor or admin)."""
    _require_staff(actor, "withdraw")
    before = await get_write_off(conn, write_off_id)
    if before["status"] != WriteOffStatus.proposed:
        raise Conflict(f"write-off {write_off_id} is already {before['status']}")
    withdrawn = await conn.execute(
        update(WriteOff)
        .where(WriteOff.id == write_off_id, WriteOff.status == WriteOffStatus.proposed)
        .values(
            status=WriteOffStatus.withdrawn,
            withdrawn_by=actor.id,
            withdrawn_at=utcnow(),
            decision_note=note.strip(),
        )
    )
    if withdrawn.rowcount != 1:
        raise Conflict(f"write-off {write_off_id} was decided meanwhile")
    after = await get_write_off(conn, write_off_id)
    await audit.record(
        conn,
        actor=actor.username,
        actor_id=actor.id,
        action="write_off.withdrawn",
        entity_type="loan",
        entity_ref=before["loan_ref"],
        details={"write_off": write_off_id, "before": _audited(before), "after": _audited(after)},
    )
    return after


async def _write_off_loan(
    conn: AsyncConnection,
    settings: Settings,
    actor: CurrentUser,
    loan: Any,
    write_off_id: int,
    today: dt.date,
    now: dt.datetime,
) -> dict[str, Any]:
    """The loan leaves the books: written off on ``today``, out of its queue and the work list,
    its open tasks and unsent contacts cancelled. Returns what was cancelled, for the audit."""
    changed = await conn.execute(
        update(Loan)
        .where(Loan.id == loan.id, Loan.status == LoanStatus.open)
        .values(
            status=LoanStatus.written_off,
            closed_on=today,
            queue_id=None,
            collector_id=None,
            assigned_at=now,
            updated_at=now,
        )
    )
    if changed.rowcount != 1:
        raise Conflict("the loan closed meanwhile: withdraw the proposal instead")
    if loan.queue_id is not None or loan.collector_id is not None:
        await conn.execute(
            insert(AssignmentMove).values(
                loan_id=loan.id,
                moved_at=now,
                from_queue_id=loan.queue_id,
                to_queue_id=None,
                from_collector_id=loan.collector_id,
                to_collector_id=None,
                reason="written_off",
                strategy=None,
                arm=loan.strategy_arm,
                actor=actor.username,
                note=f"write-off {write_off_id}",
            )
        )
    await refresh_work_items(conn, settings, today, "l.id = :loan_id", {"loan_id": loan.id})
    tasks = list(
        (
            await conn.scalars(
                select(Task.id).where(Task.loan_id == loan.id, Task.status == TaskStatus.open)
            )
        ).all()
    )
    if tasks:
        await conn.execute(
            update(Task)
            .where(Task.id.in_(tasks), Task.status == TaskStatus.open)
            .values(
                status=TaskStatus.cancelled,
                result=f"loan written off (write-off {write_off_id})",
                closed_at=now,
                closed_by=actor.username,
            )
        )
    unsent = list(
        (
            await conn.scalars(
                select(OutboxMessage.id).where(
                    OutboxMessage.loan_id == loan.id, OutboxMessage.status.in_(UNSENT)
                )
            )
        ).all()
    )
    withdrawn = await cancel_unsent(conn, unsent, "loan_closed")
    # Nothing is owed to collections any more: its promises and callbacks end, and an agency
    # holding it is recalled (the lender's recoveries after write-off are its own).
    promises = (
        await conn.execute(
            update(Promise)
            .where(
                Promise.loan_id == loan.id,
                Promise.status.in_([PromiseStatus.pending, PromiseStatus.proposed]),
            )
            .values(status=PromiseStatus.cancelled, decided_by="write_off", updated_at=now)
        )
    ).rowcount
    callbacks = (
        await conn.execute(
            update(Callback)
            .where(Callback.loan_id == loan.id, Callback.status == CallbackStatus.scheduled)
            .values(status=CallbackStatus.cancelled, closed_at=now, closed_by=actor.username)
        )
    ).rowcount
    placed = await conn.scalar(
        select(Placement.id).where(Placement.loan_id == loan.id, Placement.recalled_on.is_(None))
    )
    if placed is not None:
        await recall(
            conn,
            actor=actor.username,
            today=today,
            placement_id=placed,
            reason=RecallReason.loan_closed,
            note=f"written off (write-off {write_off_id})",
        )
    return {
        "tasks_cancelled": tasks,
        "contacts_cancelled": withdrawn,
        "promises_cancelled": int(promises or 0),
        "callbacks_cancelled": int(callbacks or 0),
        "agency_recalled": placed is not None,
    }


async def _proposal_tasks(conn: AsyncConnection, loan_id: int) -> list[int]:
    return list(
        (
            await conn.scalars(
                select(Task.id)
                .where(
                    Task.loan_id == loan_id,
                    Task.kind == TaskKind.write_off_proposal,
                    Task.status == TaskStatus.open,
                )
                .order_by(Task.id)
            )
        ).all()
    )


async def _unpaid(conn: AsyncConnection, loan_id: int, as_of: dt.date) -> tuple[Decimal, Decimal]:
    """Unpaid principal, and unpaid interest of the installments due before ``as_of``: with the
    unpaid penalty, the loan's outstanding at its position (service.cob.engine)."""
    principal = func.sum(Installment.principal_due - Installment.principal_paid)
    interest = func.sum(
        case(
            (Installment.due_on < as_of, Installment.interest_due - Installment.interest_paid),
            else_=0,
        )
    )
    row = (
        await conn.execute(
            select(type_coerce(principal, Money), type_coerce(interest, Money)).where(
                Installment.loan_id == loan_id
            )
        )
    ).one()
    return row[0] or ZERO, row[1] or ZERO


# --- reading -------------------------------------------------------------------------------------

_proposer = aliased(User, name="proposer")
_decider = aliased(User, name="decider")
_withdrawer = aliased(User, name="withdrawer")
_recovered_by = aliased(WriteOff, name="recovered_by")


def _recoveries() -> Any:
    """Per approved write-off: payments on its loan dated after the write-off day."""
    return (
        select(
            _recovered_by.id.label("write_off_id"),
            type_coerce(func.sum(Payment.amount), Money).label("recovered"),
            func.count(Payment.id).label("payments"),
        )
        .join(
            Payment,
            and_(
                Payment.loan_id == _recovered_by.loan_id,
                Payment.paid_on > _recovered_by.written_off_on,
            ),
        )
        .where(_recovered_by.status == WriteOffStatus.approved)
        .group_by(_recovered_by.id)
        .subquery("recoveries")
    )


def _conditions(status: WriteOffStatus | None, loan_ref: str | None) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if status is not None:
        conditions.append(WriteOff.status == status)
    if loan_ref is not None:
        conditions.append(Loan.loan_ref == loan_ref)
    return conditions


async def list_write_offs(
    conn: AsyncConnection,
    *,
    status: WriteOffStatus | None = None,
    loan_ref: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> dict[str, Any]:
    """A page of write-offs, newest first: ``{total, recovered_total, items}``, the recoveries
    totalled over every write-off the filters select (not only the page's)."""
    recoveries = _recoveries()
    conditions = _conditions(status, loan_ref)
    total, recovered = (
        await conn.execute(
            select(func.count(WriteOff.id), type_coerce(func.sum(recoveries.c.recovered), Money))
            .select_from(WriteOff)
            .join(Loan, Loan.id == WriteOff.loan_id)
            .outerjoin(recoveries, recoveries.c.write_off_id == WriteOff.id)
            .where(*conditions)
        )
    ).one()
    rows = await conn.execute(
        _select(recoveries)
        .where(*conditions)
        .order_by(WriteOff.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return {
        "total": int(total or 0),
        "recovered_total": recovered or ZERO,
        "items": [_view(row) for row in rows],
    }


async def get_write_off(conn: AsyncConnection, write_off_id: int) -> dict[str, Any]:
    row = (
        await conn.execute(_select(_recoveries()).where(WriteOff.id == write_off_id))
    ).one_or_none()
    if row is None:
        raise NotFound(f"write-off {write_off_id} not found")
    return _view(row)


def _select(recoveries: Any) -> Any:
    return (
        select(
            *WriteOff.__table__.c,
            Loan.loan_ref,
            Loan.currency,
            Borrower.borrower_ref,
            _proposer.username.label("proposer"),
            _decider.username.label("decider"),
            _withdrawer.username.label("withdrawer"),
            recoveries.c.recovered,
            recoveries.c.payments,
        )
        .join(Loan, Loan.id == WriteOff.loan_id)
        .join(Borrower, Borrower.id == Loan.borrower_id)
        .join(_proposer, _proposer.id == WriteOff.proposed_by)
        .outerjoin(_decider, _decider.id == WriteOff.decided_by)
        .outerjoin(_withdrawer, _withdrawer.id == WriteOff.withdrawn_by)
        .outerjoin(recoveries, recoveries.c.write_off_id == WriteOff.id)
    )


def _view(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "loan_id": row.loan_id,
        "loan_ref": row.loan_ref,
        "currency": row.currency,
        "borrower_ref": row.borrower_ref,
        "status": WriteOffStatus(row.status),
        "principal": row.principal,
        "interest": row.interest,
        "penalty": row.penalty,
        "amount": row.principal + row.interest + row.penalty,
        "amounts_as_of": row.amounts_as_of,
        "days_past_due": row.days_past_due,
        "risk_class": row.risk_class,
        "reason": row.reason,
        "task_id": row.task_id,
        "proposed_by": row.proposer,
        "proposed_by_id": row.proposed_by,
        "proposed_at": row.proposed_at,
        "decided_by": row.decider,
        "decided_at": row.decided_at,
        "decision_note": row.decision_note,
        "withdrawn_by": row.withdrawer,
        "withdrawn_at": row.withdrawn_at,
        "written_off_on": row.written_off_on,
        "recovered": row.recovered or ZERO,
        "recovery_payments": int(row.payments or 0),
    }


def _audited(view: dict[str, Any]) -> dict[str, Any]:
    """A write-off as the audit trail keeps it (JSON: amounts and dates as text)."""
    keys = ("status", "principal", "interest", "penalty", "amount", "amounts_as_of",
            "reason", "proposed_by", "decided_by", "decision_note", "withdrawn_by",
            "written_off_on")  # fmt: skip
    return {key: None if view[key] is None else str(view[key]) for key in keys}
