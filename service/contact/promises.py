"""Promises to pay (PTP) from every channel and person: a collector's (pending at once), a
keypad menu's (read back and confirmed: pending), a reply's (*proposed* until a collector
confirms or rejects it). A pending promise suspends automated dunning until its date plus
grace (DESIGN.md §3). Every change is audited with what it was before and after; states move
forward only (service.domain.ptp), and the payments decide the rest
(service.contact.promise_keeping).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from service import audit
from service.clock import utcnow
from service.contact import log
from service.contact.accounts import loan_in_view
from service.db.models import Borrower, Loan, Promise, PromiseStatus
from service.domain.contact import PromiseSource
from service.domain.ptp import MOVES, terms_problems
from service.errors import Conflict, NotFound, ValidationFailed

# Who the audit log names for what arrives through Twilio's webhooks.
ACTOR = "twilio"


def promise_view(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "loan_ref": row.loan_ref,
        "amount": row.amount,
        "promised_on": row.promised_on,
        "status": str(row.status),
        "source": row.source,
        "paid_amount": row.paid_amount,
        "settled_on": row.settled_on,
        "made_on": row.made_on,
        "created_by": row.created_by,
        "decided_by": row.decided_by,
        "collector_id": row.collector_id,
        "arrangement_id": row.arrangement_id,
        "attempt_id": row.attempt_id,
        "note": row.note,
        "created_at": row.created_at,
    }


def _promises() -> Any:
    return select(Promise, Loan.loan_ref).join(Loan, Loan.id == Promise.loan_id)


async def store_promise(
    conn: AsyncConnection,
    *,
    loan_id: int,
    amount: Decimal,
    promised_on: dt.date,
    made_on: dt.date,
    status: PromiseStatus,
    source: PromiseSource | str,
    actor: str,
    attempt_id: int | None = None,
    arrangement_id: int | None = None,
    note: str = "",
    actor_id: int | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Store one promise (the caller has checked it) and audit it. The account's collector
    owns it and takes it over on a handover; ``attempt_id`` names the contact it was made in
    (its first revision: what was learnt of the contact since does not change which it was)."""
    loan = (
        await conn.execute(select(Loan.loan_ref, Loan.collector_id).where(Loan.id == loan_id))
    ).one()
    if attempt_id is not None:
        attempt_id = await log.first_revision(conn, attempt_id)
    # When it was taken, by the caller's clock: the guard's facts read promises as known then.
    now = now or utcnow()
    promise_id = (
        await conn.execute(
            insert(Promise)
            .values(
                loan_id=loan_id,
                collector_id=loan.collector_id,
                amount=amount,
                promised_on=promised_on,
                made_on=made_on,
                status=status,
                source=str(source),
                attempt_id=attempt_id,
                arrangement_id=arrangement_id,
                note=note,
                created_by=actor,
                created_at=now,
                updated_at=now,
            )
            .returning(Promise.id)
        )
    ).scalar_one()
    await audit.record(
        conn,
        actor=actor,
        actor_id=actor_id,
        action=f"promise.{status.value}",
        entity_type="loan",
        entity_ref=loan.loan_ref,
        details={
            "promise_id": promise_id,
            "before": None,
            "after": {
                "status": status.value,
                "amount": str(amount),
                "promised_on": promised_on.isoformat(),
            },
            "source": str(source),
            "attempt_id": attempt_id,
            "arrangement_id": arrangement_id,
        },
    )
    return int(promise_id)


def check_terms(amount: Decimal, promised_on: dt.date, today: dt.date) -> None:
    """A promise a person takes: refused with every reason it is not one a debtor can make."""
    problems = terms_problems(amount, promised_on, today)
    if problems:
        raise ValidationFailed(
            "the promise's terms are not ones a debtor can make", details=problems
        )


async def take_promise(
    conn: AsyncConnection,
    visible: ColumnElement[bool],
    *,
    loan_ref: str,
    amount: Decimal,
    promised_on: dt.date,
    today: dt.date,
    actor: str,
    actor_id: int | None,
    attempt_id: int | None = None,
    note: str = "",
    now: dt.datetime | None = None,
    source: PromiseSource = PromiseSource.collector,
) -> dict[str, Any]:
    """A promise a collector takes on a call (or a visit): pending at once."""
    check_terms(amount, promised_on, today)
    loan = await loan_in_view(conn, visible, loan_ref, open_for="nothing is owed on it to promise")
    promise_id = await store_promise(
        conn,
        loan_id=loan.id,
        amount=amount,
        promised_on=promised_on,
        made_on=today,
        status=PromiseStatus.pending,
        source=source,
        actor=actor,
        actor_id=actor_id,
        attempt_id=attempt_id,
        note=note,
        now=now,
    )
    return await get_promise(conn, visible, promise_id)


