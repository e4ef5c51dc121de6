"""Casework: tasks for people outside the dialer (field visits, agencies, legal, write-off)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.clock import utcnow
from service.db.models.base import Base, enum_column
from service.domain.casework import TaskStatus


class Task(Base):
    """Work for people outside the dialer: a field visit, an agency placement, a legal review,
    a write-off proposal. One open task per loan and kind; one-off kinds once per loan."""

    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id", ondelete="CASCADE"), index=True)
    # None: opened outside a treatment plan (an inspection, an escalation a person starts).
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("treatment_plans.id"))
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[TaskStatus] = mapped_column(enum_column(TaskStatus, "task_status"))
    due_on: Mapped[dt.date] = mapped_column(Date)
    result: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[dt.datetime | None]
    closed_by: Mapped[str | None] = mapped_column(String(64))
    # Whose work it is (a field collector, the loan's officer); None: whoever works its queue.
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    # What came of it, from the task kind's closed list (service.domain.casework), with notes
    # and what the kind records beside (a promise's amount and date, photos, an agency).
    outcome: Mapped[str | None] = mapped_column(String(32))
    notes: Mapped[str] = mapped_column(Text, default="", server_default="")
    details: Mapped[dict[str, Any] | None]
    # The day the work was done, in the lender's calendar: may be before it was recorded (an
    # inspection's form is filled in up to 2 working days after the visit).
    done_on: Mapped[dt.date | None] = mapped_column(Date)
