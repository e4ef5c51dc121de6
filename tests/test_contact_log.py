"""The contact log is append-only in the database: UPDATE, DELETE and TRUNCATE are refused on
both databases, whoever asks; what is learnt later is a new revision that supersedes the one
before, and readers see each attempt as it stands."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from service.contact import log
from service.domain.contact import Disposition
from service.ingest.pipeline import ImportOptions, import_directory
from service.settings import Settings
from tests.twilio_support import SMS_SID, rows, seed

REFUSED = "append-only"


async def test_update_delete_and_truncate_are_refused(engine: AsyncEngine) -> None:
    await seed(engine)
    before = await rows(engine, "SELECT * FROM attempts ORDER BY id")
    assert before
    statements = [
        "UPDATE attempts SET result = 'conversation'",
        "UPDATE attempts SET disposition = 'rpc' WHERE id = 1",
        "DELETE FROM attempts WHERE id = 1",
        "DELETE FROM attempts",
    ]
    if engine.dialect.name == "postgresql":
        # Partitioned by month (migration 0016): the parents and each partition refuse.
        (partition,) = await rows(engine, "SELECT DISTINCT tableoid::regclass FROM attempts")
        statements += [
            "TRUNCATE attempts CASCADE",
            "TRUNCATE audit_log",
            f"TRUNCATE {partition[0]}",
            f"UPDATE {partition[0]} SET result = 'busy'",
            f"DELETE FROM {partition[0]}",
            "TRUNCATE audit_log_default",
        ]
    for statement in statements:
        with pytest.raises(DBAPIError, match=REFUSED):
            async with engine.begin() as conn:
                await conn.execute(text(statement))
    if engine.dialect.name == "postgresql":
        # An upsert that would rewrite a stored attempt never reaches the UPDATE path: its key
        # (attempt_ref, revision) is taken, so the row is skipped before the conflict.
        async with engine.begin() as conn:
            upsert = await conn.execute(
                text(
                    "INSERT INTO attempts SELECT * FROM attempts WHERE id = 1 "
                    "ON CONFLICT (id, occurred_at) DO UPDATE SET result = 'busy'"
                )
            )
        assert upsert.rowcount == 0
    assert await rows(engine, "SELECT * FROM attempts ORDER BY id") == before


async def test_a_role_that_does_not_own_the_tables_cannot_switch_the_guard_off(
    settings: Settings, engine: AsyncEngine
) -> None:
    """docs/contact-log.md: the application runs as a role with DML rights that does not own
    the tables (the owner runs the migrations) — it can neither write around the triggers nor
    disable them."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no roles: the triggers are the guard")
    await seed(engine)
    role = f"arrears_app_{secrets.token_hex(3)}"
    dsn = settings.database_url.replace("+asyncpg", "")
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f"CREATE ROLE {role} LOGIN")
        await admin.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON attempts TO {role}")
        app = await asyncpg.connect(dsn, user=role)
        try:
            with pytest.raises(asyncpg.RaiseError, match=REFUSED):
                await app.execute("UPDATE attempts SET result = 'busy'")
            with pytest.raises(asyncpg.RaiseError, match=REFUSED):
                await app.execute("DELETE FROM attempts")
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await app.execute("ALTER TABLE attempts DISABLE TRIGGER attempts_no_update")
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await app.execute("TRUNCATE attempts")
        finally:
            await app.close()
    finally:
        await admin.execute(f"REVOKE ALL ON attempts FROM {role}")
        await admin.execute(f"DROP ROLE {role}")
        await admin.close()


async def test_a_final_report_is_a_new_revision_and_the_first_stays(engine: AsyncEngine) -> None:
    await seed(engine)
    async with engine.begin() as conn:
        # On the way there: nothing the log keeps changes.
        assert not await log.report_status(conn, provider_ref=SMS_SID, status="sent")
        assert await log.report_status(conn, provider_ref=SMS_SID, status="delivered")
        # The same report again, and one from before it, change nothing.
        assert not await log.report_status(conn, provider_ref=SMS_SID, status="delivered")
        assert not await log.report_status(conn, provider_ref=SMS_SID, status="sent")
    revisions = await rows(
        engine,
        "SELECT revision, result, provider_status, supersedes_id IS NULL, recorded_by "
        f"FROM attempts WHERE provider_ref = '{SMS_SID}' ORDER BY revision",
    )
    assert [revision[:2] for revision in revisions] == [(0, "pending"), (1, "delivered")]
    assert revisions[1][2:] == ("delivered", False, "provider")
    # The log as it stands has the attempt once, delivered.
    assert await rows(
        engine, f"SELECT result FROM contact_log WHERE provider_ref = '{SMS_SID}'"
    ) == [("delivered",)]


async def test_racing_corrections_each_land_as_their_own_revision(engine: AsyncEngine) -> None:
    floor = await seed(engine)
    ((ref,),) = await rows(
        engine, f"SELECT attempt_ref FROM attempts WHERE id = {floor.call_attempt}"
    )

    async def dispose(disposition: Disposition) -> None:
        async with engine.begin() as conn:
            await log.record_disposition(
                conn, floor.call_attempt, disposition, on=dt.date(2026, 12, 1), source="collector"
            )

    await asyncio.gather(dispose(Disposition.rpc), dispose(Disposition.callback_requested))
    chain = await rows(
        engine,
        f"SELECT revision, disposition FROM attempts WHERE attempt_ref = '{ref}' ORDER BY revision",
    )
    assert [revision for revision, _ in chain] == [0, 1, 2]
    assert {disposition for _, disposition in chain[1:]} == {"rpc", "callback_requested"}
    assert len(await rows(engine, f"SELECT id FROM contact_log WHERE attempt_ref = '{ref}'")) == 1


HEADER = "attempt_ref,loan_ref,party,phone,channel,direction,occurred_at,result,disposition\n"


async def test_a_reimported_attempt_with_other_values_is_a_correction(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    await seed(engine)
    folder = tmp_path / "in"
    folder.mkdir()
    line = "H-1,L-1,debtor,+8613800138000,call,outbound,2026-11-30T10:00:00+08:00,{},\n"

    async def send(result: str) -> None:
        (folder / "attempts.csv").write_text(HEADER + line.format(result), encoding="utf-8")
        report = await import_directory(engine, folder, ImportOptions(default_region="CN"))
        assert report.error_count == 0, report.errors

    await send("no_answer")
    await send("no_answer")  # the same row again: nothing new
    assert await rows(
        engine, "SELECT revision, result FROM attempts WHERE attempt_ref = 'H-1'"
    ) == [(0, "no_answer")]
    await send("conversation")
    assert await rows(
        engine, "SELECT revision, result FROM attempts WHERE attempt_ref = 'H-1' ORDER BY revision"
    ) == [(0, "no_answer"), (1, "conversation")]
    assert await rows(engine, "SELECT result FROM contact_log WHERE attempt_ref = 'H-1'") == [
        ("conversation",)
    ]
