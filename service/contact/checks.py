"""Asking the compliance guard about one contact: ``arrears check-contact`` and
``POST /api/compliance/check``, for the debtor or a third party, at any moment.

The facts come from :mod:`service.treatment.facts`; the plan in force adds its calls a day to
the debtor. Dispatch will ask the same question right before sending (DESIGN.md §3).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from service.db.models import Attempt, Contact, Loan
from service.domain.compliance import Decision, Facts, Party, Profile, Request, guard
from service.domain.contact import PHONE_CHANNELS
from service.domain.dates import EARLIEST_DATE, LATEST_DATE, in_calendar
from service.errors import NotFound, ValidationFailed
from service.settings import Settings
from service.treatment.facts import (
    LoanFacts,
    check_profile,
    facts_for,
    load_loan_facts,
    opted_out,
    profile_for,
)
from service.treatment.plans import plan_for, plans_by_portfolio


@dataclasses.dataclass(frozen=True, slots=True)
class LoanContext:
    """One loan's facts at a moment, with the profile in force for its borrower and what the
    plan in force adds (its calls a day to the debtor, its days that make a debtor lost)."""

    loan: LoanFacts
    profile: Profile
    plan_calls_per_day: int | None
    lost_contact_days: int


async def loan_context(
    conn: AsyncConnection,
    settings: Settings,
    loan_id: int,
    at: dt.datetime,
    profile: str | None = None,
) -> LoanContext:
    """The facts of one loan at ``at``, as known then, with the holds in force on the debtor's
    date (not the asker's)."""
    name = profile or settings.compliance_profile
    check_profile(name)
    # Read once on the lender's date (most debtors live on it), again only when the debtor's
    # zone puts them on another day.
    guess = _debtor_date((), settings.lender_timezone, at)
    loan = (await load_loan_facts(conn, settings, [loan_id], at, on=guess))[loan_id]
    local = _debtor_date(loan.zones, settings.lender_timezone, at)
    if local != guess:
        loan = (await load_loan_facts(conn, settings, [loan_id], at, on=local))[loan_id]
    plan = plan_for(await plans_by_portfolio(conn), loan.product)
    return LoanContext(
        loan=loan,
        profile=profile_for(name, loan.region),
        plan_calls_per_day=plan.spec.calls_per_day if plan is not None else None,
        lost_contact_days=plan.spec.lost_contact_after_days if plan is not None else 3,
    )


async def facts_about(
    conn: AsyncConnection,
    settings: Settings,
    context: LoanContext,
    *,
    loan_ref: str,
    party_ref: str,
    at: dt.datetime,
    phone: str | None = None,
) -> Facts:
    """The guard's facts for contacting ``party_ref`` ("debtor" in any case, or a contact_ref of
    the loan's borrower) at ``at``; ``phone``: which of the debtor's numbers (default: the one
    dispatch uses, the primary)."""
    loan = context.loan
    if party_ref.lower() == "debtor":
        opted = await opted_out(conn, [phone or loan.debtor_phone], at)
        return facts_for(
            loan,
            context.profile,
            settings,
            opted,
            phone=phone,
            plan_calls_per_day=context.plan_calls_per_day,
            lost_contact_days=context.lost_contact_days,
        )
    party, number, contact_id = await _third_party(conn, loan, loan_ref, party_ref)
    # "Once per person" (US): every earlier contact with them, about any of the debtor's debts.
    located = int(
        await conn.scalar(
            select(func.count())
            .select_from(Attempt)
            .where(
                Attempt.contact_id == contact_id,
                Attempt.direction == "outbound",
                Attempt.occurred_at <= at,
            )
        )
        or 0
    )
    opted = await opted_out(conn, [number], at)
    # A third party never gave SMS consent here: texts to them are blocked (fail closed).
    return facts_for(
        loan,
        context.profile,
        settings,
        opted,
        party,
        number,
        False,
        located,
        lost_contact_days=context.lost_contact_days,
    )


def purpose_for(party_kind: str) -> str:
    """What a contact is for when the asker does not say: collecting from the debtor or a
    guarantor, locating the debtor through anyone else."""
    return "collection" if party_kind in ("debtor", "guarantor") else "location"


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
    """The facts for contacting ``party_ref`` ("debtor" in any case, or a contact_ref of the
    loan's borrower) about a loan at ``at``, as known then."""
    if channel not in set(PHONE_CHANNELS):
        raise ValidationFailed("channel must be call or sms", details=[{"field": "channel"}])
    if not in_calendar(at.date()):
        # The guard would fail closed on such a moment; the asker more likely mistyped it.
        raise ValidationFailed(
            f"at must be in the years {EARLIEST_DATE.year} to {LATEST_DATE.year}",
            details=[{"field": "at"}],
        )
    check_profile(profile or settings.compliance_profile)
    loan_id = await conn.scalar(select(Loan.id).where(Loan.loan_ref == loan_ref))
    if loan_id is None:
        raise NotFound(f"loan {loan_ref!r} not found")
    context = await loan_context(conn, settings, loan_id, at, profile)
    return await facts_about(conn, settings, context, loan_ref=loan_ref, party_ref=party_ref, at=at)


def _debtor_date(zones: Sequence[str], lender_zone: str, at: dt.datetime) -> dt.date:
    """``at``'s date where the debtor is (their first candidate zone, else the lender's)."""
    for name in [*zones[:1], lender_zone]:
        try:
            return at.astimezone(ZoneInfo(name)).date()
        except (ZoneInfoNotFoundError, ValueError, OSError):
            continue
    return at.date()


async def _third_party(
    conn: AsyncConnection, loan: LoanFacts, loan_ref: str, party_ref: str
) -> tuple[Party, str | None, int]:
    contact = (
        await conn.execute(
            select(Contact.id, Contact.phone, Contact.debt_related, Contact.refused_at).where(
                Contact.contact_ref == party_ref, Contact.borrower_id == loan.borrower_id
            )
        )
    ).one_or_none()
    if contact is None:
        # Naming someone who is not this borrower's contact is a mistake to point out, not a
        # person to judge (the guard would call them an unrelated third party).
        raise NotFound(f"no contact {party_ref!r} for loan {loan_ref}")
    kind = "guarantor" if contact.debt_related else "emergency"
    return Party(party_ref, kind, contact.refused_at is not None), contact.phone, contact.id


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
    chosen = purpose or purpose_for(facts.party.kind)
    decision = guard(Request(channel, at, automated=automated, purpose=chosen), facts)
    if decision.next_allowed_at is not None:
        # In the asker's offset, so "08:00" reads as the debtor's 08:00 when they asked in it.
        later = decision.next_allowed_at.astimezone(at.tzinfo)
        decision = dataclasses.replace(decision, next_allowed_at=later)
    return decision
