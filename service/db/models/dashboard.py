"""The supervisor dashboard's aggregates, maintained by the close of business (docs/dashboard.md):
a dashboard query reads these small tables, never the contact log or the snapshots."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Date, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from service.db.models.base import Base


class PortfolioDay(Base):
    """One night's snapshots counted by bucket, class and owner (queue, collector, arm)."""

    __tablename__ = "dash_portfolio_daily"
    __table_args__ = (Index("ix_dash_portfolio_daily_as_of", "as_of"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    as_of: Mapped[dt.date] = mapped_column(Date)
    bucket: Mapped[str] = mapped_column(String(8))
    risk_class: Mapped[str] = mapped_column(String(24))
    queue_id: Mapped[int | None] = mapped_column(Integer)
    collector_id: Mapped[int | None] = mapped_column(Integer)
    strategy_arm: Mapped[str | None] = mapped_column(String(64))
    accounts: Mapped[int] = mapped_column(Integer)
    outstanding: Mapped[Decimal]
    overdue_amount: Mapped[Decimal]


class ActivityDay(Base):
    """One close of business's contact activity, promises made and money collected since the
    close before it, by the owner of each account that night (queue, collector, arm)."""

    __tablename__ = "dash_activity_daily"
    __table_args__ = (Index("ix_dash_activity_daily_day", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date)
    queue_id: Mapped[int | None] = mapped_column(Integer)
    collector_id: Mapped[int | None] = mapped_column(Integer)
    strategy_arm: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer)
    connected: Mapped[int] = mapped_column(Integer)
    right_party: Mapped[int] = mapped_column(Integer)
    promises_made: Mapped[int] = mapped_column(Integer)
    promised_amount: Mapped[Decimal]
    collected: Mapped[Decimal]


class PromiseDay(Base):
    """The promises that fell due on one day, by what became of them; each night re-counts the
    recent days (promises settle late) under the accounts' owners of that night."""

    __tablename__ = "dash_promise_daily"
    __table_args__ = (Index("ix_dash_promise_daily_day", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date)
    queue_id: Mapped[int | None] = mapped_column(Integer)
    collector_id: Mapped[int | None] = mapped_column(Integer)
    strategy_arm: Mapped[str | None] = mapped_column(String(64))
    promises_due: Mapped[int] = mapped_column(Integer)
    due_amount: Mapped[Decimal]
    promises_kept: Mapped[int] = mapped_column(Integer)
    promises_partial: Mapped[int] = mapped_column(Integer)
    promises_broken: Mapped[int] = mapped_column(Integer)
    settled_amount: Mapped[Decimal]  # promised, of those settled (kept, partly kept, broken)
    kept_amount: Mapped[Decimal]  # paid towards them, up to what each promised


class RollMonth(Base):
    """Accounts from one month's closing snapshot to the next month's (the roll-rate matrix):
    ``month`` is the first day of the later month; the balance is the outstanding at the start."""

    __tablename__ = "dash_roll_monthly"
    __table_args__ = (Index("ix_dash_roll_monthly_month", "month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[dt.date] = mapped_column(Date)
    from_on: Mapped[dt.date] = mapped_column(Date)
    to_on: Mapped[dt.date] = mapped_column(Date)
    from_bucket: Mapped[str] = mapped_column(String(8))
    to_bucket: Mapped[str] = mapped_column(String(8))
    queue_id: Mapped[int | None] = mapped_column(Integer)
    collector_id: Mapped[int | None] = mapped_column(Integer)
    strategy_arm: Mapped[str | None] = mapped_column(String(64))
    accounts: Mapped[int] = mapped_column(Integer)
    balance: Mapped[Decimal]
