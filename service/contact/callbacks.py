"""Callbacks a collector schedules — for themselves or for whoever works the account's queue —
served first by "next account" once due (service.assignment.worklist), carried by a handover
(service.assignment.moves), and closed as done or cancelled. Audited."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ColumnElement, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from service import audit
from service.clock import utcnow
from service.contact.accounts import loan_in_view
from service.db.models import Borrower, Callback, CallbackStatus, Loan, User
from service.errors import Conflict, NotFound, PermissionDenied, ValidationFailed

# A callback further ahead than this is a note, not a callback.
MAX_DAYS_AHEAD = 90


def callback_view(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "loan_ref": row.loan_ref,
        "due_at": row.due_at,
        "status": str(row.status),
        "for_user": row.username,
        "note": row.note,
        "created_by": row.created_by,
        "created_at": row.created_at,
        "closed_by": row.closed_by,
        "closed_at": row.closed_at,
    }


def _callbacks() -> Any:
    return (
        select(Callback, Loan.loan_ref, User.username)
        .join(Loan, Loan.id == Callback.loan_id)
        .join(Borrower, Borrower.id == Loan.borrower_id)
        .outerjoin(User, User.id == Callback.user_id)
    )


async def schedule_callback(
    conn: AsyncConnection,
    visible: ColumnElement[bool],
    *,
    loan_ref: str,
    due_at: dt.datetime,
    for_queue: bool,
    note: str,
    now: dt.datetime,
    actor: str,
    actor_id: int,
) -> dict[str, Any]:
    """A callback on an account the caller may see, due at ``due_at`` (from now to
    :data:`MAX_DAYS_AHEAD` days ahead): the caller's own, or the queue's (``for_queue``)."""
    if due_at.tzinfo is None:
        raise ValidationFailed("due_at needs its offset", details=[{"field": "due_at"}])
    if due_at < now - dt.timedelta(minutes=5) or due_at > now + dt.timedelta(days=MAX_DAYS_AHEAD):
        raise ValidationFailed(
            f"a callback is due from now to {MAX_DAYS_AHEAD} days ahead",
            details=[{"field": "due_at"}],
        )
    loan = await loan_in_view(conn, visible, loan_ref, open_for="there is no one to call back")
    callback_id = (
        await conn.execute(
            insert(Callback)
            .values(
                loan_id=loan.id,
                user_id=None if for_queue else actor_id,
                due_at=due_at,
                status=CallbackStatus.scheduled,
                note=note,
                created_at=utcnow(),
                created_by=actor,
            )
            .returning(Callback.id)
        )
    ).scalar_one()
    await audit.record(
        conn,
        actor=actor,
        actor_id=actor_id,
        action="callback.scheduled",
        entity_type="loan",
        entity_ref=loan_ref,
        details={
            "callback_id": callback_id,
            "before": None,
            "after": {
                "status": "scheduled",
                "due_at": due_at.isoformat(),
                "for": "queue" if for_queue else actor,
            },
        },
    )
    return await get_callback(conn, visible, callback_id)


async def get_callback(
    conn: AsyncConnection, visible: ColumnElement[bool], callback_id: int
) -> dict[str, Any]:
    row = (
        await conn.execute(_callbacks().where(Callback.id == callback_id, visible))
    ).one_or_none()
    if row is None:
        raise NotFound(f"callback {callback_id} not found")
    return callback_view(row)


async def list_callbacks(
    conn: AsyncConnection,
    visible: ColumnElement[bool],
    *,
    user_id: int | None,
    due_before: dt.datetime | None = None,
    loan_ref: str | None = None,
    scheduled_only: bool = True,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Callbacks on the accounts the caller may see: ``user_id`` given, theirs and their
    queues' (not another collector's own), soonest first."""
    query = _callbacks().where(visible)
    if user_id is not None:
        query = query.where(or_(Callback.user_id == user_id, Callback.user_id.is_(None)))
    if scheduled_only:
        query = query.where(Callback.status == CallbackStatus.scheduled)
    if due_before is not None:
        query = query.where(Callback.due_at <= due_before)
    if loan_ref is not None:
        query = query.where(Loan.loan_ref == loan_ref)
    query = query.order_by(Callback.due_at, Callback.id).limit(limit).offset(offset)
    return [callback_view(row) for row in await conn.execute(query)]


async def close_callback(
    conn: AsyncConnection,
    visible: ColumnElement[bool],
    callback_id: int,
    to: CallbackStatus,
    *,
    actor: str,
    actor_id: int,
    others_too: bool,
) -> dict[str, Any]:
    """Done or cancelled, once (forward only): a collector closes their own or their queue's,
    not another collector's own (``others_too``: a supervisor may)."""
    if to is CallbackStatus.scheduled:
        raise ValidationFailed("a callback is closed as done or cancelled")
    current = await get_callback(conn, visible, callback_id)
    if not others_too and current["for_user"] not in (None, actor):
        raise PermissionDenied(f"callback {callback_id} is {current['for_user']}'s")
    if current["status"] != CallbackStatus.scheduled:
        raise Conflict(f"callback {callback_id} is already {current['status']}")
    moved = await conn.execute(
        update(Callback)
        .where(Callback.id == callback_id, Callback.status == CallbackStatus.scheduled)
        .values(status=to, closed_at=utcnow(), closed_by=actor)
    )
    if moved.rowcount != 1:
        raise Conflict(f"callback {callback_id} was closed meanwhile")
    await audit.record(
        conn,
        actor=actor,
        actor_id=actor_id,
        action=f"callback.{to.value}",
        entity_type="loan",
        entity_ref=current["loan_ref"],
        details={
            "callback_id": callback_id,
            "before": {"status": "scheduled"},
            "after": {"status": to.value},
        },
    )
    return {**current, "status": to.value, "closed_by": actor}
