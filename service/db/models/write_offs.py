"""Write-offs (核销): a supervisor's proposal with the amounts it writes off, decided by another."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from service.clock import utcnow
from service.db.models.base import Base, enum_column
from service.domain.write_offs import LIVE, WriteOffStatus

_LIVE_SQL = f"status IN ({', '.join(repr(s.value) for s in LIVE)})"


class WriteOff(Base):
    """A write-off proposal and its decision; an approved one wrote the loan off.

    Maker-checker is the database's rule too: whoever decides (``decided_by``) is never the
    proposer, and a decision names its decider. One live (proposed or approved) per loan.
    """

    __tablename__ = "write_offs"
    __table_args__ = (
        # NULL (not decided yet) passes: a CHECK refuses only what is false.
        CheckConstraint("decided_by <> proposed_by", name="maker_checker"),
        CheckConstraint(
            "status NOT IN ('approved', 'rejected') "
            "OR (decided_by IS NOT NULL AND decided_at IS NOT NULL)",
            name="decision_recorded",
        ),
        CheckConstraint(
            "status <> 'approved' OR written_off_on IS NOT NULL", name="approval_dated"
        ),
        CheckConstraint(
            "principal >= 0 AND interest >= 0 AND penalty >= 0", name="amounts_not_negative"
        ),
        Index(
            "ix_write_offs_live_loan",
            "loan_id",
            unique=True,
            postgresql_where=text(_LIVE_SQL),
            sqlite_where=text(_LIVE_SQL),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id", ondelete="CASCADE"), index=True)
    # The write_off_proposal task it came from (None: proposed directly).
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id"))
    status: Mapped[WriteOffStatus] = mapped_column(enum_column(WriteOffStatus, "write_off_status"))
    # What is written off: the loan's unpaid principal, overdue interest and unpaid penalty as
    # of its last position (``amounts_as_of``), with its age and class then.
    principal: Mapped[Decimal]
    interest: Mapped[Decimal]
    penalty: Mapped[Decimal]
    amounts_as_of: Mapped[dt.date | None] = mapped_column(Date)
    days_past_due: Mapped[int] = mapped_column(Integer)
    risk_class: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str] = mapped_column(Text)
    proposed_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    proposed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # The checker: who approved or rejected it, when, and why.
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[dt.datetime | None]
    decision_note: Mapped[str] = mapped_column(Text, default="", server_default="")
    withdrawn_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    withdrawn_at: Mapped[dt.datetime | None]
    # The lender's day the loan was written off (approved); payments dated after it are
    # recoveries.
    written_off_on: Mapped[dt.date | None] = mapped_column(Date)
