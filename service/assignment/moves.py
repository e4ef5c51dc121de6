"""Moves by hand: a supervisor's reassignment of one account, the handover of a leaving
collector's work (离职移交), and an account's assignment history."""

from __future__ import annotations

import datetime as dt
from typing import Any

import structlog
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from service import audit
from service.assignment.queues import queue_by_name, user_by_name
from service.assignment.worklist import refresh_work_items
from service.auth import CurrentUser
from service.clock import utcnow
from service.db import dialect
from service.db.models import Loan, QueueMember, Role
from service.db.types import UTCDateTime
from service.errors import NotFound, ValidationFailed
from service.settings import Settings

log = structlog.get_logger(__name__)


async def _move(
    conn: AsyncConnection,
    *,
    scope: str,
    params: dict[str, Any],
    queue_id: str,
    collector_id: str,
    reason: str,
    actor: str,
    note: str,
) -> int:
    """Move the open loans in ``scope`` (a condition on ``l``) and write their history."""
    now = dialect.timestamp(conn, utcnow())
    moved = await conn.execute(
        text(
            f"""INSERT INTO assignment_history (loan_id, moved_at, from_queue_id, to_queue_id,
                    from_collector_id, to_collector_id, reason, strategy, arm, actor, note)
                SELECT l.id, :now, l.queue_id, {queue_id}, l.collector_id, {collector_id},
                       :reason, NULL, l.strategy_arm, :actor, :note
                FROM loans l WHERE l.status = 'open' AND {scope}"""
        ),
        {**params, "now": now, "reason": reason, "actor": actor, "note": note},
    )
    await conn.execute(
        text(
            f"""UPDATE loans SET queue_id = {queue_id.replace("l.", "loans.")},
                    collector_id = {collector_id.replace("l.", "loans.")}, assigned_at = :now
                WHERE id IN (SELECT l.id FROM loans l WHERE l.status = 'open' AND {scope})"""
        ),
        {**params, "now": now},
    )
    return int(moved.rowcount or 0)


async def reassign(
    conn: AsyncConnection,
    settings: Settings,
    actor: CurrentUser,
    loan_ref: str,
    *,
    queue_name: str,
    collector: str | None,
    reason: str,
    today: dt.date,
) -> dict[str, Any]:
    """A supervisor moves one account by hand, with a reason (kept until its segment changes)."""
    if not reason.strip():
        raise ValidationFailed("a reason is required", details=[{"field": "reason"}])
    loan = (
        await conn.execute(select(Loan.id, Loan.status).where(Loan.loan_ref == loan_ref))
    ).one_or_none()
    if loan is None:
        raise NotFound(f"loan {loan_ref!r} not found")
    if loan.status != "open":
        raise ValidationFailed(f"loan {loan_ref} is closed")
    queue = await queue_by_name(conn, queue_name)
    if not queue.active:
        raise ValidationFailed(f"queue {queue_name!r} is inactive")
    collector_id: int | None = None
    if collector:
        user = await user_by_name(conn, collector)
        member = await conn.execute(
            select(QueueMember).where(
                QueueMember.queue_id == queue.id, QueueMember.user_id == user.id
            )
        )
        if not user.active or member.first() is None:
            raise ValidationFailed(f"{collector} is not an active member of {queue_name!r}")
        collector_id = user.id
    await _move(
        conn,
        scope="l.id = :loan_id",
        params={"loan_id": loan.id, "queue": queue.id, "collector": collector_id},
        queue_id=":queue",
        collector_id=":collector",
        reason="manual",
        actor=actor.username,
        note=reason.strip(),
    )
    await refresh_work_items(conn, settings, today, "l.id = :loan_id", {"loan_id": loan.id})
    details = {"queue": queue_name, "collector": collector, "reason": reason.strip()}
    await audit.record(
        conn,
        actor=actor.username,
        actor_id=actor.id,
        action="loan.reassigned",
        entity_type="loan",
        entity_ref=loan_ref,
        details=details,
    )
    return {"loan_ref": loan_ref, **details}


async def _handover_parties(
    conn: AsyncConnection, from_user: str, to_user: str | None, to_queue: str | None
) -> tuple[Any, int | None, int | None]:
    """The leaver, and the successor's id or the queue's id: checked as a handover needs them."""
    if (to_user is None) == (to_queue is None):
        raise ValidationFailed("name exactly one successor: a user (to) or a queue (to_queue)")
    leaver = await user_by_name(conn, from_user)
    if not leaver.active:
        raise ValidationFailed(f"{from_user} is already inactive")
    if to_user is not None:
        successor = await user_by_name(conn, to_user)
        if successor.id == leaver.id:
            raise ValidationFailed("a user cannot hand over to themselves")
        if not successor.active or successor.role is not Role.collector:
            raise ValidationFailed(f"{to_user} is not an active collector")
        return leaver, successor.id, None
    assert to_queue is not None
    queue = await queue_by_name(conn, to_queue)
    if not queue.active:
        raise ValidationFailed(f"queue {to_queue!r} is inactive")
    return leaver, None, queue.id


