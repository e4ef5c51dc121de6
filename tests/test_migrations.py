"""Migrations run up and down on both databases, and match the models."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, insert, inspect, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from service.clock import utcnow
from service.db.migrate import current_revision, downgrade, head_revision, upgrade
from service.db.models import AuditEvent, Base

DOMAIN = {"borrowers", "loans", "installments", "payments", "attempts", "audit_log", "users"}


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names()) - {"alembic_version"}


async def test_down_to_base_and_up_to_head_again(engine: AsyncEngine) -> None:
    assert await current_revision(engine) == head_revision()
    async with engine.connect() as conn:
        assert await conn.run_sync(_tables) >= DOMAIN

    await downgrade(engine, "base")
    async with engine.connect() as conn:
        assert await conn.run_sync(_tables) == set()
    assert await current_revision(engine) is None

    await upgrade(engine, "head")
    async with engine.connect() as conn:
        assert await conn.run_sync(_tables) == set(Base.metadata.tables)


async def test_models_match_the_migrations(engine: AsyncEngine) -> None:
    def diff(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        return list(compare_metadata(context, Base.metadata))

    async with engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_the_audit_log_refuses_updates_and_deletes(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            insert(AuditEvent).values(
                occurred_at=utcnow(),
                actor="t",
                action="x",
                entity_type="loan",
                entity_ref="L1",
                details={},
            )
        )
    with pytest.raises(DBAPIError, match="append-only"):
        async with engine.begin() as conn:
            await conn.execute(update(AuditEvent).values(actor="someone else"))
    with pytest.raises(DBAPIError, match="append-only"):
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM audit_log"))
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT actor FROM audit_log"))).scalar_one() == "t"
