"""What the planner reads of a day: the open loans some step could apply to, each with what the
steps' conditions and the messages need (next due date and amount, field visits of the current
lost-contact episode)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from service.db.models import (
    Borrower,
    Installment,
    Loan,
    LoanStatus,
    Promise,
    PromiseStatus,
    Task,
)
from service.domain.casework import TaskKind, TaskStatus
from service.domain.ptp import MISSED
from service.treatment.plans import StoredPlan
from strategies.treatment import TreatmentAccount

CHUNK = 2000
# How far back a missed promise is read (a plan's follow-up counts days since it was missed).
MISSED_DAYS = 31


@dataclasses.dataclass(frozen=True, slots=True)
class PromiseFacts:
    """The promise a message speaks of: the next pending one (a reminder), or the one just
    missed (the follow-up)."""

    promised_on: dt.date
    amount: Decimal
    paid: Decimal


@dataclasses.dataclass(slots=True)
class PlanRow:
    """One open loan on the planning day, with what the SMS text and the facts need."""

    account: TreatmentAccount
    name: str
    locale: str
    currency: str
    overdue_amount: Decimal
    due_on: dt.date | None
    amount_due: Decimal | None
    promise: PromiseFacts | None = None


async def accounts_on(
    conn: AsyncConnection, day: dt.date, plans: dict[str, StoredPlan], low: int, high: int
) -> list[PlanRow]:
    """The open loans with ids in [low, high) that some step could apply to on ``day``."""
    steps = [step for plan in plans.values() for step in plan.spec.steps]
    horizon = max([int(s.when.get("days_before_due", 0)) for s in steps] or [0])
    maturity_days = sorted(
        {int(s.when["days_before_maturity"]) for s in steps if "days_before_maturity" in s.when}
    )
    due: dict[int, tuple[dt.date, Decimal]] = {}
    unpaid = (
        Installment.principal_due
        + Installment.interest_due
        - Installment.principal_paid
        - Installment.interest_paid
    )
    for loan_id, due_on, amount in await conn.execute(
        select(Installment.loan_id, Installment.due_on, func.sum(unpaid))
        .where(
            Installment.loan_id >= low,
            Installment.loan_id < high,
            Installment.settled_on.is_(None),
            Installment.due_on.between(day, day + dt.timedelta(days=horizon)),
        )
        .group_by(Installment.loan_id, Installment.due_on)
    ):
        if loan_id not in due or due_on < due[loan_id][0]:
            due[loan_id] = (due_on, Decimal(amount))
    # Field visits of the current lost-contact episode that were closed (and how many failed).
    visits: dict[int, tuple[int, int]] = {
        loan_id: (int(failed or 0), int(closed))
        for loan_id, failed, closed in await conn.execute(
            select(
                Task.loan_id,
                func.sum(case((Task.status == TaskStatus.failed, 1), else_=0)),
                func.count(),
            )
            .join(Loan, Loan.id == Task.loan_id)
            .where(
                Task.loan_id >= low,
                Task.loan_id < high,
                Task.kind == TaskKind.field_visit,
                Task.status != TaskStatus.open,
                Task.due_on >= Loan.lost_contact_on,
            )
            .group_by(Task.loan_id)
        )
    }
    # The next pending promise of each loan, and the last one missed (a month back at most).
    promised: dict[int, PromiseFacts] = {}
    for loan_id, promised_on, amount, paid in await conn.execute(
        select(Promise.loan_id, Promise.promised_on, Promise.amount, Promise.paid_amount)
        .where(
            Promise.loan_id >= low,
            Promise.loan_id < high,
            Promise.status == PromiseStatus.pending,
            Promise.promised_on >= day,
        )
        .order_by(Promise.loan_id, Promise.promised_on.desc(), Promise.id.desc())
    ):
        promised[loan_id] = PromiseFacts(promised_on, amount, paid)  # the earliest comes last
    missed: dict[int, tuple[dt.date, PromiseFacts]] = {}
    for loan_id, settled_on, promised_on, amount, paid in await conn.execute(
        select(
            Promise.loan_id,
            Promise.settled_on,
            Promise.promised_on,
            Promise.amount,
            Promise.paid_amount,
        )
        .where(
            Promise.loan_id >= low,
            Promise.loan_id < high,
            Promise.status.in_(list(MISSED)),
            Promise.settled_on.between(day - dt.timedelta(days=MISSED_DAYS), day),
        )
        .order_by(Promise.loan_id, Promise.settled_on, Promise.id)
    ):
        if settled_on is not None:  # selected where set
            missed[loan_id] = (settled_on, PromiseFacts(promised_on, amount, paid))  # latest last
    wanted = or_(
        Loan.days_past_due > 0,
        Loan.lost_contact_on.is_not(None),
        Loan.risk_class == "loss",
        and_(Loan.maturity_on < day, Loan.outstanding > 0),
        Loan.maturity_on.in_([day + dt.timedelta(days=n) for n in maturity_days]),
    )
    query = (
        select(
            Loan.id,
            Loan.loan_ref,
            Loan.product,
            Loan.bucket,
            Loan.amount_tier,
            Loan.days_past_due,
            Loan.outstanding,
            Loan.risk_class,
            Loan.lost_contact_on,
            Loan.maturity_on,
            Loan.currency,
            Loan.overdue_amount,
            Borrower.name,
            Borrower.locale,
        )
        .join(Borrower, Borrower.id == Loan.borrower_id)
        # Positions of another day are not this day's: such loans wait for their COB.
        .where(
            Loan.id >= low,
            Loan.id < high,
            Loan.status == LoanStatus.open,
            Loan.state_as_of == day,
        )
    )
    rows: list[PlanRow] = []
    soon = sorted(set(due) | set(promised) | set(missed))
    seen: set[int] = set()
    for where in [wanted] + [Loan.id.in_(soon[i : i + CHUNK]) for i in range(0, len(soon), CHUNK)]:
        for r in await conn.execute(query.where(where).order_by(Loan.id)):
            if r.id in seen:
                continue
            seen.add(r.id)
            next_due = due.get(r.id)
            account = TreatmentAccount(
                loan_id=r.id,
                loan_ref=r.loan_ref,
                product=r.product,
                bucket=r.bucket,
                amount_tier=r.amount_tier,
                days_past_due=r.days_past_due,
                outstanding=r.outstanding,
                risk_class=r.risk_class,
                lost_contact=r.lost_contact_on is not None,
                days_to_due=(next_due[0] - day).days if next_due else None,
                days_to_maturity=(r.maturity_on - day).days,
                failed_visits=visits.get(r.id, (0, 0))[0],
                lost_since=r.lost_contact_on,
                closed_visits=visits.get(r.id, (0, 0))[1],
                days_to_promise=(promised[r.id].promised_on - day).days
                if r.id in promised
                else None,
                days_since_missed_promise=(day - missed[r.id][0]).days if r.id in missed else None,
            )
            just_missed = account.days_since_missed_promise == 0
            rows.append(
                PlanRow(
                    account,
                    r.name,
                    r.locale,
                    r.currency,
                    r.overdue_amount,
                    next_due[0] if next_due else None,
                    next_due[1] if next_due else None,
                    missed[r.id][1] if just_missed else promised.get(r.id),
                )
            )
    rows.sort(key=lambda row: row.account.loan_id)
    return rows
