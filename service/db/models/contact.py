"""The contact log and what contacts produce: attempts, promises to pay, callbacks, opt-outs."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CheckConstraint,
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
from service.domain.arrangements import ApprovalLevel, ArrangementKind, ArrangementStatus
from service.domain.contact import AttemptResult, Channel, Direction
from service.domain.ptp import PromiseStatus as PromiseStatus  # re-exported: defined once there


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
    return ~exists().where(_LATER.supersedes_id == attempt.id)


# One alias for every use (an alias is costly to build, and the page reads run several a
# request); each EXISTS is a scope of its own, so sharing its name is safe.
_LATER = aliased(Attempt, name="later_revision")


def _made_on(context: Any) -> dt.date:
    """A promise stored without its day: the day it was stored, never after its own date."""
    values = context.get_current_parameters()
    created, promised = values.get("created_at"), values.get("promised_on")
    day = (created or utcnow()).date()
    return min(day, promised) if promised else day


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
    # What payments did to it so far, and the day it was settled (kept: the payment that
    # completed it; missed: the first day after its date plus grace). service.domain.ptp.
    paid_amount: Mapped[Decimal] = mapped_column(default=Decimal(0), server_default="0")
    settled_on: Mapped[dt.date | None] = mapped_column(Date)
    # The lender's day it was taken: payments before it are not toward it.
    made_on: Mapped[dt.date] = mapped_column(Date, default=_made_on)
    created_by: Mapped[str] = mapped_column(String(64), default="", server_default="")
    decided_by: Mapped[str | None] = mapped_column(String(64))  # who confirmed or dropped it
    # An instalment of an arrangement (a payment plan or a settlement offer).
    arrangement_id: Mapped[int | None] = mapped_column(ForeignKey("arrangements.id"), index=True)


Index("ix_promises_status_promised_on", Promise.status, Promise.promised_on)


class Arrangement(Base):
    """A payment plan (N instalments) or a settlement offer (a discount on the balance): its
    instalments are promises; approved above the configured limits by someone other than its
    proposer (a CHECK in the database), kept or broken as its instalments are."""

    __tablename__ = "arrangements"
    __table_args__ = (
        CheckConstraint("total > 0", name="total_positive"),
        CheckConstraint("discount >= 0", name="discount_not_negative"),
        CheckConstraint("instalments >= 1", name="instalments_positive"),
        CheckConstraint(
            "decided_by IS NULL OR decided_by <> proposed_by", name="decided_by_another"
        ),
        Index(
            "uq_arrangements_open_per_loan",
            "loan_id",
            unique=True,
            postgresql_where=text("status IN ('proposed', 'active')"),
            sqlite_where=text("status IN ('proposed', 'active')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id", ondelete="CASCADE"), index=True)
    kind: Mapped[ArrangementKind] = mapped_column(enum_column(ArrangementKind, "arrangement_kind"))
    status: Mapped[ArrangementStatus] = mapped_column(
        enum_column(ArrangementStatus, "arrangement_status")
    )
    balance: Mapped[Decimal]  # outstanding when proposed
    total: Mapped[Decimal]  # what the debtor pays under it
    discount: Mapped[Decimal]  # what the lender gives up (a settlement); 0 for a plan
    instalments: Mapped[int] = mapped_column(Integer)
    approval: Mapped[ApprovalLevel] = mapped_column(enum_column(ApprovalLevel, "approval_level"))
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    proposed_by: Mapped[str] = mapped_column(String(64))
    proposed_at: Mapped[dt.datetime]
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[dt.datetime | None]
    decision_note: Mapped[str] = mapped_column(Text, default="", server_default="")
    settled_on: Mapped[dt.date | None] = mapped_column(Date)


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
    closed_at: Mapped[dt.datetime | None]
    closed_by: Mapped[str | None] = mapped_column(String(64))


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
