"""Agency placement (委外): the outside collection agencies, and each account placed with one —
what it owed then, when it is due back, and when and why it came back."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy import text as sql
from sqlalchemy.orm import Mapped, mapped_column

from service.clock import utcnow
from service.db.models.base import Base, enum_column
from service.db.types import Money, Rate
from service.domain.agencies import RecallReason


class Agency(Base):
    """An outside collection agency the lender places accounts with (委托专业的催收机构)."""

    __tablename__ = "agencies"
    __table_args__ = (
        CheckConstraint(
            "commission_rate >= 0 AND commission_rate < 1", name="commission_rate_fraction"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_ref: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # A fraction of what the agency collects while an account is placed (0.15: 15 %).
    commission_rate: Mapped[Decimal] = mapped_column(Rate)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    contact_notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Placement(Base):
    """An account placed with an agency: active until ``recalled_on``. One active placement per
    loan, kept by the database (a partial unique index on both databases)."""

    __tablename__ = "placements"
    __table_args__ = (
        CheckConstraint("recall_on >= placed_on", name="recall_after_placement"),
        Index(
            "uq_placements_active_loan",
            "loan_id",
            unique=True,
            postgresql_where=sql("recalled_on IS NULL"),
            sqlite_where=sql("recalled_on IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id", ondelete="CASCADE"), index=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    # The agency_placement task it answered (None: placed directly by a supervisor).
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id", ondelete="SET NULL"))
    placed_on: Mapped[dt.date] = mapped_column(Date)
    placed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    placed_by: Mapped[str] = mapped_column(String(64))
    # The account as the agency received it.
    balance_at_placement: Mapped[Decimal] = mapped_column(Money)
    overdue_at_placement: Mapped[Decimal] = mapped_column(Money)
    dpd_at_placement: Mapped[int] = mapped_column(Integer)
    recall_on: Mapped[dt.date] = mapped_column(Date)  # planned
    recalled_on: Mapped[dt.date | None] = mapped_column(Date)
    recall_reason: Mapped[RecallReason | None] = mapped_column(
        enum_column(RecallReason, "recall_reason")
    )
    recalled_by: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text, default="")
