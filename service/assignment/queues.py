"""Queues and their members: the source policies' queues, new queues, who works them, and what
assignment knows of a user (capacity, languages, team)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from service import audit
from service.clock import utcnow
from service.db.models import Loan, LoanStatus, Queue, QueueMember, Role, Team, User
from service.domain.queues import QueueKind
from service.errors import Conflict, NotFound, ValidationFailed
from strategies import Registry, StrategyError
from strategies.routing import DEFAULT_QUEUES, check_routing


async def install_default_queues(conn: AsyncConnection) -> list[str]:
    """Create the source policies' queues (DESIGN.md §2) that do not exist yet, by name."""
    existing = set((await conn.execute(select(Queue.name))).scalars())
    created = []
    for position, definition in enumerate(DEFAULT_QUEUES, start=1):
        if definition["name"] in existing:
            continue
        await conn.execute(
            insert(Queue).values(
                name=definition["name"],
                kind=QueueKind(definition["kind"]),
                description=definition["description"],
                routing=definition["routing"],
                position=position * 10,
                collector_strategy="sticky",
                active=True,
                created_at=utcnow(),
            )
        )
        created.append(definition["name"])
    return created


def _check(
    *, routing: Mapping[str, Any] | None, registry: Registry, collector_strategy: str | None
) -> None:
    """Refuse a routing definition or a collector strategy assignment would misread, naming
    the field."""
    if routing is not None:
        try:
            check_routing(routing)
        except ValueError as exc:
            raise ValidationFailed(str(exc), details=[{"field": "routing"}]) from exc
    if collector_strategy is not None:
        try:
            registry.get(collector_strategy, "collector")
        except StrategyError as exc:
            raise ValidationFailed(str(exc), details=[{"field": "collector_strategy"}]) from exc


async def create_queue(
    conn: AsyncConnection,
    registry: Registry,
    *,
    name: str,
    kind: str,
    routing: Mapping[str, Any],
    position: int = 100,
    collector_strategy: str = "sticky",
    description: str = "",
    actor: str | None = None,
) -> int:
    _check(routing=routing, registry=registry, collector_strategy=collector_strategy)
    try:
        queue_kind = QueueKind(kind)
    except ValueError as exc:
        raise ValidationFailed(str(exc), details=[{"field": "kind"}]) from exc
    if (await conn.execute(select(Queue.id).where(Queue.name == name))).first():
        raise ValidationFailed(f"a queue named {name!r} exists already")
    result = await conn.execute(
        insert(Queue).values(
            name=name,
            kind=queue_kind,
            routing=dict(routing),
            position=position,
            collector_strategy=collector_strategy,
            description=description,
            active=True,
            created_at=utcnow(),
        )
    )
    if actor is not None:
        await audit.record(
            conn,
            actor=actor,
            action="queue.created",
            entity_type="queue",
            entity_ref=name,
            details={"kind": queue_kind.value, "routing": dict(routing), "position": position},
        )
    return int(result.inserted_primary_key[0])  # type: ignore[index]  # one-column key


async def queue_overview(conn: AsyncConnection) -> list[dict[str, Any]]:
    rows = await conn.execute(
        text(
            """SELECT q.id, q.name, q.kind, q.position, q.collector_strategy, q.active, q.routing,
                      (SELECT count(*) FROM queue_members m JOIN users u ON u.id = m.user_id
                       WHERE m.queue_id = q.id AND u.active) AS members,
                      (SELECT count(*) FROM loans l
                       WHERE l.queue_id = q.id AND l.status = 'open') AS accounts
               FROM queues q ORDER BY q.position, q.id"""
        )
    )
    result = []
    for row in rows.mappings():
        item = dict(row)
        if isinstance(item["routing"], str):  # SQLite hands JSON back as text in raw SQL
            item["routing"] = json.loads(item["routing"])
        item["active"] = bool(item["active"])
        result.append(item)
    return result


# Rows, not ORM objects: these run on a Core connection, in the caller's transaction.
async def queue_by_name(conn: AsyncConnection, name: str) -> Any:
    queue = (await conn.execute(select(Queue).where(Queue.name == name))).one_or_none()
    if queue is None:
        raise NotFound(f"queue {name!r} not found")
    return queue


async def user_by_name(conn: AsyncConnection, username: str) -> Any:
    user = (await conn.execute(select(User).where(User.username == username))).one_or_none()
    if user is None:
        raise NotFound(f"user {username!r} not found")
    return user


async def add_member(
    conn: AsyncConnection, queue_name: str, username: str, actor: str | None = None
) -> None:
    queue = await queue_by_name(conn, queue_name)
    user = await user_by_name(conn, username)
    if user.role is not Role.collector:
        raise ValidationFailed(f"{username} is a {user.role.value}; queues take collectors")
    exists = await conn.execute(
        select(QueueMember).where(QueueMember.queue_id == queue.id, QueueMember.user_id == user.id)
    )
    if exists.first() is None:
        await conn.execute(insert(QueueMember).values(queue_id=queue.id, user_id=user.id))
        if actor is not None:
            await audit.record(
                conn,
                actor=actor,
                action="queue.member_added",
                entity_type="queue",
                entity_ref=queue_name,
                details={"username": username},
            )


# What may change on a queue (its name is its key; its kind decides who works it).
QUEUE_EDITABLE = ("description", "routing", "position", "collector_strategy", "active")


