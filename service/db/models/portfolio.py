"""The portfolio: borrowers with their phones and third-party contacts, loans with their
schedules and payments, and the holds that stop contact."""

from __future__ import annotations

import datetime as dt
import enum
import secrets
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.clock import utcnow
from service.db.models.base import Base, enum_column
from service.db.types import Coefficient, Rate
from service.domain.compliance import TimezoneSource


class PhoneKind(enum.StrEnum):
    primary = "primary"
    alt = "alt"
    former = "former"  # was on file, no longer listed by the lender; kept for the contact log


class PhoneStatus(enum.StrEnum):
    active = "active"
    invalid = "invalid"  # confirmed wrong or not in service


class LoanStatus(enum.StrEnum):
    open = "open"
    closed = "closed"
    # Approved for write-off (service.casework.write_off): out of the queues and the nightly
    # settlement from the day after ``closed_on``; payments are still recorded (recoveries).
    written_off = "written_off"


class Borrower(Base):
    __tablename__ = "borrowers"

    id: Mapped[int] = mapped_column(primary_key=True)
    borrower_ref: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    locale: Mapped[str] = mapped_column(String(16), default="zh-CN")
    region: Mapped[str] = mapped_column(String(16), default="")
    address: Mapped[str] = mapped_column(Text, default="")
    timezone: Mapped[str | None] = mapped_column(String(64))
    timezone_candidates: Mapped[str] = mapped_column(String(400), default="")
    timezone_source: Mapped[TimezoneSource] = mapped_column(
        enum_column(TimezoneSource, "tz_source")
    )
    sms_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    credit_coefficient: Mapped[Decimal] = mapped_column(
        Coefficient, server_default="1", default=Decimal(1)
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    phones: Mapped[list[PhoneNumber]] = relationship(
        back_populates="borrower", order_by="PhoneNumber.id"
    )
    contacts: Mapped[list[Contact]] = relationship(back_populates="borrower", order_by="Contact.id")


class PhoneNumber(Base):
    __tablename__ = "phone_numbers"
    __table_args__ = (UniqueConstraint("borrower_id", "e164"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrowers.id", ondelete="CASCADE"))
    e164: Mapped[str] = mapped_column(String(20), index=True)
    kind: Mapped[PhoneKind] = mapped_column(enum_column(PhoneKind, "phone_kind"))
    # mobile, fixed_line, fixed_line_or_mobile (US/CA), voip, toll_free, other: SMS needs mobile.
    line_type: Mapped[str] = mapped_column(String(24), default="other")
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[PhoneStatus] = mapped_column(
        enum_column(PhoneStatus, "phone_status"), default=PhoneStatus.active
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    borrower: Mapped[Borrower] = relationship(back_populates="phones")


class Contact(Base):
    """A third party: guarantor/co-obligor (``debt_related``) or emergency contact (not)."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_ref: Mapped[str] = mapped_column(String(64), unique=True)
    borrower_id: Mapped[int] = mapped_column(
        ForeignKey("borrowers.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    relation: Mapped[str] = mapped_column(String(64), default="")
    phone: Mapped[str | None] = mapped_column(String(20), index=True)
    debt_related: Mapped[bool] = mapped_column(Boolean, default=False)
    # The contact asked never to be contacted again (a refusal blocks them for good).
    refused_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    borrower: Mapped[Borrower] = relationship(back_populates="contacts")


class Loan(Base):
    __tablename__ = "loans"
    __table_args__ = (
        CheckConstraint("principal > 0", name="principal_positive"),
        CheckConstraint("annual_rate >= 0", name="rate_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_ref: Mapped[str] = mapped_column(String(64), unique=True)
    borrower_id: Mapped[int] = mapped_column(ForeignKey("borrowers.id"), index=True)
    product: Mapped[str] = mapped_column(String(64), default="")
    currency: Mapped[str] = mapped_column(String(3))
    principal: Mapped[Decimal]
    annual_rate: Mapped[Decimal] = mapped_column(Rate)
    # None means "the portfolio's configured penalty rate".
    penalty_rate_daily: Mapped[Decimal | None] = mapped_column(Rate)
    disbursed_on: Mapped[dt.date] = mapped_column(Date)
    maturity_on: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[LoanStatus] = mapped_column(enum_column(LoanStatus, "loan_status"))
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id"), index=True)
    collector_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    # The loan officer (客户经理, loans.csv ``officer``): owns the loan's post-loan inspections.
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Position as of the last close of business (service.cob).
    state_as_of: Mapped[dt.date | None] = mapped_column(Date)
    closed_on: Mapped[dt.date | None] = mapped_column(Date)
    state_computed_at: Mapped[dt.datetime | None]
    days_past_due: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    bucket: Mapped[str] = mapped_column(String(8), server_default="M0", default="M0", index=True)
    amount_tier: Mapped[str] = mapped_column(String(8), server_default="S", default="S")
    risk_class: Mapped[str] = mapped_column(String(24), server_default="normal", default="normal")
    overdue_amount: Mapped[Decimal] = mapped_column(server_default="0", default=Decimal(0))
    outstanding: Mapped[Decimal] = mapped_column(server_default="0", default=Decimal(0))
    penalty_accrued: Mapped[Decimal] = mapped_column(server_default="0", default=Decimal(0))
    penalty_unpaid: Mapped[Decimal] = mapped_column(server_default="0", default=Decimal(0))
    credit: Mapped[Decimal] = mapped_column(server_default="0", default=Decimal(0))
    flags: Mapped[str] = mapped_column(String(200), server_default="", default="")
    installments_on_time: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    installments_late: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    # Lost contact (失联) since this date: set by contact outcomes, cleared by a right-party one.
    lost_contact_on: Mapped[dt.date | None] = mapped_column(Date)
    # Assignment (service.assignment): the champion/challenger arm and what it was decided from.
    strategy_arm: Mapped[str | None] = mapped_column(String(64))
    assignment_key: Mapped[str | None] = mapped_column(String(200))
    assigned_at: Mapped[dt.datetime | None]

    borrower: Mapped[Borrower] = relationship()
    installments: Mapped[list[Installment]] = relationship(order_by="Installment.seq")
    payments: Mapped[list[Payment]] = relationship(order_by="Payment.paid_on, Payment.id")


class Installment(Base):
    __tablename__ = "installments"
    __table_args__ = (
        UniqueConstraint("loan_id", "seq"),
        CheckConstraint("principal_due >= 0 AND interest_due >= 0", name="amounts_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    due_on: Mapped[dt.date] = mapped_column(Date)
    principal_due: Mapped[Decimal]
    interest_due: Mapped[Decimal]
    # Settlement as of the loan's last COB (service.cob replays payments through the waterfall).
    principal_paid: Mapped[Decimal] = mapped_column(server_default="0", default=Decimal(0))
    interest_paid: Mapped[Decimal] = mapped_column(server_default="0", default=Decimal(0))
    penalty_accrued: Mapped[Decimal] = mapped_column(server_default="0", default=Decimal(0))
    penalty_paid: Mapped[Decimal] = mapped_column(server_default="0", default=Decimal(0))
    settled_on: Mapped[dt.date | None] = mapped_column(Date)
    updated_at: Mapped[dt.datetime | None] = mapped_column(default=utcnow)


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_ref: Mapped[str] = mapped_column(String(64), unique=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id", ondelete="CASCADE"), index=True)
    paid_on: Mapped[dt.date] = mapped_column(Date)
    amount: Mapped[Decimal]
    source: Mapped[str] = mapped_column(String(16), default="import")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime | None]


def _our_hold_ref() -> str:
    return f"arrears-{secrets.token_hex(8)}"


class Hold(Base):
    """Something that stops contact: a dispute, a death, a bankruptcy, breathing space ...

    On one loan, or (loan_id NULL) on every loan of the borrower; from a date, maybe to one.
    """

    __tablename__ = "holds"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The lender's key (holds.csv), or ours for holds recorded here ("attempt:REF", "arrears-…").
    hold_ref: Mapped[str] = mapped_column(String(64), unique=True, default=_our_hold_ref)
    borrower_id: Mapped[int] = mapped_column(
        ForeignKey("borrowers.id", ondelete="CASCADE"), index=True
    )
    loan_id: Mapped[int | None] = mapped_column(ForeignKey("loans.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(32))  # a HoldKind
    # Who recorded it (import, api, collector, demo): an import may change only what an import
    # wrote (DESIGN.md §5).
    source: Mapped[str] = mapped_column(String(16), server_default="import", default="api")
    started_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date | None] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
