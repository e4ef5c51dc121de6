"""SQLAlchemy models: the portfolio (borrowers, phones, contacts, loans, schedules, payments),
the contact log, people and queues, the audit trail and import reports.

Migrations in ``service/migrations`` are the source of truth for the schema; these models must
match them (a test compares the two).
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from service.db import Coefficient, Money, Rate, UTCDateTime, utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dt.datetime: UTCDateTime,
        Decimal: Money,
        dict[str, Any]: JSON,
    }


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # VARCHAR + CHECK on both databases: PostgreSQL native enums make migrations painful.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=24,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class Role(enum.StrEnum):
    collector = "collector"
    supervisor = "supervisor"
    admin = "admin"


class PhoneKind(enum.StrEnum):
    primary = "primary"
    alt = "alt"
    former = "former"  # was on file, no longer listed by the lender; kept for the contact log


class PhoneStatus(enum.StrEnum):
    active = "active"
    invalid = "invalid"  # confirmed wrong or not in service


class TimezoneSource(enum.StrEnum):
    file = "file"
    phone = "phone"
    ambiguous = "ambiguous"  # several zones fit the phone number; candidates recorded
    unknown = "unknown"


class LoanStatus(enum.StrEnum):
    open = "open"
    closed = "closed"


class Channel(enum.StrEnum):
    call = "call"
    sms = "sms"


class Direction(enum.StrEnum):
    outbound = "outbound"
    inbound = "inbound"


class AttemptResult(enum.StrEnum):
    busy = "busy"
    not_in_service = "not_in_service"
    no_answer = "no_answer"
    voicemail = "voicemail"
    conversation = "conversation"
    wrong_number = "wrong_number"
    delivered = "delivered"
    failed = "failed"


class ImportStatus(enum.StrEnum):
    running = "running"
    completed = "completed"
    failed = "failed"


class PromiseStatus(enum.StrEnum):
    pending = "pending"
    kept = "kept"
    partially_kept = "partially_kept"
    broken = "broken"
    cancelled = "cancelled"


class CallbackStatus(enum.StrEnum):
    scheduled = "scheduled"
    done = "done"
    cancelled = "cancelled"


class QueueKind(enum.StrEnum):
    collector = "collector"  # worked by collectors by phone
    field = "field"  # field visits (外访)
    legal = "legal"  # recovery and legal review
    agency = "agency"  # placed with an outside agency (委外); nobody here works it
    automated = "automated"  # automated reminders only


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(_enum(Role, "role"))
    password_hash: Mapped[str] = mapped_column(String(255))
    # Comma-separated locales the user works in (language match), e.g. "zh-CN,en".
    languages: Mapped[str] = mapped_column(String(64), default="zh-CN")
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    # Most open accounts the user may hold at once; None: no limit.
    capacity: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    deactivated_at: Mapped[dt.datetime | None]


class Session(Base):
    """A login. Only a hash of the token is stored, so a database read does not yield logins."""

    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]


class Queue(Base):
    __tablename__ = "queues"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    routing: Mapped[dict[str, Any]] = mapped_column(default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    kind: Mapped[QueueKind] = mapped_column(
        _enum(QueueKind, "queue_kind"), server_default="collector", default=QueueKind.collector
    )
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    # The routing strategy tries queues in this order (lowest first).
    position: Mapped[int] = mapped_column(Integer, server_default="100", default=100)
    collector_strategy: Mapped[str] = mapped_column(
        String(64), server_default="sticky", default="sticky"
    )


class QueueMember(Base):
    __tablename__ = "queue_members"

    queue_id: Mapped[int] = mapped_column(
        ForeignKey("queues.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )


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
    timezone_source: Mapped[TimezoneSource] = mapped_column(_enum(TimezoneSource, "tz_source"))
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
    kind: Mapped[PhoneKind] = mapped_column(_enum(PhoneKind, "phone_kind"))
    # mobile, fixed_line, fixed_line_or_mobile (US/CA), voip, toll_free, other: SMS needs mobile.
    line_type: Mapped[str] = mapped_column(String(24), default="other")
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[PhoneStatus] = mapped_column(
        _enum(PhoneStatus, "phone_status"), default=PhoneStatus.active
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
    status: Mapped[LoanStatus] = mapped_column(_enum(LoanStatus, "loan_status"))
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id"), index=True)
    collector_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
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


class Attempt(Base):
    """One contact try on one channel to one party: the contact log."""

    __tablename__ = "attempts"
    __table_args__ = (
        Index("ix_attempts_loan_occurred", "loan_id", "occurred_at"),
        Index("ix_attempts_phone_occurred", "phone", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_ref: Mapped[str] = mapped_column(String(64), unique=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id", ondelete="CASCADE"))
    # None: the debtor. Otherwise the third party reached (or tried).
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    phone: Mapped[str] = mapped_column(String(20))
    channel: Mapped[Channel] = mapped_column(_enum(Channel, "channel"))
    direction: Mapped[Direction] = mapped_column(_enum(Direction, "direction"))
    occurred_at: Mapped[dt.datetime]
    result: Mapped[AttemptResult] = mapped_column(_enum(AttemptResult, "attempt_result"))
    disposition: Mapped[str | None] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16), default="import")
    collector_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class LoanSnapshot(Base):
    """One loan's position at one close of business: what roll and cure rates are made of."""

    __tablename__ = "loan_snapshots"

    as_of: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    loan_id: Mapped[int] = mapped_column(
        ForeignKey("loans.id", ondelete="CASCADE"), primary_key=True
    )
    days_past_due: Mapped[int] = mapped_column(Integer)
    bucket: Mapped[str] = mapped_column(String(8))
    amount_tier: Mapped[str] = mapped_column(String(8))
    risk_class: Mapped[str] = mapped_column(String(24))
    overdue_amount: Mapped[Decimal]
    outstanding: Mapped[Decimal]
    penalty_accrued: Mapped[Decimal]
    queue_id: Mapped[int | None] = mapped_column(Integer)
    collector_id: Mapped[int | None] = mapped_column(Integer)
    strategy_arm: Mapped[str | None] = mapped_column(String(64))


