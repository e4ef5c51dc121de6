"""Queues and assignment: queues and their members, the work list, every move, experiments."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from service.clock import utcnow
from service.db.models.base import Base, enum_column
from service.db.types import Coefficient, Money
from service.domain.queues import QueueKind


class Queue(Base):
    __tablename__ = "queues"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    routing: Mapped[dict[str, Any]] = mapped_column(default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    kind: Mapped[QueueKind] = mapped_column(
        enum_column(QueueKind, "queue_kind"),
        server_default="collector",
        default=QueueKind.collector,
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