async def get_promise(
    conn: AsyncConnection, visible: ColumnElement[bool], promise_id: int
) -> dict[str, Any]:
    row = (
        await conn.execute(
            _promises()
            .join(Borrower, Borrower.id == Loan.borrower_id)
            .where(Promise.id == promise_id, visible)
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"promise {promise_id} not found")
    return promise_view(row)


async def list_promises(
    conn: AsyncConnection,
    visible: ColumnElement[bool],
    *,
    loan_ref: str | None = None,
    status: str | None = None,
    source: str | None = None,
    due_by: dt.date | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Promises on the accounts the caller may see, by date: ``source`` (a PromiseSource)
    only those taken there; ``due_by`` only those promised for that day or before."""
    query = _promises().join(Borrower, Borrower.id == Loan.borrower_id).where(visible)
    if loan_ref is not None:
        query = query.where(Loan.loan_ref == loan_ref)
    if status is not None:
        query = query.where(Promise.status == PromiseStatus(status))
    if source is not None:
        query = query.where(Promise.source == str(source))
    if due_by is not None:
        query = query.where(Promise.promised_on <= due_by)
    query = query.order_by(Promise.promised_on, Promise.id).limit(limit).offset(offset)
    return [promise_view(row) for row in await conn.execute(query)]


async def move_promise(
    conn: AsyncConnection,
    visible: ColumnElement[bool],
    promise_id: int,
    to: PromiseStatus,
    *,
    actor: str,
    actor_id: int | None,
    reason: str = "",
) -> dict[str, Any]:
    """A person's decision on a promise: confirm a proposed one (→ pending), reject it or drop
    a pending one (→ cancelled). Forward only; the move is conditional on the state read, so
    two people deciding at once cannot both win."""
    current = await get_promise(conn, visible, promise_id)
    before = PromiseStatus(current["status"])
    if to not in MOVES[before]:
        raise Conflict(f"promise {promise_id} is {before.value}: it cannot become {to.value}")
    if to not in (PromiseStatus.pending, PromiseStatus.cancelled):
        raise ValidationFailed("payments decide whether a promise was kept, not a person")
    moved = await conn.execute(
        update(Promise)
        .where(Promise.id == promise_id, Promise.status == before)
        .values(status=to, decided_by=actor, updated_at=utcnow())
    )
    if moved.rowcount != 1:
        raise Conflict(f"promise {promise_id} was decided meanwhile")
    verb = {
        (PromiseStatus.proposed, PromiseStatus.pending): "confirmed",
        (PromiseStatus.proposed, PromiseStatus.cancelled): "rejected",
    }.get((before, to), to.value)
    await audit.record(
        conn,
        actor=actor,
        actor_id=actor_id,
        action=f"promise.{verb}",
        entity_type="loan",
        entity_ref=current["loan_ref"],
        details={
            "promise_id": promise_id,
            "before": {"status": before.value},
            "after": {"status": to.value},
            "reason": reason,
        },
    )
    return {**current, "status": to.value, "decided_by": actor}


async def propose_from_reply(
    conn: AsyncConnection,
    *,
    loan_id: int,
    attempt_id: int,
    amount: Decimal,
    promised_on: dt.date,
    made_on: dt.date,
    note: str,
    now: dt.datetime | None = None,
) -> int:
    """A reply read as a promise: stored ``proposed`` with the reply's words, for a collector
    to confirm. (The caller stores one per inbound text: the text's attempt is logged once.)"""
    return await store_promise(
        conn,
        loan_id=loan_id,
        attempt_id=attempt_id,
        amount=amount,
        promised_on=promised_on,
        made_on=made_on,
        status=PromiseStatus.proposed,
        source=PromiseSource.sms,
        actor=ACTOR,
        note=note,
        now=now,
    )


async def record_ivr_promise(
    conn: AsyncConnection,
    *,
    loan_id: int,
    attempt_id: int | None,
    amount: Decimal,
    promised_on: dt.date,
    made_on: dt.date,
    now: dt.datetime | None = None,
) -> tuple[int, bool]:
    """A promise confirmed on a call's keypad menu: ``pending`` at once. One per call — a
    confirmation Twilio delivers twice finds the first. Returns (its id, whether it is new)."""
    if attempt_id is not None:
        attempt_id = await log.first_revision(conn, attempt_id)
        existing = await conn.scalar(
            select(Promise.id).where(
                Promise.attempt_id == attempt_id, Promise.source == PromiseSource.ivr.value
            )
        )
        if existing is not None:
            return int(existing), False
    promise_id = await store_promise(
        conn,
        loan_id=loan_id,
        attempt_id=attempt_id,
        amount=amount,
        promised_on=promised_on,
        made_on=made_on,
        status=PromiseStatus.pending,
        source=PromiseSource.ivr,
        actor=ACTOR,
        note="keyed in on the call's menu, read back and confirmed",
        now=now,
    )
    return promise_id, True