class WorkItem(Base):
    """An open account in a queue worked by people: its priority and who holds it now.

    Narrow on purpose: "next account" pops from here under row locks, many times a second.
    """

    __tablename__ = "work_items"
    __table_args__ = (
        # "Next account" reads two ranges of this index in priority order: the collector's own
        # accounts of a queue, and the queue's pool (collector NULL). Leased rows are not in it.
        Index(
            "ix_work_items_free",
            "collector_id",
            "queue_id",
            "rank",
            "score",
            "loan_id",
            postgresql_where=text("lease_holder_id IS NULL"),
            sqlite_where=text("lease_holder_id IS NULL"),
        ),
        Index(
            "ix_work_items_lease_expires_at",
            "lease_expires_at",
            postgresql_where=text("lease_expires_at IS NOT NULL"),
            sqlite_where=text("lease_expires_at IS NOT NULL"),
        ),
    )

    loan_id: Mapped[int] = mapped_column(
        ForeignKey("loans.id", ondelete="CASCADE"), primary_key=True
    )
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id"))
    collector_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Position in the configured priority order (0 first); score orders within a rank (negated
    # DPD × balance, so that ascending order is the most urgent first).
    rank: Mapped[int] = mapped_column(Integer)
    score: Mapped[Decimal] = mapped_column(Money)
    lease_holder_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    lease_expires_at: Mapped[dt.datetime | None]


class AssignmentMove(Base):
    """Every change of an account's queue or collector, with why and under which strategy."""

    __tablename__ = "assignment_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id", ondelete="CASCADE"), index=True)
    moved_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    from_queue_id: Mapped[int | None] = mapped_column(Integer)
    to_queue_id: Mapped[int | None] = mapped_column(Integer)
    from_collector_id: Mapped[int | None] = mapped_column(Integer)
    to_collector_id: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(24))  # cob, on_demand, manual, handover
    strategy: Mapped[str | None] = mapped_column(String(64))
    arm: Mapped[str | None] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text, default="")


