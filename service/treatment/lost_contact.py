"""Lost contact (失联): marked where the plan's days of calls never reached the debtor, cleared
once they are reached; close of business runs it before assignment (a lost account routes to
field visits or an agency)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from service.db.models import Attempt, Loan, LoanStatus, PhoneKind, PhoneNumber, PhoneStatus
from service.domain.contact import AttemptResult, Channel, Direction
from service.treatment.plans import active_plans, install_default_plan, product_filter


async def mark_lost_contact(
    conn: AsyncConnection, day: dt.date, lender_zone: str
) -> tuple[int, int]:
    """Mark 失联 where the plan's days of calls never reached the debtor; clear it once they do.

    Lost: overdue for at least calls.from_dpd + lost_contact.after_days, no conversation with the
    debtor (about any of their loans) in the last after_days whole days, and either calls to the
    debtor in that time or no number left to call. Reached: a conversation with the debtor since
    the day contact was lost, the loan back to current, or closed.
    """
    await install_default_plan(conn)
    plans = {stored.spec.portfolio: stored for stored in await active_plans(conn)}
    marked = cleared = 0
    zone = ZoneInfo(lender_zone)
    for portfolio, stored in plans.items():
        spec = stored.spec
        # The last after_days whole days (COB runs in the small hours of its day).
        since = dt.datetime.combine(
            day - dt.timedelta(days=spec.lost_contact_after_days), dt.time(), zone
        ).astimezone(dt.UTC)
        talked = _debtor_attempts(
            Attempt.result == AttemptResult.conversation, Attempt.occurred_at >= since
        )
        called = _debtor_attempts(
            Attempt.channel == Channel.call,
            Attempt.direction == Direction.outbound,
            Attempt.occurred_at >= since,
        )
        reached_since_lost = _debtor_attempts(
            Attempt.result == AttemptResult.conversation,
            Attempt.occurred_at >= Loan.lost_contact_on,
        )
        no_number = ~(
            select(PhoneNumber.id)
            .where(
                PhoneNumber.borrower_id == Loan.borrower_id,
                PhoneNumber.status == PhoneStatus.active,
                PhoneNumber.kind != PhoneKind.former,
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
                or_(called, no_number),
            )
            .values(lost_contact_on=day)
        )
        marked += result.rowcount
        result = await conn.execute(
            update(Loan)
            .where(
                Loan.lost_contact_on.is_not(None),
                products,
                or_(Loan.status != LoanStatus.open, Loan.days_past_due == 0, reached_since_lost),
            )
            .values(lost_contact_on=None)
        )
        cleared += result.rowcount
    return marked, cleared


def _debtor_attempts(*conditions: Any) -> Any:
    """EXISTS: an attempt with the debtor themself (not a third party), about any of their
    loans, meeting ``conditions`` (correlated to the loan being updated)."""
    other = aliased(Loan)
    return (
        select(Attempt.id)
        .join(other, other.id == Attempt.loan_id)
        .where(other.borrower_id == Loan.borrower_id, Attempt.contact_id.is_(None), *conditions)
        .exists()
    )
