"""The portfolio over the API: borrowers, loans with their schedules, payments, loan events.

A collector sees only the accounts of their queues (and those accounts' borrowers); anything
else answers 404, as if it did not exist.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from aiohttp import web
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from service.auth import CurrentUser
from service.clock import lender_today
from service.contact.promise_keeping import keep_promises
from service.db.models import Loan, LoanStatus, PhoneKind, PhoneStatus, TimezoneSource
from service.domain.delinquency import RiskClass
from service.portfolio import payments, reads
from service.portfolio.events import (
    MAX_EXTENSION_MONTHS,
    EventType,
    ScheduleChange,
    apply_event,
)
from service.settings import Settings
from service.web.api.framework import STAFF, Api, In, Out, Reply, TextIn
from service.web.api.schemas import (
    Day,
    Limit,
    Money,
    MoneyIn,
    Offset,
    Page,
    PositiveMoneyIn,
    Rate,
    Ref,
    Text,
)
from service.web.keys import CLOCK, ENGINE, SETTINGS

api = Api("portfolio")

Classification = Annotated[
    str, Field(json_schema_extra={"enum": [risk.name for risk in RiskClass]})
]


class RefPath(TextIn):
    ref: Ref


class BorrowerQuery(TextIn):
    q: str | None = Field(None, max_length=200, description="part of a borrower_ref or name")
    limit: Annotated[Limit, Field(le=reads.MAX_PAGE)] = 50
    offset: Offset = 0


class BorrowerOut(Out):
    borrower_ref: str
    name: str
    locale: str
    region: str
    timezone: str | None
    timezone_source: TimezoneSource
    sms_consent: bool


class PhoneOut(Out):
    e164: str
    kind: PhoneKind
    verified: bool
    status: PhoneStatus


class ContactOut(Out):
    contact_ref: str
    name: str
    relation: str
    phone: str | None
    debt_related: bool


class BorrowerLoan(Out):
    loan_ref: str
    status: LoanStatus
    principal: Money
    currency: str


class BorrowerDetail(BorrowerOut):
    address: str
    timezone_candidates: list[str]
    phones: list[PhoneOut]
    contacts: list[ContactOut]
    loans: list[BorrowerLoan]


class LoanQuery(TextIn):
    borrower_ref: Ref | None = None
    status: LoanStatus | None = None
    limit: Annotated[Limit, Field(le=reads.MAX_PAGE)] = 50
    offset: Offset = 0


class LoanOut(Out):
    loan_ref: str
    borrower_ref: str
    product: str
    currency: str
    principal: Money
    annual_rate: Rate
    penalty_rate_daily: Rate | None
    disbursed_on: dt.date
    maturity_on: dt.date
    status: LoanStatus
    position_as_of: dt.date | None = Field(description="the close of business it is as of")
    days_past_due: int
    bucket: str = Field(examples=["M1"])
    amount_tier: str = Field(examples=["S"])
    classification: Classification
    overdue_amount: Money
    outstanding: Money
    penalty_accrued: Money
    flags: list[str]


class InstallmentOut(Out):
    seq: int
    due_on: dt.date
    principal_due: Money
    interest_due: Money
    amount_due: Money


class PaymentOut(Out):
    payment_ref: str
    loan_ref: str
    paid_on: dt.date
    amount: Money
    source: str


class LoanDetail(LoanOut):
    schedule: list[InstallmentOut]
    payments: list[PaymentOut]
    paid_total: Money


class PaymentQuery(TextIn):
    loan_ref: Ref | None = None
    since: Day | None = None
    limit: Annotated[Limit, Field(le=reads.MAX_PAGE)] = 50
    offset: Offset = 0


class NewPayment(In):
    payment_ref: Ref
    loan_ref: Ref
    paid_on: Day
    amount: PositiveMoneyIn


class NewInstallment(In):
    due_on: Day
    principal_due: MoneyIn
    interest_due: MoneyIn


class LoanEvent(In):
    """Extension (展期: ``months``) or restructuring (重组: ``installments``) of the remaining
    schedule, with a reason for the audit trail."""

    type: EventType
    reason: Text
    months: Annotated[int, Field(ge=1, le=MAX_EXTENSION_MONTHS)] | None = None
    installments: list[NewInstallment] = Field(default_factory=list)


class ScheduleRow(Out):
    seq: int
    due_on: dt.date
    principal_due: Money
    interest_due: Money


class LoanEventOut(Out):
    type: EventType
    flags: list[str]
    schedule: list[ScheduleRow]


@api.get("/api/borrowers", summary="Borrowers the caller may see")
async def list_borrowers(
    request: web.Request, user: CurrentUser, query: BorrowerQuery
) -> Page[BorrowerOut]:
    async with request.app[ENGINE].connect() as conn:
        found = await reads.list_borrowers(
            conn, user, search=query.q, limit=query.limit, offset=query.offset
        )
    return Page[BorrowerOut].model_validate(found)


@api.get("/api/borrowers/{ref}", summary="A borrower with phones, contacts and loans")
async def get_borrower(request: web.Request, user: CurrentUser, path: RefPath) -> BorrowerDetail:
    async with request.app[ENGINE].connect() as conn:
        found = await reads.get_borrower(conn, user, path.ref)
    return BorrowerDetail.model_validate(found)


@api.get("/api/loans", summary="Loans the caller may see, with their last position")
async def list_loans(request: web.Request, user: CurrentUser, query: LoanQuery) -> Page[LoanOut]:
    async with request.app[ENGINE].connect() as conn:
        found = await reads.list_loans(
            conn,
            user,
            borrower_ref=query.borrower_ref,
            status=query.status,
            limit=query.limit,
            offset=query.offset,
        )
    return Page[LoanOut].model_validate(found)


@api.get("/api/loans/{ref}", summary="A loan with its schedule and payments")
async def get_loan(request: web.Request, user: CurrentUser, path: RefPath) -> LoanDetail:
    async with request.app[ENGINE].connect() as conn:
        found = await reads.get_loan(conn, user, path.ref)
    return LoanDetail.model_validate(found)


@api.get("/api/payments", summary="Payments on the loans the caller may see, newest first")
async def list_payments(
    request: web.Request, user: CurrentUser, query: PaymentQuery
) -> Page[PaymentOut]:
    async with request.app[ENGINE].connect() as conn:
        found = await reads.list_payments(
            conn,
            user,
            loan_ref=query.loan_ref,
            since=query.since,
            limit=query.limit,
            offset=query.offset,
        )
    return Page[PaymentOut].model_validate(found)


@api.post(
    "/api/payments",
    summary="Record a payment; the loan's position is recomputed at once",
    roles=STAFF,
    status=201,
    responses={201: PaymentOut, 200: PaymentOut},
    errors=(404, 409),
)
async def create_payment(
    request: web.Request, user: CurrentUser, body: NewPayment
) -> Reply[PaymentOut]:
    """201 when stored; 200 when the same payment_ref was stored before with the same values (a
    retry); 409 when it was stored with other values (never overwritten)."""
    engine = request.app[ENGINE]
    settings = request.app[SETTINGS]
    today = lender_today(settings.lender_timezone, request.app[CLOCK].now())
    payment = payments.NewPayment(**body.model_dump())
    config = settings.cob_config()
    try:
        async with engine.begin() as conn:
            stored, created = await payments.record_payment(conn, user, payment, today, config)
            if created:
                await _keep_promises(conn, settings, payment.loan_ref, today, user.username)
    except IntegrityError:
        # A concurrent request stored the same payment_ref first: answer as for a retry.
        async with engine.begin() as conn:
            stored, created = await payments.record_payment(conn, user, payment, today, config)
    return Reply(PaymentOut.model_validate(stored), 201 if created else 200)


async def _keep_promises(
    conn: AsyncConnection, settings: Settings, loan_ref: str, today: dt.date, actor: str
) -> None:
    """A payment keeps promises at once (the close of business would, a night later)."""
    loan_id = await conn.scalar(select(Loan.id).where(Loan.loan_ref == loan_ref))
    if loan_id is not None:
        await keep_promises(
            conn, today, settings.promise_grace_days, actor=actor, loan_ids=[loan_id]
        )


@api.post(
    "/api/loans/{ref}/events",
    summary="Extend or restructure a loan's remaining schedule",
    roles=STAFF,
    status=201,
)
async def create_loan_event(
    request: web.Request, user: CurrentUser, path: RefPath, body: LoanEvent
) -> LoanEventOut:
    """The installments from the oldest unpaid one onwards are replaced, the loan is flagged
    (a restructured loan is at least 关注), and its position is recomputed; the schedule before
    and after goes to the audit trail."""
    settings = request.app[SETTINGS]
    change = ScheduleChange(
        type=body.type,
        reason=body.reason,
        months=body.months,
        installments=tuple(
            (item.due_on, item.principal_due, item.interest_due) for item in body.installments
        ),
    )
    today = lender_today(settings.lender_timezone, request.app[CLOCK].now())
    async with request.app[ENGINE].begin() as conn:
        loan = await reads.visible_loan(conn, user, path.ref)
        result = await apply_event(conn, user, loan, change, today, settings.cob_config())
    return LoanEventOut.model_validate(result)