async def handover_preview(
    conn: AsyncConnection,
    *,
    from_user: str,
    to_user: str | None = None,
    to_queue: str | None = None,
) -> dict[str, Any]:
    """What :func:`handover` would move, checked as it checks, changing nothing: the leaver's
    open accounts (by queue), pending promises and scheduled callbacks, and the queues the
    successor would join."""
    leaver, successor_id, _queue_id = await _handover_parties(conn, from_user, to_user, to_queue)
    by_queue = await conn.execute(
        text(
            """SELECT q.name, count(*) AS accounts FROM loans l
               LEFT JOIN queues q ON q.id = l.queue_id
               WHERE l.collector_id = :from AND l.status = 'open'
               GROUP BY q.name ORDER BY q.name"""
        ),
        {"from": leaver.id},
    )
    queues = [{"queue": row.name, "accounts": int(row.accounts)} for row in by_queue]
    promises = await conn.scalar(
        text("SELECT count(*) FROM promises WHERE collector_id = :from AND status = 'pending'"),
        {"from": leaver.id},
    )
    callbacks = await conn.scalar(
        text("SELECT count(*) FROM callbacks WHERE user_id = :from AND status = 'scheduled'"),
        {"from": leaver.id},
    )
    joins: list[str] = []
    if successor_id is not None:
        joins = list(
            (
                await conn.execute(
                    text(
                        """SELECT q.name FROM queue_members m JOIN queues q ON q.id = m.queue_id
                           WHERE m.user_id = :from AND NOT EXISTS (
                             SELECT 1 FROM queue_members n
                             WHERE n.queue_id = m.queue_id AND n.user_id = :to)
                           ORDER BY q.name"""
                    ),
                    {"from": leaver.id, "to": successor_id},
                )
            ).scalars()
        )
    return {
        "from": from_user,
        "to": to_user,
        "to_queue": to_queue,
        "accounts": sum(item["accounts"] for item in queues),
        "by_queue": queues,
        "promises": int(promises or 0),
        "callbacks": int(callbacks or 0),
        "joins": joins,
    }


async def handover(
    conn: AsyncConnection,
    settings: Settings,
    actor: str,
    *,
    from_user: str,
    to_user: str | None = None,
    to_queue: str | None = None,
    today: dt.date,
    actor_id: int | None = None,
) -> dict[str, Any]:
    """离职移交: a leaving collector's open accounts, pending promises and scheduled callbacks go
    to a successor (who joins their queues) or back to a queue's pool; the leaver is
    deactivated. All in the caller's transaction, audited."""
    leaver, successor_id, queue_id = await _handover_parties(conn, from_user, to_user, to_queue)
    if successor_id is not None:
        # The successor works the leaver's queues from now on (and so can see the accounts).
        await conn.execute(
            text(
                """INSERT INTO queue_members (queue_id, user_id)
                   SELECT m.queue_id, :to FROM queue_members m
                   WHERE m.user_id = :from AND NOT EXISTS (
                     SELECT 1 FROM queue_members n
                     WHERE n.queue_id = m.queue_id AND n.user_id = :to)"""
            ),
            {"from": leaver.id, "to": successor_id},
        )
    params = {"from": leaver.id, "to": successor_id, "queue": queue_id}
    accounts = await _move(
        conn,
        scope="l.collector_id = :from",
        params=params,
        queue_id="l.queue_id" if queue_id is None else ":queue",
        collector_id=":to",
        reason="handover",
        actor=actor,
        note=f"handover from {from_user}",
    )
    promises = await conn.execute(
        text(
            "UPDATE promises SET collector_id = :to, updated_at = :now "
            "WHERE collector_id = :from AND status = 'pending'"
        ),
        {**params, "now": dialect.timestamp(conn, utcnow())},
    )
    callbacks = await conn.execute(
        text("UPDATE callbacks SET user_id = :to WHERE user_id = :from AND status = 'scheduled'"),
        params,
    )
    await conn.execute(
        text(
            "UPDATE work_items SET lease_holder_id = NULL, lease_expires_at = NULL "
            "WHERE lease_holder_id = :from"
        ),
        params,
    )
    await conn.execute(text("DELETE FROM queue_members WHERE user_id = :from"), params)
    await conn.execute(text("DELETE FROM sessions WHERE user_id = :from"), params)
    await conn.execute(
        text("UPDATE users SET active = :no, deactivated_at = :now WHERE id = :from"),
        {**params, "no": False, "now": dialect.timestamp(conn, utcnow())},
    )
    await refresh_work_items(conn, settings, today)
    details = {
        "to": to_user,
        "to_queue": to_queue,
        "accounts": accounts,
        "promises": int(promises.rowcount or 0),
        "callbacks": int(callbacks.rowcount or 0),
    }
    await audit.record(
        conn,
        actor=actor,
        actor_id=actor_id,
        action="user.handover",
        entity_type="user",
        entity_ref=from_user,
        details=details,
    )
    log.info("assignment.handover", from_user=from_user, **details)
    return {"from": from_user, **details}


async def history(conn: AsyncConnection, loan_id: int) -> list[dict[str, Any]]:
    rows = await conn.execute(
        text(
            """SELECT h.moved_at, fq.name AS from_queue, tq.name AS to_queue,
                      fu.username AS from_collector, tu.username AS to_collector,
                      h.reason, h.strategy, h.arm, h.actor, h.note
               FROM assignment_history h
               LEFT JOIN queues fq ON fq.id = h.from_queue_id
               LEFT JOIN queues tq ON tq.id = h.to_queue_id
               LEFT JOIN users fu ON fu.id = h.from_collector_id
               LEFT JOIN users tu ON tu.id = h.to_collector_id
               WHERE h.loan_id = :loan_id ORDER BY h.id DESC"""
        ).columns(moved_at=UTCDateTime),
        {"loan_id": loan_id},
    )
    return [dict(row) for row in rows.mappings()]
