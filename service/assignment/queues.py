"""Queues and their members: the source policies' queues, new queues, who works them, and what
assignment knows of a user (capacity, languages, team)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from service import audit
from service.clock import utcnow
from service.db.models import Queue, QueueMember, Role, Team, User
from service.domain.queues import QueueKind
from service.errors import NotFound, ValidationFailed
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
) -> int:
    try:
        check_routing(routing)
        registry.get(collector_strategy, "collector")
        queue_kind = QueueKind(kind)
    except (ValueError, StrategyError) as exc:
        raise ValidationFailed(str(exc)) from exc
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


async def add_member(conn: AsyncConnection, queue_name: str, username: str) -> None:
    queue = await queue_by_name(conn, queue_name)
    user = await user_by_name(conn, username)
    if user.role is not Role.collector:
        raise ValidationFailed(f"{username} is a {user.role.value}; queues take collectors")
    exists = await conn.execute(
        select(QueueMember).where(QueueMember.queue_id == queue.id, QueueMember.user_id == user.id)
    )
    if exists.first() is None:
        await conn.execute(insert(QueueMember).values(queue_id=queue.id, user_id=user.id))


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
