"""Recording a payment through the API, and the loan's position recomputed at once."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from service import audit
from service.auth import CurrentUser
from service.clock import utcnow
from service.cob.engine import refresh_loans
from service.db.models import Loan, Payment
from service.domain.delinquency import CobConfig
from service.errors import Conflict, ValidationFailed
from service.portfolio.reads import payment_summary, visible_loan


@dataclasses.dataclass(frozen=True, slots=True)
class NewPayment:
    """A payment as the lender reports it (amount positive, two decimals at most)."""

    payment_ref: str
    loan_ref: str
    paid_on: dt.date
    amount: Decimal


async def record_payment(
    conn: AsyncConnection,
    user: CurrentUser,
    payment: NewPayment,
    today: dt.date,
    config: CobConfig | None = None,
) -> tuple[dict[str, Any], bool]:
    """Record a payment and recompute the loan's position as of ``today`` at once.

    Returns (payment, created). The same ``payment_ref`` again with the same values is a no-op;
    with different values it is a conflict, never an overwrite: a payment once recorded is
    corrected by the lender's core system, not by a retry.
    """
    values = dataclasses.asdict(payment)
    if values["paid_on"] > today:
        raise ValidationFailed(
            "payment is dated in the future",
            details=[{"field": "paid_on", "reason": "date is in the future"}],
        )
    loan = await visible_loan(conn, user, values["loan_ref"])
    existing = (
        await conn.execute(
            select(Payment, Loan.loan_ref)
            .join(Loan, Loan.id == Payment.loan_id)
            .where(Payment.payment_ref == values["payment_ref"])
        )
    ).one_or_none()
    if existing is not None:
        same = (
            existing.loan_ref == values["loan_ref"]
            and existing.paid_on == values["paid_on"]
            and existing.amount == values["amount"]
        )
        if not same:
            raise Conflict(
                f"payment {values['payment_ref']!r} is already recorded with other values",
                details=payment_summary(existing, existing.loan_ref),
            )
        return payment_summary(existing, existing.loan_ref), False
    await conn.execute(
        insert(Payment).values(
            payment_ref=values["payment_ref"],
            loan_id=loan.id,
            paid_on=values["paid_on"],
            amount=values["amount"],
            source="api",
            created_at=utcnow(),
        )
    )
    await audit.record(
        conn,
        actor=user.username,
        actor_id=user.id,
        action="payment.recorded",
        entity_type="loan",
        entity_ref=values["loan_ref"],
        details={
            "payment_ref": values["payment_ref"],
            "paid_on": values["paid_on"].isoformat(),
            "amount": str(values["amount"]),
        },
    )
    await refresh_loans(conn, [loan.id], today, config)
    return {**values, "source": "api"}, True
