"""Treatment: plan versions, the transactional outbox, and every guard decision."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.clock import utcnow
from service.db.models.base import Base, enum_column
from service.domain.outbox import OutboxStatus

__all__ = ["GuardDecision", "OutboxMessage", "OutboxStatus", "TreatmentPlan"]


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
    status: Mapped[OutboxStatus] = mapped_column(enum_column(OutboxStatus, "outbox_status"))
    reasons: Mapped[str] = mapped_column(String(400), default="")
    next_allowed_at: Mapped[dt.datetime | None]
    tries: Mapped[int] = mapped_column(Integer, default=0)
    provider_ref: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(String(16))  # the provider's, e.g. 21610
    # The claim that holds the row (queued or sending) and when it was taken: a second worker's
    # conditional update names another claim and changes nothing.
    claim: Mapped[str | None] = mapped_column(String(36))
    claimed_at: Mapped[dt.datetime | None]
    # The template's variables as planned (JSON), rendered again at send time with the footer
    # of the profile then in force; what left, to whom, from which number, and when.
    context: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str | None] = mapped_column(Text)
    sender: Mapped[str | None] = mapped_column(String(20))
    sent_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


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