async def queue_by_id(conn: AsyncConnection, queue_id: int) -> Any:
    queue = (await conn.execute(select(Queue).where(Queue.id == queue_id))).one_or_none()
    if queue is None:
        raise NotFound(f"queue {queue_id} not found")
    return queue


async def update_queue(
    conn: AsyncConnection,
    registry: Registry,
    queue_name: str,
    actor: str,
    changes: Mapping[str, Any],
) -> dict[str, Any]:
    """Change a queue's routing, position, collector strategy, description or whether it is
    used; checked as :func:`create_queue` checks a new one. The changes, as audited."""
    queue = await queue_by_name(conn, queue_name)
    unknown = set(changes) - set(QUEUE_EDITABLE)
    if unknown:
        raise ValidationFailed(f"a queue's {sorted(unknown)} cannot be changed")
    values = {k: v for k, v in changes.items() if v is not None}
    if not values:
        raise ValidationFailed("nothing to change")
    _check(
        routing=values.get("routing"),
        registry=registry,
        collector_strategy=values.get("collector_strategy"),
    )
    if "routing" in values:
        values["routing"] = dict(values["routing"])
    await conn.execute(update(Queue).where(Queue.id == queue.id).values(**values))
    await audit.record(
        conn,
        actor=actor,
        action="queue.updated",
        entity_type="queue",
        entity_ref=queue_name,
        details=values,
    )
    return values


async def queue_members(conn: AsyncConnection, queue_name: str) -> list[dict[str, Any]]:
    """A queue's collectors, by name, each with the open accounts of the queue they hold."""
    queue = await queue_by_name(conn, queue_name)
    held = (
        select(func.count())
        .select_from(Loan)
        .where(
            Loan.queue_id == queue.id,
            Loan.collector_id == User.id,
            Loan.status == LoanStatus.open,
        )
        .scalar_subquery()
    )
    rows = await conn.execute(
        select(User.username, User.display_name, User.active, held.label("accounts"))
        .join(QueueMember, QueueMember.user_id == User.id)
        .where(QueueMember.queue_id == queue.id)
        .order_by(User.username)
    )
    return [
        {
            "username": row.username,
            "display_name": row.display_name,
            "active": bool(row.active),
            "accounts": int(row.accounts),
        }
        for row in rows
    ]


async def collectors(conn: AsyncConnection) -> list[dict[str, Any]]:
    """The active collectors, by name: who a queue may take."""
    rows = await conn.execute(
        select(User.username, User.display_name)
        .where(User.role == Role.collector, User.active.is_(True))
        .order_by(User.username)
    )
    return [{"username": row.username, "display_name": row.display_name} for row in rows]


async def remove_member(conn: AsyncConnection, queue_name: str, username: str, actor: str) -> None:
    """Take a collector off a queue. Refused while they hold open accounts of it: those are
    moved first (reassign or hand over), so no account is left with someone who cannot see it."""
    queue = await queue_by_name(conn, queue_name)
    user = await user_by_name(conn, username)
    held = await conn.scalar(
        select(func.count())
        .select_from(Loan)
        .where(
            Loan.queue_id == queue.id, Loan.collector_id == user.id, Loan.status == LoanStatus.open
        )
    )
    if held:
        raise Conflict(
            f"{username} holds {held} open account(s) of {queue_name}: reassign or hand them "
            "over first",
            details={"rule": "member_holds_accounts", "accounts": int(held)},
        )
    removed = await conn.execute(
        delete(QueueMember).where(QueueMember.queue_id == queue.id, QueueMember.user_id == user.id)
    )
    if not removed.rowcount:
        raise NotFound(f"{username} is not a member of {queue_name}")
    await audit.record(
        conn,
        actor=actor,
        action="queue.member_removed",
        entity_type="queue",
        entity_ref=queue_name,
        details={"username": username},
    )


async def update_user(
    conn: AsyncConnection,
    username: str,
    actor: str,
    *,
    capacity: int | None = None,
    no_capacity: bool = False,
    languages: str | None = None,
    team: str | None = None,
) -> dict[str, Any]:
    """Change what assignment knows of a user: capacity, languages, team (created if new)."""
    user = await user_by_name(conn, username)
    values: dict[str, Any] = {}
    if no_capacity:
        values["capacity"] = None
    elif capacity is not None:
        if capacity < 0:
            raise ValidationFailed("capacity must not be negative")
        values["capacity"] = capacity
    if languages is not None:
        codes = [code.strip() for code in languages.split(",") if code.strip()]
        if not codes:
            raise ValidationFailed("languages: at least one locale, e.g. zh-CN,en")
        values["languages"] = ",".join(codes)
    if team is not None:
        team_id = await conn.scalar(select(Team.id).where(Team.name == team))
        if team_id is None:
            team_id = (
                await conn.execute(insert(Team).values(name=team, active=True, created_at=utcnow()))
            ).inserted_primary_key[0]  # type: ignore[index]  # one-column key
        values["team_id"] = team_id
    if not values:
        raise ValidationFailed("nothing to change")
    await conn.execute(update(User).where(User.id == user.id).values(**values))
    details = {k: v for k, v in values.items() if k != "team_id"} | (
        {"team": team} if team is not None else {}
    )
    await audit.record(
        conn,
        actor=actor,
        action="user.updated",
        entity_type="user",
        entity_ref=username,
        details=details,
    )
    return details
