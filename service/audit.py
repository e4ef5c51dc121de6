"""The append-only audit trail: one function every change goes through."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from service.clock import utcnow
from service.db.models import AuditEvent


async def record(
    conn: AsyncConnection,
    *,
    actor: str,
    action: str,
    entity_type: str,
    entity_ref: str,
    details: dict[str, Any] | None = None,
    actor_id: int | None = None,
) -> None:
    """Write one audit event in the caller's transaction (so it commits with the change)."""
    await conn.execute(
        insert(AuditEvent).values(
            occurred_at=utcnow(),
            actor=actor,
            actor_id=actor_id,
            action=action,
            entity_type=entity_type,
            entity_ref=entity_ref,
            details=details or {},
        )
    )
