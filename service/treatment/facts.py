"""The facts the compliance guard decides from, loaded from the database.

The rules are pure (:mod:`service.domain.compliance`); this module reads the contact log,
opt-outs, holds, promises and the borrower's zone for many loans at once (the planner, and
one at a time for :mod:`service.contact.checks`), in the caller's transaction. What a plan adds
(its calls a day) is handed in by the caller: the facts know nothing of plans.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from functools import cache
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from service.db import dialect
from service.db.models import (
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
from service.db.models.contact import current
from service.domain.compliance import (
    PROFILE_NAMES,
    Facts,
    Party,
    PastAttempt,
    Profile,
    load_profile,
)
from service.errors import ValidationFailed
from service.settings import Settings
from strategies.treatment import LOST_CONTACT_MAX_DAYS

# The guard looks this far back in the contact log: the caps span 7 days, reachability a plan's
# lost_contact.after_days (at most LOST_CONTACT_MAX_DAYS) and today.
HISTORY_DAYS = LOST_CONTACT_MAX_DAYS + 1
# The party of attempts about someone else's debt on the same number.
OTHER_PERSON = "~another-person"
# Loans per round trip when loading facts in bulk.
CHUNK = 1000


@dataclasses.dataclass(frozen=True, slots=True)
class LoanFacts:
    """What the guard needs about one loan and its borrower, whoever is contacted."""

    loan_id: int
    borrower_id: int
    product: str
    zones: tuple[str, ...]  # () unknown; one known; several ambiguous
    region: str
    sms_consent: bool
    debtor_phone: str | None  # the number to call: the primary, else the first other one
    debtor_numbers: tuple[str, ...]  # every known, valid number of the debtor
    holds: frozenset[str]
    promise_until: dt.date | None
    lost_contact_on: dt.date | None  # found lost (失联) by the last close of business
    history: tuple[PastAttempt, ...]


@cache
def profile_for(name: str, region: str) -> Profile:
    return load_profile(name, region or None)


def check_profile(name: str) -> None:
    if name not in PROFILE_NAMES:
        raise ValidationFailed(
            f"profile must be one of {', '.join(PROFILE_NAMES)}", details=[{"field": "profile"}]
        )


async def load_loan_facts(
    conn: AsyncConnection,
    settings: Settings,
    loan_ids: Sequence[int],
    at: dt.datetime,
    on: dt.date | None = None,
) -> dict[int, LoanFacts]:
    """The facts of many loans: the contact log up to ``at`` (of every loan of the borrower, so
    that caps per debtor and per number count them all), holds in force ``on`` that date (the
    contact's local date; default ``at``'s), a few set-based queries per chunk of loans."""
    found: dict[int, LoanFacts] = {}
    await dialect.custom_plans(conn)
    for start in range(0, len(loan_ids), CHUNK):
        chunk = loan_ids[start : start + CHUNK]
        found.update(await _load_chunk(conn, settings, chunk, at, on or at.date()))
    return found


async def _load_chunk(
    conn: AsyncConnection,
    settings: Settings,
    loan_ids: Sequence[int],
    at: dt.datetime,
    day: dt.date,
) -> dict[int, LoanFacts]:
    loans = (
        await conn.execute(
            select(
                Loan.id,
                Loan.borrower_id,
                Loan.product,
                Loan.lost_contact_on,
                Borrower.region,
                Borrower.timezone,
                Borrower.timezone_candidates,
                Borrower.sms_consent,
            )
            .join(Borrower, Borrower.id == Loan.borrower_id)
            .where(Loan.id.in_(loan_ids))
        )
    ).all()
    borrowers = sorted({row.borrower_id for row in loans})
    phones: dict[int, list[str]] = defaultdict(list)
    for borrower_id, e164 in await conn.execute(
        select(PhoneNumber.borrower_id, PhoneNumber.e164)
        .where(
            PhoneNumber.borrower_id.in_(borrowers),
            PhoneNumber.status == PhoneStatus.active,
            PhoneNumber.kind != PhoneKind.former,
        )
        .order_by(PhoneNumber.borrower_id, PhoneNumber.kind != PhoneKind.primary, PhoneNumber.id)
    ):
        phones[borrower_id].append(e164)
    holds: dict[tuple[int, int | None], set[str]] = defaultdict(set)
    for borrower_id, loan_id, code in await conn.execute(
        select(Hold.borrower_id, Hold.loan_id, Hold.code).where(
            Hold.borrower_id.in_(borrowers),
            Hold.started_on <= day,
            or_(Hold.ends_on.is_(None), Hold.ends_on >= day),
        )
    ):
        holds[(borrower_id, loan_id)].add(code)
    promised: dict[int, dt.date] = {
        loan_id: day_promised
        for loan_id, day_promised in await conn.execute(
            select(Promise.loan_id, func.max(Promise.promised_on))
            .where(
                Promise.loan_id.in_(loan_ids),
                Promise.status == PromiseStatus.pending,
                Promise.created_at <= at,  # as known then
            )
            .group_by(Promise.loan_id)
        )
    }
    # The borrower's whole contact log: caps per debtor and per number count every debt.
    history: dict[int, list[PastAttempt]] = defaultdict(list)
    for borrower_id, loan_id, when, channel, direction, ref, phone, outcome in await conn.execute(
        select(
            Loan.borrower_id,
            Attempt.loan_id,
            Attempt.occurred_at,
            Attempt.channel,
            Attempt.direction,
            Contact.contact_ref,
            Attempt.phone,
            Attempt.result,
        )
        .join(Loan, Loan.id == Attempt.loan_id)
        .outerjoin(Contact, Contact.id == Attempt.contact_id)
        .where(
            Loan.borrower_id.in_(borrowers),
            current(),
            Attempt.occurred_at <= at,
            Attempt.occurred_at > at - dt.timedelta(days=HISTORY_DAYS),
        )
        .order_by(Loan.borrower_id, Attempt.occurred_at, Attempt.id)
    ):
        history[borrower_id].append(
            PastAttempt(
                when,
                str(channel),
                str(direction),
                ref or "debtor",
                phone,
                str(outcome),
                debt=str(loan_id),
            )
        )
    # Dials to the same numbers about other people's debts (a shared or recycled number): they
    # count for the caps per number only (their party matches no one contacted here).
    numbers = sorted({found[0] for found in phones.values()})
    shared: dict[str, list[PastAttempt]] = defaultdict(list)
    for start in range(0, len(numbers), CHUNK):
        for loan_id, when, channel, direction, phone, outcome in await conn.execute(
            select(
                Attempt.loan_id,
                Attempt.occurred_at,
                Attempt.channel,
                Attempt.direction,
                Attempt.phone,
                Attempt.result,
            )
            .join(Loan, Loan.id == Attempt.loan_id)
            .where(
                Attempt.phone.in_(numbers[start : start + CHUNK]),
                Loan.borrower_id.not_in(borrowers),
                current(),
                Attempt.occurred_at <= at,
                Attempt.occurred_at > at - dt.timedelta(days=HISTORY_DAYS),
            )
        ):
            shared[phone].append(
                PastAttempt(
                    when,
                    str(channel),
                    str(direction),
                    OTHER_PERSON,
                    phone,
                    str(outcome),
                    debt=f"other:{loan_id}",
                )
            )
    grace = dt.timedelta(days=settings.promise_grace_days)
    lender = ZoneInfo(settings.lender_timezone)
    result: dict[int, LoanFacts] = {}
    for row in loans:
        promise = promised.get(row.id)
        numbers = phones.get(row.borrower_id, [])
        result[row.id] = LoanFacts(
            loan_id=row.id,
            borrower_id=row.borrower_id,
            product=row.product,
            zones=(
                (row.timezone,)
                if row.timezone
                else tuple(z for z in row.timezone_candidates.split(";") if z)
            ),
            region=row.region or "",
            sms_consent=bool(row.sms_consent),
            debtor_phone=numbers[0] if numbers else None,
            debtor_numbers=tuple(numbers),
            holds=frozenset(holds[(row.borrower_id, None)] | holds[(row.borrower_id, row.id)]),
            promise_until=promise + grace if promise else None,
            # Found lost by a night whose moment comes after ``at``: not known then.
            lost_contact_on=(
                row.lost_contact_on
                if row.lost_contact_on is not None
                and dt.datetime.combine(row.lost_contact_on, settings.cob_time, lender) <= at
                else None
            ),
            history=tuple(
                sorted(
                    history[row.borrower_id] + shared.get(numbers[0] if numbers else "", []),
                    key=lambda attempt: attempt.at,
                )
            ),
        )
    return result


async def opted_out(
    conn: AsyncConnection,
    phones: Iterable[str | None],
    at: dt.datetime,
    since: dt.datetime | None = None,
) -> frozenset[tuple[str, str]]:
    """(phone, channel) pairs among ``phones`` opted out at ``at`` — or at any moment from
    ``since`` to ``at`` (a day planned ahead: an opt-in later that day does not lift the earlier
    contacts). Opt-outs recorded after ``at`` are not known then."""
    wanted = sorted({p for p in phones if p})
    since = since or at
    pairs: set[tuple[str, str]] = set()
    for start in range(0, len(wanted), CHUNK):
        rows = await conn.execute(
            select(OptOut.phone, OptOut.channel).where(
                OptOut.phone.in_(wanted[start : start + CHUNK]),
                OptOut.opted_out_at <= at,
                or_(OptOut.opted_in_at.is_(None), OptOut.opted_in_at > since),
            )
        )
        pairs.update((phone, str(channel)) for phone, channel in rows)
    return frozenset(pairs)


def facts_for(
    loan: LoanFacts,
    profile: Profile,
    settings: Settings,
    opted: frozenset[tuple[str, str]],
    party: Party | None = None,
    phone: str | None = None,
    consent: bool | None = None,
    located: int = 0,
    plan_calls_per_day: int | None = None,
    lost_contact_days: int = 3,
) -> Facts:
    """The guard's facts for contacting the debtor (default) or a third party about a loan.

    ``phone``: the third party's number, or which of the debtor's numbers (default: the one the
    planner and dispatch use, the primary). What a plan adds is handed in:
    ``plan_calls_per_day``, the plan's calls a day to the debtor (applied with the profile's
    own cap, the lower wins), and ``lost_contact_days``, its days of calls without reaching the
    debtor that make them lost (失联).
    """
    debtor = party is None
    number = (phone or loan.debtor_phone) if debtor else phone
    if debtor and plan_calls_per_day is not None:
        caps = [c for c in (profile.calls_per_day, plan_calls_per_day) if c is not None]
        profile = dataclasses.replace(profile, calls_per_day=min(caps))
    return Facts(
        profile=profile,
        lender_zone=settings.lender_timezone,
        debtor_zones=loan.zones,
        party=Party("debtor", "debtor") if party is None else party,
        phone=number,
        history=loan.history,
        sms_consent=loan.sms_consent if consent is None else consent,
        opted_out=frozenset(
            (number, medium)
            for medium in ("call", "sms")
            if number is not None and (number, medium) in opted
        ),
        holds=loan.holds,
        promise_until=loan.promise_until,
        location_contacts_with_party=located,
        debt=str(loan.loan_id),
        debtor_numbers=loan.debtor_numbers,
        lost_contact_days=lost_contact_days,
        lost_contact_on=loan.lost_contact_on,
    )
