"""Loading the facts the compliance guard decides from, and asking it about one contact.

The rules are pure (:mod:`service.domain.compliance`); this module reads the contact log,
opt-outs, holds, promises and the borrower's zone for one loan and party, in the caller's
transaction, and is what ``arrears check-contact``, the API and (next) the planner and the
dispatcher call.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from service.domain.compliance import (
    PROFILE_NAMES,
    Decision,
    Facts,
    Party,
    PastAttempt,
    Request,
    guard,
    load_profile,
)
from service.errors import NotFound, ValidationFailed
from service.models import (
    Attempt,
    Borrower,
    Contact,
    Hold,
    Loan,
    OptOut,
    PhoneKind,
    PhoneNumber,
    PhoneStatus,
    Promise,
    PromiseStatus,
)
from service.settings import Settings

# The guard looks this far back in the contact log: the longest rule spans 7 days.
HISTORY_DAYS = 14
# Holds that change the debtor's state for third-party rules rather than only blocking.
STATE_HOLDS = ("deceased", "incapacitated")


async def load_facts(
    conn: AsyncConnection,
    settings: Settings,
    *,
    loan_ref: str,
    party_ref: str,
    channel: str,
    at: dt.datetime,
    profile: str | None = None,
) -> Facts:
    """The facts for contacting ``party_ref`` ("debtor" or a contact_ref) about a loan at ``at``."""
    if channel not in ("call", "sms"):
        raise ValidationFailed("channel must be call or sms", details=[{"field": "channel"}])
    name = profile or settings.compliance_profile
    if name not in PROFILE_NAMES:
        raise ValidationFailed(
            f"profile must be one of {', '.join(PROFILE_NAMES)}", details=[{"field": "profile"}]
        )
    loan = (
        await conn.execute(
            select(
                Loan.id,
                Loan.lost_contact_on,
                Borrower.id.label("borrower_id"),
                Borrower.region,
                Borrower.timezone,
                Borrower.timezone_candidates,
                Borrower.sms_consent,
            )
            .join(Borrower, Borrower.id == Loan.borrower_id)
            .where(Loan.loan_ref == loan_ref)
        )
    ).one_or_none()
    if loan is None:
        raise NotFound(f"loan {loan_ref!r} not found")
    party, phone, consent, contact_id = await _party(conn, loan, party_ref)
    day = at.date()
    holds = set(
        (
            await conn.execute(
                select(Hold.code).where(
                    Hold.borrower_id == loan.borrower_id,
                    or_(Hold.loan_id.is_(None), Hold.loan_id == loan.id),
                    Hold.started_on <= day,
                    or_(Hold.ends_on.is_(None), Hold.ends_on >= day),
                )
            )
        ).scalars()
    )
    state = next((hold for hold in STATE_HOLDS if hold in holds), None)
    if state is None:
        state = "unreachable" if loan.lost_contact_on is not None else "reachable"
    promised = await conn.scalar(
        select(func.max(Promise.promised_on)).where(
            Promise.loan_id == loan.id, Promise.status == PromiseStatus.pending
        )
    )
    opted = (
        await conn.execute(select(OptOut.phone, OptOut.channel).where(OptOut.phone == phone))
        if phone
        else None
    )
    history = await _history(conn, loan.id, at)
    located = 0
    if contact_id is not None:
        located = int(
            await conn.scalar(
                select(func.count())
                .select_from(Attempt)
                .where(
                    Attempt.loan_id == loan.id,
                    Attempt.contact_id == contact_id,
                    Attempt.direction == "outbound",
                    Attempt.occurred_at <= at,
                )
            )
            or 0
        )
    zones = (
        (loan.timezone,)
        if loan.timezone
        else tuple(z for z in loan.timezone_candidates.split(";") if z)
    )
    return Facts(
        profile=load_profile(name, loan.region or None),
        lender_zone=settings.lender_timezone,
        debtor_zones=zones,
        party=party,
        phone=phone,
        history=history,
        sms_consent=consent,
        opted_out=frozenset((p, str(c)) for p, c in opted) if opted is not None else frozenset(),
        holds=frozenset(holds),
        promise_until=(
            promised + dt.timedelta(days=settings.promise_grace_days) if promised else None
        ),
        debtor_state=state,
        location_contacts_with_party=located,
    )


async def _party(
    conn: AsyncConnection, loan: Any, party_ref: str
) -> tuple[Party, str | None, bool, int | None]:
    """(party, number to contact, SMS consent, contact id) for "debtor" or a contact_ref."""
    if party_ref == "debtor":
        phone = await conn.scalar(
            select(PhoneNumber.e164)
            .where(
                PhoneNumber.borrower_id == loan.borrower_id,
                PhoneNumber.status == PhoneStatus.active,
                PhoneNumber.kind != PhoneKind.former,
            )
            .order_by(PhoneNumber.kind != PhoneKind.primary, PhoneNumber.id)
            .limit(1)
        )
        return Party("debtor", "debtor"), phone, bool(loan.sms_consent), None
    contact = (
        await conn.execute(
            select(Contact.id, Contact.phone, Contact.debt_related, Contact.refused_at).where(
                Contact.contact_ref == party_ref, Contact.borrower_id == loan.borrower_id
            )
        )
    ).one_or_none()
    if contact is None:
        # Not this borrower's contact: to the guard, an unrelated third party.
        return Party(party_ref, "unrelated"), None, False, None
    kind = "guarantor" if contact.debt_related else "emergency"
    # A third party never gave SMS consent here: texts to them are blocked (fail closed).
    return Party(party_ref, kind, contact.refused_at is not None), contact.phone, False, contact.id


async def _history(conn: AsyncConnection, loan_id: int, at: dt.datetime) -> tuple[PastAttempt, ...]:
    rows = await conn.execute(
        select(
            Attempt.occurred_at,
            Attempt.channel,
            Attempt.direction,
            Contact.contact_ref,
            Attempt.phone,
            Attempt.result,
        )
        .outerjoin(Contact, Contact.id == Attempt.contact_id)
        .where(
            and_(
                Attempt.loan_id == loan_id,
                Attempt.occurred_at <= at,
                Attempt.occurred_at > at - dt.timedelta(days=HISTORY_DAYS),
            )
        )
        .order_by(Attempt.occurred_at)
    )
    return tuple(
        PastAttempt(when, str(channel), str(direction), ref or "debtor", phone, str(result))
        for when, channel, direction, ref, phone, result in rows
    )


async def check_contact(
    conn: AsyncConnection,
    settings: Settings,
    *,
    loan_ref: str,
    party_ref: str,
    channel: str,
    at: dt.datetime,
    profile: str | None = None,
    automated: bool = False,
    purpose: str | None = None,
) -> Decision:
    """The guard's verdict on one contact, as ``arrears check-contact`` prints it.

    A third party's contact is for locating the debtor unless ``purpose`` says otherwise.
    """
    if at.tzinfo is None:
        raise ValidationFailed("the time needs an offset, e.g. 2026-11-24T22:05:00+08:00")
    facts = await load_facts(
        conn,
        settings,
        loan_ref=loan_ref,
        party_ref=party_ref,
        channel=channel,
        at=at,
        profile=profile,
    )
    chosen = purpose or (
        "collection" if facts.party.kind in ("debtor", "guarantor") else "location"
    )
    decision = guard(Request(channel, at, automated=automated, purpose=chosen), facts)
    if decision.next_allowed_at is not None:
        # In the asker's offset, so "08:00" reads as the debtor's 08:00 when they asked in it.
        later = decision.next_allowed_at.astimezone(at.tzinfo)
        decision = dataclasses.replace(decision, next_allowed_at=later)
    return decision
