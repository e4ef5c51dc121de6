"""Reading the portfolio: borrowers, loans with schedules and payments, summaries.

Every read takes the current user and sees only what :mod:`service.portfolio.visibility` lets
them see: a collector, the loans of their own queues.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from service.auth import CurrentUser
from service.db.models import (
    Borrower,
    Contact,
    Installment,
    Loan,
    LoanStatus,
    Payment,
    PhoneNumber,
)
from service.domain.delinquency import BucketScheme
from service.errors import NotFound
from service.portfolio.visibility import borrower_visible, loan_visible

MAX_PAGE = 500
_Query = TypeVar("_Query", bound=Select[*tuple[Any, ...]])


def _page(query: _Query, limit: int, offset: int) -> _Query:
    return query.limit(max(1, min(limit, MAX_PAGE))).offset(max(0, offset))


async def list_borrowers(
    conn: AsyncConnection, user: CurrentUser, *, search: str | None, limit: int, offset: int
) -> dict[str, Any]:
    condition = borrower_visible(user)
    if search:
        pattern = f"%{search}%"
        condition = and_(
            condition, or_(Borrower.borrower_ref.like(pattern), Borrower.name.like(pattern))
        )
    total = await conn.scalar(select(func.count()).select_from(Borrower).where(condition))
    rows = (
        await conn.execute(
            _page(select(Borrower).where(condition).order_by(Borrower.borrower_ref), limit, offset)
        )
    ).all()
    return {"total": total, "items": [_borrower_summary(row) for row in rows]}


def _borrower_summary(row: Any) -> dict[str, Any]:
    return {
        "borrower_ref": row.borrower_ref,
        "name": row.name,
        "locale": row.locale,
        "region": row.region,
        "timezone": row.timezone,
        "timezone_source": row.timezone_source,
        "sms_consent": row.sms_consent,
    }


async def get_borrower(conn: AsyncConnection, user: CurrentUser, ref: str) -> dict[str, Any]:
    row = (
        await conn.execute(
            select(Borrower).where(Borrower.borrower_ref == ref, borrower_visible(user))
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"borrower {ref!r} not found")
    phones = (
        await conn.execute(
            select(PhoneNumber).where(PhoneNumber.borrower_id == row.id).order_by(PhoneNumber.id)
        )
    ).all()
    contacts = (
        await conn.execute(
            select(Contact).where(Contact.borrower_id == row.id).order_by(Contact.contact_ref)
        )
    ).all()
    loans = (
        await conn.execute(
            select(Loan.loan_ref, Loan.status, Loan.principal, Loan.currency)
            .where(Loan.borrower_id == row.id, loan_visible(user))
            .order_by(Loan.loan_ref)
        )
    ).all()
    body = _borrower_summary(row)
    body.update(
        address=row.address,
        timezone_candidates=[z for z in row.timezone_candidates.split(";") if z],
        phones=[
            {"e164": p.e164, "kind": p.kind, "verified": p.verified, "status": p.status}
            for p in phones
        ],
        contacts=[
            {
                "contact_ref": c.contact_ref,
                "name": c.name,
                "relation": c.relation,
                "phone": c.phone,
                "debt_related": c.debt_related,
            }
            for c in contacts
        ],
        loans=[
            {
                "loan_ref": loan.loan_ref,
                "status": loan.status,
                "principal": loan.principal,
                "currency": loan.currency,
            }
            for loan in loans
        ],
    )
    return body


_LOAN_COLUMNS = (
    Loan.id,
    Loan.loan_ref,
    Borrower.borrower_ref,
    Loan.product,
    Loan.currency,
    Loan.principal,
    Loan.annual_rate,
    Loan.penalty_rate_daily,
    Loan.disbursed_on,
    Loan.maturity_on,
    Loan.status,
    Loan.queue_id,
    Loan.collector_id,
    Loan.state_as_of,
    Loan.days_past_due,
    Loan.bucket,
    Loan.amount_tier,
    Loan.risk_class,
    Loan.overdue_amount,
    Loan.outstanding,
    Loan.penalty_accrued,
    Loan.flags,
)


def _loan_summary(row: Any) -> dict[str, Any]:
    return {
        "loan_ref": row.loan_ref,
        "borrower_ref": row.borrower_ref,
        "product": row.product,
        "currency": row.currency,
        "principal": row.principal,
        "annual_rate": row.annual_rate,
        "penalty_rate_daily": row.penalty_rate_daily,
        "disbursed_on": row.disbursed_on,
        "maturity_on": row.maturity_on,
        "status": row.status,
        "position_as_of": row.state_as_of,
        "days_past_due": row.days_past_due,
        "bucket": row.bucket,
        "amount_tier": row.amount_tier,
        "classification": row.risk_class,
        "overdue_amount": row.overdue_amount,
        "outstanding": row.outstanding,
        "penalty_accrued": row.penalty_accrued,
        "flags": [flag for flag in row.flags.split(",") if flag],
    }


async def list_loans(
    conn: AsyncConnection,
    user: CurrentUser,
    *,
    borrower_ref: str | None,
    status: LoanStatus | None,
    limit: int,
    offset: int,
) -> dict[str, Any]:
    condition: ColumnElement[bool] = loan_visible(user)
    if borrower_ref:
        condition = and_(condition, Borrower.borrower_ref == borrower_ref)
    if status is not None:
        condition = and_(condition, Loan.status == status)
    base = select(*_LOAN_COLUMNS).join(Borrower, Borrower.id == Loan.borrower_id).where(condition)
    total = await conn.scalar(select(func.count()).select_from(base.subquery()))
    rows = (await conn.execute(_page(base.order_by(Loan.loan_ref), limit, offset))).all()
    return {"total": total, "items": [_loan_summary(row) for row in rows]}


async def visible_loan(conn: AsyncConnection, user: CurrentUser, ref: str) -> Any:
    row = (
        await conn.execute(
            select(*_LOAN_COLUMNS)
            .join(Borrower, Borrower.id == Loan.borrower_id)
            .where(Loan.loan_ref == ref, loan_visible(user))
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"loan {ref!r} not found")
    return row


async def get_loan(conn: AsyncConnection, user: CurrentUser, ref: str) -> dict[str, Any]:
    row = await visible_loan(conn, user, ref)
    schedule = (
        await conn.execute(
            select(Installment).where(Installment.loan_id == row.id).order_by(Installment.seq)
        )
    ).all()
    payments = (
        await conn.execute(
            select(Payment).where(Payment.loan_id == row.id).order_by(Payment.paid_on, Payment.id)
        )
    ).all()
    body = _loan_summary(row)
    body["schedule"] = [
        {
            "seq": i.seq,
            "due_on": i.due_on,
            "principal_due": i.principal_due,
            "interest_due": i.interest_due,
            "amount_due": i.principal_due + i.interest_due,
        }
        for i in schedule
    ]
    body["payments"] = [payment_summary(p, ref) for p in payments]
    body["paid_total"] = sum((p.amount for p in payments), Decimal("0.00"))
    return body


def payment_summary(row: Any, loan_ref: str) -> dict[str, Any]:
    return {
        "payment_ref": row.payment_ref,
        "loan_ref": loan_ref,
        "paid_on": row.paid_on,
        "amount": row.amount,
        "source": row.source,
    }


async def list_payments(
    conn: AsyncConnection,
    user: CurrentUser,
    *,
    loan_ref: str | None,
    since: dt.date | None,
    limit: int,
    offset: int,
) -> dict[str, Any]:
    condition: ColumnElement[bool] = loan_visible(user)
    if loan_ref:
        condition = and_(condition, Loan.loan_ref == loan_ref)
    if since:
        condition = and_(condition, Payment.paid_on >= since)
    base = select(Payment, Loan.loan_ref).join(Loan, Loan.id == Payment.loan_id).where(condition)
    total = await conn.scalar(select(func.count()).select_from(base.subquery()))
    rows = (
        await conn.execute(
            _page(base.order_by(Payment.paid_on.desc(), Payment.id.desc()), limit, offset)
        )
    ).all()
    return {"total": total, "items": [payment_summary(row, row.loan_ref) for row in rows]}


async def bucket_summary(
    conn: AsyncConnection, user: CurrentUser, edges: Sequence[int]
) -> list[dict[str, Any]]:
    """Open loans by bucket as of their last close of business: count and overdue amount, in
    the order of the configured bucket ``edges`` (labels from older edges last)."""
    rows = (
        await conn.execute(
            select(Loan.bucket, func.count(), func.sum(Loan.overdue_amount))
            .where(loan_visible(user), Loan.status == "open", Loan.state_as_of.is_not(None))
            .group_by(Loan.bucket)
        )
    ).all()
    order = {label: index for index, label in enumerate(BucketScheme(tuple(edges)).labels)}
    summary = [
        {
            "bucket": bucket,
            "loans": count,
            "overdue": Decimal(str(overdue or 0)).quantize(Decimal("0.01")),
        }
        for bucket, count, overdue in rows
    ]
    return sorted(summary, key=lambda item: order.get(item["bucket"], len(order)))


async def portfolio_counts(conn: AsyncConnection, user: CurrentUser) -> dict[str, int]:
    borrowers = await conn.scalar(
        select(func.count()).select_from(Borrower).where(borrower_visible(user))
    )
    loans = await conn.scalar(select(func.count()).select_from(Loan).where(loan_visible(user)))
    open_loans = await conn.scalar(
        select(func.count()).select_from(Loan).where(loan_visible(user), Loan.status == "open")
    )
    return {"borrowers": borrowers or 0, "loans": loans or 0, "open_loans": open_loans or 0}
