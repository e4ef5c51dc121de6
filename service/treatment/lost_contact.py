"""Lost contact (失联): marked where the plan's days of calls never reached the debtor, cleared
once they are reached; close of business runs it before assignment (a lost account routes to
field visits or an agency)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from service.clock import utcnow
from service.db.models import (
    Attempt,
    AuditEvent,
    Loan,
    LoanStatus,
    PhoneKind,
    PhoneNumber,
    PhoneStatus,
)
from service.db.models.contact import current
from service.domain.contact import AttemptResult, Channel, Direction
from service.treatment.plans import active_plans, install_default_plan, product_filter


async def mark_lost_contact(
    conn: AsyncConnection, day: dt.date, lender_zone: str, cob_time: dt.time
) -> tuple[int, int]:
    """Mark 失联 where the plan's days of calls never reached the debtor; clear it once they do.

    As known at ``day``'s close of business (``cob_time``, lender time): a back-filled night
    never sees a later call. Lost: overdue for at least calls.from_dpd + lost_contact.after_days,
    no conversation with the debtor (about any of their loans) in the last after_days whole days,
    and every known valid number of the debtor dialled in that time (or none left to dial).
    Reached: a conversation with the debtor since the day contact was lost, the loan back to
    current, or closed. The guard judges the same rule live (service.domain.compliance).
    """
    await install_default_plan(conn)
    plans = {stored.spec.portfolio: stored for stored in await active_plans(conn)}
    marked = cleared = 0
    zone = ZoneInfo(lender_zone)
    until = _utc(dt.datetime.combine(day, cob_time, zone))
    for portfolio, stored in plans.items():
        spec = stored.spec
        since = _utc(
            dt.datetime.combine(
                day - dt.timedelta(days=spec.lost_contact_after_days), dt.time(), zone
            )
        )
        known = (Attempt.occurred_at >= since, Attempt.occurred_at < until)
        talked = _debtor_attempts(Attempt.result == AttemptResult.conversation, *known)
        # A number of the debtor nobody dialled in that time: not lost yet.
        untried = (
            select(PhoneNumber.id)
            .where(
                PhoneNumber.borrower_id == Loan.borrower_id,
                PhoneNumber.status == PhoneStatus.active,
                PhoneNumber.kind != PhoneKind.former,
                ~_debtor_attempts(
                    Attempt.phone == PhoneNumber.e164,
                    Attempt.channel == Channel.call,
                    Attempt.direction == Direction.outbound,
                    *known,
                    # Correlated to the number's borrower, one level up (the loan being
                    # updated is two levels up, beyond SQL's automatic correlation).
                    borrower=PhoneNumber.borrower_id,
                ),
            )
            .exists()
        )
        products = product_filter(plans, portfolio)
        result = await conn.execute(
            update(Loan)
            .where(
                Loan.status == LoanStatus.open,
                Loan.lost_contact_on.is_(None),
                Loan.days_past_due >= spec.calls_from_dpd + spec.lost_contact_after_days,
                products,
                ~talked,
                ~untried,
            )
            .values(lost_contact_on=day)
            .returning(Loan.loan_ref)
        )
        lost = list(result.scalars())
        await _record(conn, "loan.lost_contact", lost, day, None, day)
        marked += len(lost)
        ended = (
            Loan.lost_contact_on.is_not(None),
            products,
            or_(Loan.status != LoanStatus.open, Loan.days_past_due == 0),
        )
        gone = (
            await conn.execute(
                select(Loan.loan_ref, Loan.lost_contact_on, Loan.status).where(*ended)
            )
        ).all()
        await conn.execute(update(Loan).where(*ended).values(lost_contact_on=None))
        by_episode: dict[tuple[dt.date | None, str], list[str]] = defaultdict(list)
        for ref, lost_on, status in gone:
            reason = "closed" if status != LoanStatus.open else "no longer overdue"
            by_episode[(lost_on, reason)].append(ref)
        for (lost_on, reason), refs in by_episode.items():
            await _record(conn, "loan.contact_regained", refs, day, lost_on, None, reason)
        cleared += len(gone)
        # Reached since: the lost date is a lender-local date, so each one is compared from its
        # own local midnight (one statement per episode start: there are few of them).
        episodes = await conn.execute(
            select(Loan.lost_contact_on)
            .where(Loan.lost_contact_on.is_not(None), products)
            .distinct()
        )
        for (lost_on,) in episodes.all():
            assert lost_on is not None  # selected where set
            start = _utc(dt.datetime.combine(lost_on, dt.time(), zone))
            reached = _debtor_attempts(
                Attempt.result == AttemptResult.conversation,
                Attempt.occurred_at >= start,
                Attempt.occurred_at < until,
            )
            result = await conn.execute(
                update(Loan)
                .where(Loan.lost_contact_on == lost_on, products, reached)
                .values(lost_contact_on=None)
                .returning(Loan.loan_ref)
            )
            found = list(result.scalars())
            await _record(
                conn, "loan.contact_regained", found, day, lost_on, None, "right-party contact"
            )
            cleared += len(found)
    return marked, cleared


async def _record(
    conn: AsyncConnection,
    action: str,
    loan_refs: list[str],
    day: dt.date,
    before: dt.date | None,
    after: dt.date | None,
    reason: str = "no right-party contact on any number over the days of calls",
) -> None:
    """The mark and its clearing on each account's timeline (one statement for many)."""
    if not loan_refs:
        return
    now = utcnow()
    await conn.execute(
        insert(AuditEvent),
        [
            {
                "occurred_at": now,
                "actor": "cob",
                "action": action,
                "entity_type": "loan",
                "entity_ref": ref,
                "details": {
                    "day": day.isoformat(),
                    "before": {"lost_contact_on": before.isoformat() if before else None},
                    "after": {"lost_contact_on": after.isoformat() if after else None},
                    "reason": reason,
                },
            }
            for ref in loan_refs
        ],
    )


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC)


def _debtor_attempts(*conditions: Any, borrower: Any = Loan.borrower_id) -> Any:
    """EXISTS: an attempt with the debtor themself (not a third party), about any of their
    loans, meeting ``conditions``; the debtor is ``borrower`` (default: the loan being
    updated's)."""
    other = aliased(Loan)
    return (
        select(Attempt.id)
        .join(other, other.id == Attempt.loan_id)
        .where(other.borrower_id == borrower, Attempt.contact_id.is_(None), current(), *conditions)
        .exists()
    )