class Experiment(Base):
    """Champion/challenger: in a segment, a share of accounts (by a hash of loan_ref and key)
    goes to the challenger strategy; the rest stays with the champion."""

    __tablename__ = "experiments"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    segment: Mapped[dict[str, Any]] = mapped_column(default=dict)
    challenger: Mapped[str] = mapped_column(String(64))
    share: Mapped[Decimal] = mapped_column(Coefficient)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[dt.datetime | None]


class Promise(Base):
    """A promise to pay (PTP): amount by a date, owned by the collector who took it."""

    __tablename__ = "promises"

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id", ondelete="CASCADE"), index=True)
    collector_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    amount: Mapped[Decimal]
    promised_on: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[PromiseStatus] = mapped_column(_enum(PromiseStatus, "promise_status"))
    source: Mapped[str] = mapped_column(String(16), default="collector")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Callback(Base):
    """A call back the debtor asked for, due at a time, owned by a collector (or the queue)."""

    __tablename__ = "callbacks"
    __table_args__ = (
        # "Next account" asks on every call whether any callback is due: a tiny index.
        Index(
            "ix_callbacks_scheduled_due_at",
            "due_at",
            postgresql_where=text("status = 'scheduled'"),
            sqlite_where=text("status = 'scheduled'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    due_at: Mapped[dt.datetime]
    status: Mapped[CallbackStatus] = mapped_column(_enum(CallbackStatus, "callback_status"))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64))


class OptOut(Base):
    """A number that opted out of a medium (an SMS keyword, a collector's note, the provider)."""

    __tablename__ = "opt_outs"
    __table_args__ = (UniqueConstraint("phone", "channel"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(20))
    channel: Mapped[Channel] = mapped_column(_enum(Channel, "channel"))
    opted_out_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    source: Mapped[str] = mapped_column(String(24))  # sms_reply, collector, provider, import
    keyword: Mapped[str | None] = mapped_column(String(32))


class Hold(Base):
    """Something that stops contact: a dispute, a death, a bankruptcy, breathing space ...

    On one loan, or (loan_id NULL) on every loan of the borrower; from a date, maybe to one.
    """

    __tablename__ = "holds"

    id: Mapped[int] = mapped_column(primary_key=True)
    borrower_id: Mapped[int] = mapped_column(
        ForeignKey("borrowers.id", ondelete="CASCADE"), index=True
    )
    loan_id: Mapped[int | None] = mapped_column(ForeignKey("loans.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(32))
    started_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date | None] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class BucketEvent(Base):
    __tablename__ = "bucket_events"
    __table_args__ = (UniqueConstraint("as_of", "loan_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id", ondelete="CASCADE"))
    as_of: Mapped[dt.date] = mapped_column(Date)
    from_bucket: Mapped[str] = mapped_column(String(8))
    to_bucket: Mapped[str] = mapped_column(String(8))


class CobRun(Base):
    __tablename__ = "cob_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    as_of: Mapped[dt.date] = mapped_column(Date)
    started_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]
    loans: Mapped[int] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(64))
    config: Mapped[str | None] = mapped_column(Text)


class AuditEvent(Base):
    """Append-only: database triggers refuse UPDATE and DELETE on this table."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_entity", "entity_type", "entity_ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_ref: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ImportRun(Base):
    __tablename__ = "import_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None]
    status: Mapped[ImportStatus] = mapped_column(_enum(ImportStatus, "import_status"))
    source: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(Text, default="")
    files: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    failure: Mapped[str | None] = mapped_column(Text)


class ImportError_(Base):
    __tablename__ = "import_errors"
    __table_args__ = (Index("ix_import_errors_run_file_line", "run_id", "file", "line"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("import_runs.id", ondelete="CASCADE"))
    file: Mapped[str] = mapped_column(String(64))
    line: Mapped[int] = mapped_column(Integer)
    column_name: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)


# --- treatment plans, the outbox, tasks and the guard's decisions (issue 5) ----------------------


class OutboxStatus(enum.StrEnum):
    pending = "pending"  # allowed: waiting for its time and a worker
    queued = "queued"  # handed to a worker
    sent = "sent"
    failed = "failed"
    blocked = "blocked"  # the guard said no: kept with the reasons, never sent
    deferred = "deferred"  # not today (promise, caps, window): the next plan decides again
    review = "review"  # a person must look before it goes
    cancelled = "cancelled"


class TaskStatus(enum.StrEnum):
    open = "open"
    done = "done"
    failed = "failed"  # e.g. a field visit that found nobody
    cancelled = "cancelled"


class TreatmentPlan(Base):
    """One version of a treatment plan: steps per segment, for one portfolio (product) or all.

    A new version is a new row; the newest active version of a portfolio is the one planned with,
    and every outbox row names the version that planned it.
    """

    __tablename__ = "treatment_plans"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    portfolio: Mapped[str] = mapped_column(String(64), default="")  # a loan product; "" = all
    strategy: Mapped[str] = mapped_column(String(64))
    definition: Mapped[str] = mapped_column(Text)  # JSON: the validated plan
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class OutboxMessage(Base):
    """A planned contact, written in the transaction that decided it (the transactional outbox).

    ``idempotency_key`` is loan:step:day (loan:step for one-off steps): planning the same day
    again, or a second worker, never makes a second row.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_not_before", "status", "not_before"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id", ondelete="CASCADE"), index=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("treatment_plans.id"))
    step: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))  # sms | call | letter
    party: Mapped[str] = mapped_column(String(64), default="debtor")
    phone: Mapped[str | None] = mapped_column(String(20))
    template: Mapped[str] = mapped_column(String(64))
    locale: Mapped[str] = mapped_column(String(16))
    planned_for: Mapped[dt.date] = mapped_column(Date)
    not_before: Mapped[dt.datetime]
    status: Mapped[OutboxStatus] = mapped_column(_enum(OutboxStatus, "outbox_status"))
    reasons: Mapped[str] = mapped_column(String(400), default="")
    next_allowed_at: Mapped[dt.datetime | None]
    tries: Mapped[int] = mapped_column(Integer, default=0)
    provider_ref: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Task(Base):
    """Work for people outside the dialer: a field visit, an agency placement, a legal review,
    a write-off proposal. One open task per loan and kind; one-off kinds once per loan."""

    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id", ondelete="CASCADE"), index=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("treatment_plans.id"))
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[TaskStatus] = mapped_column(_enum(TaskStatus, "task_status"))
    due_on: Mapped[dt.date] = mapped_column(Date)
    result: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[dt.datetime | None]
    closed_by: Mapped[str | None] = mapped_column(String(64))


class GuardDecision(Base):
    """Every verdict that led to (or stopped) a contact, with the inputs it was decided from."""

    __tablename__ = "guard_decisions"
    __table_args__ = (Index("ix_guard_decisions_loan_decided", "loan_id", "decided_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id", ondelete="CASCADE"))
    idempotency_key: Mapped[str | None] = mapped_column(String(128), index=True)
    stage: Mapped[str] = mapped_column(String(16))  # plan | dispatch
    party: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    contact_at: Mapped[dt.datetime]
    verdict: Mapped[str] = mapped_column(String(8))
    reasons: Mapped[str] = mapped_column(String(400), default="")
    next_allowed_at: Mapped[dt.datetime | None]
    inputs: Mapped[str] = mapped_column(Text)  # JSON: the facts and the request
    decided_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
