"""The contact log and what contacts produce: attempts, promises to pay, callbacks, opt-outs."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    exists,
    text,
)
from sqlalchemy.orm import Mapped, aliased, mapped_column

from service.clock import utcnow
from service.db.models.base import Base, enum_column
from service.domain.contact import AttemptResult, Channel, Direction


class PromiseStatus(enum.StrEnum):
    proposed = "proposed"  # read from a reply ("PAY 500 FRI"): a collector confirms or drops it
    pending = "pending"
    kept = "kept"
    partially_kept = "partially_kept"
    broken = "broken"
    cancelled = "cancelled"


class CallbackStatus(enum.StrEnum):
    scheduled = "scheduled"
    done = "done"
    cancelled = "cancelled"


class Attempt(Base):
    """One contact try on one channel to one party: the contact log.

    Append-only (database triggers refuse UPDATE, DELETE and TRUNCATE): what changes about an
    attempt afterwards — the provider's final report, a disposition, a collector's correction,
    a re-imported row with other values — is a new *revision* with the same ``attempt_ref``
    that supersedes the one before (``supersedes_id``). The attempt as it stands is the revision
    nothing supersedes (:func:`current`); the ones before stay, for whoever asks what was known
    when.
    """

    __tablename__ = "attempts"
    __table_args__ = (
        Index("ix_attempts_loan_occurred", "loan_id", "occurred_at"),
        Index("ix_attempts_phone_occurred", "phone", "occurred_at"),
        # One revision n of each attempt: two writers correcting the same revision, one wins.
        UniqueConstraint("attempt_ref", "revision"),
        # One attempt per outbox row: a second worker's insert fails on the key.
        UniqueConstraint("outbox_id", "revision"),
        UniqueConstraint("provider_ref", "revision"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_ref: Mapped[str] = mapped_column(String(64))
    revision: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("attempts.id"), unique=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id", ondelete="CASCADE"))
    # None: the debtor. Otherwise the third party reached (or tried).
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    phone: Mapped[str] = mapped_column(String(20))  # a letter or a visit: empty
    channel: Mapped[Channel] = mapped_column(enum_column(Channel, "channel"))
    direction: Mapped[Direction] = mapped_column(enum_column(Direction, "direction"))
    occurred_at: Mapped[dt.datetime]
    result: Mapped[AttemptResult] = mapped_column(enum_column(AttemptResult, "attempt_result"))
    disposition: Mapped[str | None] = mapped_column(String(32))
    # Who made the attempt (import, dispatch, collector, inbound, letter, visit) …
    source: Mapped[str] = mapped_column(String(16), default="import")
    collector_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # … and who wrote this revision of it, when not the same (the provider, the IVR, a user).
    recorded_by: Mapped[str | None] = mapped_column(String(64))
    # Sent by Arrears: the outbox row, the template, and what the provider reported (forward
    # only, with its error code). ``note``: an inbound text's words, a collector's note.
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"))
    template: Mapped[str | None] = mapped_column(String(64))
    provider_ref: Mapped[str | None] = mapped_column(String(64))
    provider_status: Mapped[str | None] = mapped_column(String(16))
    error_code: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


def current(attempt: Any = Attempt) -> ColumnElement[bool]:
    """True for the revision of an attempt that nothing supersedes: the attempt as it stands.
    ``attempt``: the ``Attempt`` entity or an alias of it."""
    later = aliased(Attempt)
    return ~exists().where(later.supersedes_id == attempt.id)


class Promise(Base):
    """A promise to pay (PTP): amount by a date, owned by the collector who took it."""

    __tablename__ = "promises"

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id", ondelete="CASCADE"), index=True)
    collector_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    amount: Mapped[Decimal]
    promised_on: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[PromiseStatus] = mapped_column(enum_column(PromiseStatus, "promise_status"))
    source: Mapped[str] = mapped_column(String(16), default="collector")  # a PromiseSource
    # The contact it was made in (a call, a keypad menu, a reply), when there was one.
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("attempts.id"))
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
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
    status: Mapped[CallbackStatus] = mapped_column(enum_column(CallbackStatus, "callback_status"))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64))


class OptOut(Base):
    """A number that opted out of a medium (an SMS keyword, a collector's note, the provider)."""

    __tablename__ = "opt_outs"
    __table_args__ = (UniqueConstraint("phone", "channel"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(20))
    channel: Mapped[Channel] = mapped_column(enum_column(Channel, "channel"))
    opted_out_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Lifted from then on (a re-subscription, or the lender's record of consent given again).
    opted_in_at: Mapped[dt.datetime | None]
    source: Mapped[str] = mapped_column(String(24))  # an OptOutSource
    keyword: Mapped[str | None] = mapped_column(String(32))
    # Who recorded it (import, or arrears: a reply, the provider, the API, a collector): an
    # import may change only what an import wrote (DESIGN.md §5).
    recorded_by: Mapped[str] = mapped_column(String(16), server_default="import", default="arrears")


class ProviderReport(Base):
    """A status callback that came before the attempt it reports on was stored: a batch stores
    its outcomes after its sends, and the provider may be quicker. Applied (forward only) when
    the attempt is written, then removed; the sweeper drops any older than a day."""

    __tablename__ = "provider_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_ref: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[str | None] = mapped_column(String(16))
    answered_by: Mapped[str | None] = mapped_column(String(32))
    received_at: Mapped[dt.datetime]
