"""Each number of an account, and whether it may be called or texted now: the compliance guard
asked for every number of the borrower and of each of their contacts, on both media, with the
facts as they stand (the same facts dispatch gathers: :mod:`service.contact.checks`).

A number marked invalid (not in service, wrong) is shown, never asked about: nothing dials it
(``number_invalid``). A collector sees only the accounts of their queues (``visible``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncConnection

from service.contact.accounts import loan_in_view
from service.contact.checks import LoanContext, facts_about, loan_context, purpose_for
from service.db.models import Contact, PhoneKind, PhoneNumber, PhoneStatus
from service.domain.compliance import Decision, Facts, Request, Verdict, guard
from service.domain.contact import NUMBER_INVALID, Channel
from service.domain.phones import mask
from service.errors import Conflict, ValidationFailed
from service.settings import Settings


class ContactRefused(Conflict):
    """The guard (or the number) does not let this contact go now: ``decision`` says why."""

    def __init__(self, message: str, decision: Decision) -> None:
        super().__init__(message, details=decision.as_dict())
        self.decision = decision


@dataclasses.dataclass(frozen=True, slots=True)
class NumberState:
    """One number of an account and the guard's verdict on each medium at the moment asked."""

    party: str  # "debtor" or a contact_ref
    party_kind: str  # debtor | guarantor | emergency
    name: str | None  # a contact's name (the debtor's is the account's)
    relation: str  # a contact's relation to the debtor ("" for the debtor)
    phone: str
    line: str  # primary | alt (the debtor's) | contact
    valid: bool
    call: Decision
    sms: Decision
    refused: bool = False  # a third party who asked never to be contacted again

    def decision(self, channel: str) -> Decision:
        return self.call if channel == Channel.call else self.sms

    @property
    def reachable(self) -> bool:
        """Whether a collector has reason to see the whole number: it may be contacted on some
        medium, now or later. An emergency contact while the debtor is reachable, a refused or
        unrelated third party, are not to be contacted at all: masked."""
        if self.party_kind in ("debtor", "guarantor"):
            return True
        return any(d.verdict is not Verdict.block for d in (self.call, self.sms))


@dataclasses.dataclass(frozen=True, slots=True)
class Reach:
    """An account's numbers at ``at``; ``zone``: where the debtor's clock is read (their zone,
    else the lender's), so "until 08:00" is the debtor's 08:00."""

    loan_id: int
    loan_ref: str
    at: dt.datetime
    zone: str
    numbers: tuple[NumberState, ...]


def display_zone(zones: Sequence[str], lender_zone: str) -> str:
    """The zone a debtor's times are shown in: their first candidate zone, else the lender's."""
    for name in [*zones[:1], lender_zone]:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            continue
        return name
    return "UTC"


def person_request(facts: Facts, channel: str, at: dt.datetime) -> Request:
    """A person's contact (a collector's, not automated dunning) of ``facts``' party on
    ``channel`` at ``at``, for what their kind of party may be contacted for."""
    return Request(channel, at, automated=False, purpose=purpose_for(facts.party.kind))


def ask(facts: Facts, channel: str, at: dt.datetime) -> Decision:
    """The guard's verdict on :func:`person_request`."""
    return guard(person_request(facts, channel, at), facts)


_INVALID = Decision(Verdict.block, (NUMBER_INVALID,))


async def reach(
    conn: AsyncConnection,
    settings: Settings,
    visible: ColumnElement[bool],
    loan_ref: str,
    at: dt.datetime,
) -> Reach:
    """Every number of the account ``loan_ref`` and the guard's verdict on calling and texting
    it at ``at``; NotFound when ``visible`` does not let the caller see the account."""
    if at.tzinfo is None:
        raise ValidationFailed("the moment needs its offset")
    loan = await loan_in_view(conn, visible, loan_ref)
    context = await loan_context(conn, settings, loan.id, at)
    states: list[NumberState] = []
    phones = (
        await conn.execute(
            select(PhoneNumber.e164, PhoneNumber.kind, PhoneNumber.status)
            .where(
                PhoneNumber.borrower_id == loan.borrower_id,
                # Former numbers are the contact log's; the lender no longer lists them.
                PhoneNumber.kind != PhoneKind.former,
            )
            .order_by(PhoneNumber.kind != PhoneKind.primary, PhoneNumber.id)
        )
    ).all()
    for phone, kind, status in phones:
        valid = status is PhoneStatus.active and phone in context.loan.debtor_numbers
        if valid:
            facts = await facts_about(
                conn, settings, context, loan_ref=loan_ref, party_ref="debtor", at=at, phone=phone
            )
            call, sms = ask(facts, Channel.call, at), ask(facts, Channel.sms, at)
        else:
            call = sms = _INVALID
        states.append(NumberState("debtor", "debtor", None, "", phone, str(kind), valid, call, sms))
    states.extend(await _contacts(conn, settings, context, loan.borrower_id, loan_ref, at))
    zone = display_zone(context.loan.zones, settings.lender_timezone)
    return Reach(loan.id, loan.loan_ref, at, zone, tuple(states))


async def _contacts(
    conn: AsyncConnection,
    settings: Settings,
    context: LoanContext,
    borrower_id: int,
    loan_ref: str,
    at: dt.datetime,
) -> list[NumberState]:
    contacts = (
        await conn.execute(
            select(
                Contact.contact_ref,
                Contact.name,
                Contact.relation,
                Contact.phone,
                Contact.debt_related,
                Contact.refused_at,
            )
            .where(Contact.borrower_id == borrower_id, Contact.phone.is_not(None))
            # Guarantors first: the ones who may be asked to pay.
            .order_by(Contact.debt_related.desc(), Contact.id)
        )
    ).all()
    states: list[NumberState] = []
    for contact in contacts:
        facts = await facts_about(
            conn, settings, context, loan_ref=loan_ref, party_ref=contact.contact_ref, at=at
        )
        states.append(
            NumberState(
                party=contact.contact_ref,
                party_kind=facts.party.kind,
                name=contact.name,
                relation=contact.relation or "",
                phone=contact.phone,
                line="contact",
                valid=True,
                call=ask(facts, Channel.call, at),
                sms=ask(facts, Channel.sms, at),
                refused=contact.refused_at is not None,
            )
        )
    return states


def as_dict(state: NumberState, *, shown: bool) -> dict[str, Any]:
    """A number as the API answers it: the whole number only when it is ``shown``."""
    return {
        "party": state.party,
        "party_kind": state.party_kind,
        "name": state.name,
        "relation": state.relation,
        "phone": state.phone if shown else None,
        "masked": mask(state.phone),
        "line": state.line,
        "valid": state.valid,
        "call": state.call.as_dict(),
        "sms": state.sms.as_dict(),
    }
