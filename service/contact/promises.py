"""Storing promises to pay taken by the channels: *proposed* from a reply that reads as one (a
collector confirms or drops it), *pending* from a promise keyed in on a call's menu, read back
and confirmed (it suspends automated dunning at once, DESIGN.md §3). Each is audited."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from service import audit
from service.clock import utcnow
from service.contact import log
from service.db.models import Loan, Promise, PromiseStatus
from service.domain.contact import PromiseSource

# Who the audit log names for what arrives through Twilio's webhooks.
ACTOR = "twilio"


async def _store(
    conn: AsyncConnection,
    *,
    loan_id: int,
    attempt_id: int | None,
    amount: Decimal,
    promised_on: dt.date,
    status: PromiseStatus,
    source: PromiseSource,
    note: str,
) -> int:
    loan = (
        await conn.execute(select(Loan.loan_ref, Loan.collector_id).where(Loan.id == loan_id))
    ).one()
    if attempt_id is not None:
        attempt_id = await log.first_revision(conn, attempt_id)
    now = utcnow()
    promise_id = (
        await conn.execute(
            insert(Promise)
            .values(
                loan_id=loan_id,
                # The account's collector owns it (and takes it over on a handover).
                collector_id=loan.collector_id,
                amount=amount,
                promised_on=promised_on,
                status=status,
                source=source.value,
                attempt_id=attempt_id,
                note=note,
                created_at=now,
                updated_at=now,
            )
            .returning(Promise.id)
        )
    ).scalar_one()
    await audit.record(
        conn,
        actor=ACTOR,
        action=f"promise.{status.value}",
        entity_type="loan",
        entity_ref=loan.loan_ref,
        details={
            "promise_id": promise_id,
            "amount": str(amount),
            "promised_on": promised_on.isoformat(),
            "source": source.value,
            "attempt_id": attempt_id,
        },
    )
    return int(promise_id)


async def propose_from_reply(
    conn: AsyncConnection,
    *,
    loan_id: int,
    attempt_id: int,
    amount: Decimal,
    promised_on: dt.date,
    note: str,
) -> int:
    """A reply read as a promise: stored ``proposed`` with the reply's words, for a collector
    to confirm. (The caller stores one per inbound text: the text's attempt is logged once.)"""
    return await _store(
        conn,
        loan_id=loan_id,
        attempt_id=attempt_id,
        amount=amount,
        promised_on=promised_on,
        status=PromiseStatus.proposed,
        source=PromiseSource.sms,
        note=note,
    )


async def record_ivr_promise(
    conn: AsyncConnection,
    *,
    loan_id: int,
    attempt_id: int | None,
    amount: Decimal,
    promised_on: dt.date,
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
    promise_id = await _store(
        conn,
        loan_id=loan_id,
        attempt_id=attempt_id,
        amount=amount,
        promised_on=promised_on,
        status=PromiseStatus.pending,
        source=PromiseSource.ivr,
        note="keyed in on the call's menu, read back and confirmed",
    )
    return promise_id, True
