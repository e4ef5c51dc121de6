"""Close of business: each loan's daily snapshot, bucket changes, and the runs themselves."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.db.models.base import Base


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
