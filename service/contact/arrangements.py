"""Arrangements: a payment plan or a settlement offer proposed on an account, approved where
the amount at stake asks for it (service.domain.arrangements) by someone other than its
proposer, and then kept or broken as its instalments — promises — are
(service.contact.promise_keeping). Every step audited with before and after."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from service import audit
from service.clock import utcnow
from service.contact.accounts import loan_in_view
from service.contact.promises import check_terms, store_promise
from service.db.models import Arrangement, Borrower, Loan, Promise, PromiseStatus
from service.domain.arrangements import (
    OPEN,
    ApprovalLevel,
    ArrangementKind,
    ArrangementStatus,
    BeyondApproval,
    approval_needed,
    instalments,
    may_approve,
)
from service.domain.contact import PromiseSource
from service.errors import Conflict, NotFound, PermissionDenied, ValidationFailed


@dataclasses.dataclass(frozen=True, slots=True)
class Proposal:
    loan_ref: str
    kind: ArrangementKind
    total: Decimal  # what the debtor pays under it
    instalments: int
    first_on: dt.date
    every_days: int = 30
    note: str = ""


def arrangement_view(row: Any, schedule: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": row.id,
        "loan_ref": row.loan_ref,
        "kind": str(row.kind),
        "status": str(row.status),
        "balance": row.balance,
        "total": row.total,
        "discount": row.discount,
        "instalments": row.instalments,
        "approval": str(row.approval),
        "note": row.note,
        "proposed_by": row.proposed_by,
        "proposed_at": row.proposed_at,
        "decided_by": row.decided_by,
        "decided_at": row.decided_at,
        "decision_note": row.decision_note,
        "settled_on": row.settled_on,
        "schedule": schedule,
    }


async def propose(
    conn: AsyncConnection,
    visible: ColumnElement[bool],
    proposal: Proposal,
    *,
    today: dt.date,
    tiers: tuple[Decimal, ...],
    actor: str,
    actor_id: int | None,
) -> dict[str, Any]:
    """Propose an arrangement on an open account the caller may see. One needing no approval
    starts at once (its instalments pending promises); otherwise it waits for a decision."""
    loan = await loan_in_view(conn, visible, proposal.loan_ref, open_for="nothing to arrange")
    if loan.outstanding <= 0:
        raise Conflict(f"loan {proposal.loan_ref} owes nothing to arrange")
    balance = Decimal(loan.outstanding)
    if proposal.kind is ArrangementKind.settlement and proposal.total >= balance:
        raise ValidationFailed(
            "a settlement is for less than the balance",
            details=[{"field": "total", "reason": f"below the balance {balance:.2f}"}],
        )
    if proposal.kind is ArrangementKind.payment_plan and proposal.total < balance:
        raise ValidationFailed(
            "a payment plan pays the whole balance (a discount is a settlement)",
            details=[{"field": "total", "reason": f"at least the balance {balance:.2f}"}],
        )
    try:
        schedule = instalments(
            proposal.total, proposal.instalments, proposal.first_on, proposal.every_days
        )
    except ValueError as problem:
        raise ValidationFailed(str(problem), details=[{"field": "instalments"}]) from problem
    for on, amount in schedule:
        check_terms(amount, on, today)
    try:
        level = approval_needed(proposal.kind, balance, proposal.total, tiers)
    except BeyondApproval as beyond:
        raise PermissionDenied(str(beyond)) from beyond
    status = ArrangementStatus.active if level is ApprovalLevel.none else ArrangementStatus.proposed
    now = utcnow()
    try:
        async with conn.begin_nested():
            arrangement_id = (
                await conn.execute(
                    insert(Arrangement)
                    .values(
                        loan_id=loan.id,
                        kind=proposal.kind,
                        status=status,
                        balance=balance,
                        total=proposal.total,
                        discount=max(balance - proposal.total, Decimal(0)),
                        instalments=proposal.instalments,
                        approval=level,
                        note=proposal.note,
                        proposed_by=actor,
                        proposed_at=now,
                    )
                    .returning(Arrangement.id)
                )
            ).scalar_one()
    except IntegrityError as taken:
        raise Conflict(
            f"loan {proposal.loan_ref} already has an arrangement proposed or in force"
        ) from taken
    # The instalments are promises from the start: proposed until approved, so they suspend
    # nothing before then.
    for on, amount in schedule:
        await store_promise(
            conn,
            loan_id=loan.id,
            amount=amount,
            promised_on=on,
            made_on=today,
            status=PromiseStatus.pending
            if status is ArrangementStatus.active
            else PromiseStatus.proposed,
            source=PromiseSource.arrangement,
            actor=actor,
            actor_id=actor_id,
            arrangement_id=arrangement_id,
            note=f"instalment of arrangement {arrangement_id}",
        )
    await audit.record(
        conn,
        actor=actor,
        actor_id=actor_id,
        action="arrangement.proposed" if level is not ApprovalLevel.none else "arrangement.agreed",
        entity_type="loan",
        entity_ref=loan.loan_ref,
        details={
            "arrangement_id": arrangement_id,
            "before": None,
            "after": {"status": status.value, "approval": level.value},
            "kind": proposal.kind.value,
            "total": str(proposal.total),
            "balance": str(balance),
            "instalments": proposal.instalments,
        },
    )
    return await get_arrangement(conn, visible, arrangement_id)


async def decide(
    conn: AsyncConnection,
    visible: ColumnElement[bool],
    arrangement_id: int,
    *,
    approve: bool,
    actor: str,
    actor_id: int | None,
    role: str,
    note: str = "",
) -> dict[str, Any]:
    """Approve or reject a proposed arrangement: someone entitled at its level, and never its
    proposer (refused here with the rule, and by the database's CHECK should anything get
    past). Approval starts its instalments."""
    current = await get_arrangement(conn, visible, arrangement_id)
    if current["status"] != ArrangementStatus.proposed:
        raise Conflict(f"arrangement {arrangement_id} is {current['status']}, not proposed")
    if current["proposed_by"] == actor:
        raise Conflict(
            f"arrangement {arrangement_id} was proposed by {actor}: "
            "a different person must decide it (maker-checker)"
        )
    level = ApprovalLevel(current["approval"])
    if not may_approve(level, role):
        raise PermissionDenied(
            f"arrangement {arrangement_id} needs the approval of a {level.value}"
        )
    after = ArrangementStatus.active if approve else ArrangementStatus.rejected
    moved = await conn.execute(
        update(Arrangement)
        .where(Arrangement.id == arrangement_id, Arrangement.status == ArrangementStatus.proposed)
        .values(status=after, decided_by=actor, decided_at=utcnow(), decision_note=note)
    )
    if moved.rowcount != 1:
        raise Conflict(f"arrangement {arrangement_id} was decided meanwhile")
    await conn.execute(
        update(Promise)
        .where(Promise.arrangement_id == arrangement_id, Promise.status == PromiseStatus.proposed)
        .values(
            status=PromiseStatus.pending if approve else PromiseStatus.cancelled,
            decided_by=actor,
            updated_at=utcnow(),
        )
    )
    await audit.record(
        conn,
        actor=actor,
        actor_id=actor_id,
        action="arrangement.approved" if approve else "arrangement.rejected",
        entity_type="loan",
        entity_ref=current["loan_ref"],
        details={
            "arrangement_id": arrangement_id,
            "before": {"status": ArrangementStatus.proposed.value},
            "after": {"status": after.value},
            "note": note,
        },
    )
    return await get_arrangement(conn, visible, arrangement_id)


async def get_arrangement(
    conn: AsyncConnection, visible: ColumnElement[bool], arrangement_id: int
) -> dict[str, Any]:
    rows = await _arrangements(conn, visible, Arrangement.id == arrangement_id)
    if not rows:
        raise NotFound(f"arrangement {arrangement_id} not found")
    return rows[0]


async def list_arrangements(
    conn: AsyncConnection,
    visible: ColumnElement[bool],
    *,
    loan_ref: str | None = None,
    open_only: bool = False,
) -> list[dict[str, Any]]:
    conditions: list[ColumnElement[bool]] = []
    if loan_ref is not None:
        conditions.append(Loan.loan_ref == loan_ref)
    if open_only:
        conditions.append(Arrangement.status.in_(list(OPEN)))
    return await _arrangements(conn, visible, *conditions)


async def _arrangements(
    conn: AsyncConnection, visible: ColumnElement[bool], *where: ColumnElement[bool]
) -> list[dict[str, Any]]:
    rows = (
        await conn.execute(
            select(Arrangement, Loan.loan_ref)
            .join(Loan, Loan.id == Arrangement.loan_id)
            .join(Borrower, Borrower.id == Loan.borrower_id)
            .where(visible, *where)
            .order_by(Arrangement.id.desc())
            .limit(200)
        )
    ).all()
    if not rows:
        return []
    schedule: dict[int, list[dict[str, Any]]] = {row.id: [] for row in rows}
    for promise in await conn.execute(
        select(
            Promise.id,
            Promise.arrangement_id,
            Promise.promised_on,
            Promise.amount,
            Promise.status,
            Promise.paid_amount,
        )
        .where(Promise.arrangement_id.in_(list(schedule)))
        .order_by(Promise.promised_on, Promise.id)
    ):
        schedule[promise.arrangement_id].append(
            {
                "promise_id": promise.id,
                "due_on": promise.promised_on,
                "amount": promise.amount,
                "status": str(promise.status),
                "paid_amount": promise.paid_amount,
            }
        )
    return [arrangement_view(row, schedule[row.id]) for row in rows]
