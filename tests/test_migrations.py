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
from service.db.partitions import is_pg_only_table

DOMAIN = {"borrowers", "loans", "installments", "payments", "attempts", "audit_log", "users"}


def _tables(connection: Connection) -> set[str]:
    # PostgreSQL's month partitions and the attempts' key table are no model's (migration 0016).
    names = set(inspect(connection).get_table_names()) - {"alembic_version"}
    return {name for name in names if not is_pg_only_table(name)}


def _kept(name: str | None, type_: str, parent_names: Any) -> bool:
    return not (type_ == "table" and name is not None and is_pg_only_table(name))


# Deliberate: on PostgreSQL the contact log is partitioned by month (migration 0016), so each
# unique key holds occurred_at too (their guarantee across months: the attempt_keys table), and
# no foreign key can name attempts.id (triggers check them). Any other difference fails.
_PARTITIONED_ATTEMPTS = {
    *(
        (kind, "attempts", columns + (("occurred_at",) if kind == "remove_constraint" else ()))
        for kind in ("add_constraint", "remove_constraint")
        for columns in (
            ("attempt_ref", "revision"),
            ("outbox_id", "revision"),
            ("provider_ref", "revision"),
            ("supersedes_id",),
        )
    ),
    ("add_fk", "attempts", ("fk_attempts_supersedes_id_attempts",)),
    ("add_fk", "promises", ("fk_promises_attempt_id_attempts",)),
}


def _signature(item: Any) -> tuple[str, str, tuple[str, ...]]:
    kind, thing = item[0], item[1]
    if kind == "add_fk":
        return kind, thing.table.name, (str(thing.name),)
    if kind in ("add_constraint", "remove_constraint") and hasattr(thing, "columns"):
        return kind, thing.table.name, tuple(c.name for c in thing.columns)
    return kind, repr(thing), ()


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
        context = MigrationContext.configure(
            connection, opts={"compare_type": False, "include_name": _kept}
        )
        return list(compare_metadata(context, Base.metadata))

    async with engine.connect() as conn:
        found = await conn.run_sync(diff)
    if engine.dialect.name == "postgresql":
        assert sorted(map(_signature, found)) == sorted(_PARTITIONED_ATTEMPTS)
    else:
        assert found == []


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


async def test_migrating_down_and_up_keeps_the_portfolio(
    engine: AsyncEngine, tmp_path: Any
) -> None:
    """SQLite rebuilds a table to alter it; with foreign keys enforced the old table's DROP
    took the rows referencing it (a loan's installments and payments) along. Nothing is lost."""
    from service.ingest.pipeline import ImportOptions, import_directory

    files = {
        "borrowers.csv": "borrower_ref,name,phone,alt_phones,timezone,locale,region,address,"
        "sms_consent\nB1,Wang,+8613800138000,+8613900139000,Asia/Shanghai,zh-CN,CN,Beijing,true\n",
        "loans.csv": "loan_ref,borrower_ref,product,currency,principal,annual_rate,"
        "penalty_rate_daily,disbursed_on,maturity_on\n"
        "L1,B1,cash,CNY,1000.00,0.1,0.0005,2026-01-01,2026-03-01\n",
        "installments.csv": "loan_ref,seq,due_on,principal_due,interest_due\n"
        "L1,1,2026-02-01,500.00,10.00\nL1,2,2026-03-01,500.00,5.00\n",
        "payments.csv": "payment_ref,loan_ref,paid_on,amount\nP1,L1,2026-02-01,510.00\n",
    }
    for name, body in files.items():
        (tmp_path / name).write_text(body, encoding="utf-8")
    report = await import_directory(engine, tmp_path, ImportOptions(default_region="CN"))
    assert report.error_count == 0, report.errors
    kept = ("borrowers", "phone_numbers", "loans", "installments", "payments")

    async def counts() -> dict[str, int]:
        async with engine.connect() as conn:
            return {
                table: (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
                for table in kept
            }

    before = await counts()
    assert all(before.values()), before
    await downgrade(engine, "0006")
    await upgrade(engine, "head")
    assert await counts() == before
