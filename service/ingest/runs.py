"""An import run's life in ``import_runs``: opened by the process that runs it, a summary and an
audit event with every file it commits, closed completed or failed — and, when that process was
killed, closed ``interrupted`` by the next one that starts, with the files it had committed.

The owner is the running process (service.processes). On PostgreSQL it also beats a heartbeat
beside the file's transaction, so a process on another host can tell a live run from a dead
one; on SQLite (one host by nature, one writer at a time) the owner's pid decides.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator, Mapping
from typing import Any

import structlog
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service import audit
from service.clock import utcnow
from service.db import dialect
from service.db.models import ImportError_, ImportRun, ImportStatus
from service.ingest.report import FileReport
from service.processes import HEARTBEAT, STALE_AFTER, is_alive, process_identity

log = structlog.get_logger(__name__)

# Who closes a dead process's run, in the audit trail (the run keeps who started it).
SWEEPER = "arrears"


@dataclasses.dataclass(frozen=True, slots=True)
class RunActor:
    """Who asked for the run, as the audit trail names them."""

    source: str
    actor: str
    actor_id: int | None = None


async def open_run(engine: AsyncEngine, who: RunActor, label: str) -> int:
    now = utcnow()
    async with engine.begin() as conn:
        run_id: int = (
            await conn.execute(
                insert(ImportRun)
                .values(
                    status=ImportStatus.running,
                    source=who.source,
                    actor=who.actor,
                    label=label,
                    files={},
                    error_count=0,
                    started_at=now,
                    owner=process_identity(),
                    heartbeat_at=now,
                )
                .returning(ImportRun.id)
            )
        ).scalar_one()
    return run_id


def summary_of(reports: list[FileReport], ignored: list[str]) -> dict[str, Any]:
    """``import_runs.files``: each file's counts by name, and the files not in the contract."""
    files: dict[str, Any] = {report.file: report.as_dict() for report in reports}
    if ignored:
        files["ignored"] = {"files": ignored}
    return files


async def file_committed(
    conn: AsyncConnection,
    run_id: int,
    who: RunActor,
    report: FileReport,
    summary: Mapping[str, Any],
) -> None:
    """In the file's own transaction: the run's summary so far and the file's audit event, so
    that what a file stored and its record commit together (or not at all)."""
    await conn.execute(
        update(ImportRun)
        .where(ImportRun.id == run_id)
        .values(files=dict(summary), heartbeat_at=utcnow())
    )
    await audit.record(
        conn,
        actor=who.actor,
        actor_id=who.actor_id,
        action="import.file_committed",
        entity_type="import_run",
        entity_ref=str(run_id),
        details=report.as_dict(),
    )


async def close_run(
    engine: AsyncEngine,
    run_id: int,
    who: RunActor,
    status: ImportStatus,
    summary: Mapping[str, Any],
    failure: str | None,
) -> int:
    """Finish the run (its error count, summary and audit event); returns the error count."""
    async with engine.begin() as conn:
        return await _close(conn, run_id, who, status, summary, failure)


async def _close(
    conn: AsyncConnection,
    run_id: int,
    who: RunActor,
    status: ImportStatus,
    summary: Mapping[str, Any],
    failure: str | None,
) -> int:
    errors = int(
        await conn.scalar(
            select(func.count()).select_from(ImportError_).where(ImportError_.run_id == run_id)
        )
        or 0
    )
    await conn.execute(
        update(ImportRun)
        .where(ImportRun.id == run_id)
        .values(
            status=status,
            finished_at=utcnow(),
            files=dict(summary),
            error_count=errors,
            failure=failure,
        )
    )
    await audit.record(
        conn,
        actor=who.actor,
        actor_id=who.actor_id,
        action=f"import.{status.value}",
        entity_type="import_run",
        entity_ref=str(run_id),
        details={"files": dict(summary), "error_count": errors, "failure": failure},
    )
    return errors


@contextlib.asynccontextmanager
async def heartbeat(engine: AsyncEngine, run_id: int) -> AsyncIterator[None]:
    """Stamp the run's heartbeat every few seconds while the block runs (PostgreSQL only)."""
    if not dialect.is_postgresql(engine):
        yield
        return

    async def beat() -> None:
        while True:
            await asyncio.sleep(HEARTBEAT.total_seconds())
            try:
                async with engine.begin() as conn:
                    await conn.execute(
                        update(ImportRun)
                        .where(ImportRun.id == run_id, ImportRun.status == ImportStatus.running)
                        .values(heartbeat_at=utcnow())
                    )
            except Exception:  # a database hiccup: the next beat tries again
                log.warning("import.heartbeat_failed", exc_info=True)

    beating = asyncio.ensure_future(beat())
    try:
        yield
    finally:
        beating.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beating


async def sweep_interrupted(engine: AsyncEngine, now: dt.datetime) -> list[int]:
    """Close ``interrupted`` every running import whose process is gone: on this host, its pid
    no longer runs; on PostgreSQL, also its heartbeat older than STALE_AFTER (another host's
    process, or a pid since reused). Each keeps the files it
    had committed, with their counts; returns the runs closed."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(
                    ImportRun.id,
                    ImportRun.owner,
                    ImportRun.heartbeat_at,
                    ImportRun.started_at,
                    ImportRun.files,
                    ImportRun.source,
                ).where(ImportRun.status == ImportStatus.running)
            )
        ).all()
    closed = []
    for run_id, owner, beat, started, files, source in rows:
        alive = is_alive(owner) if owner else False
        if dialect.is_postgresql(engine) and (beat or started) < now - STALE_AFTER:
            alive = False  # silent: gone, whatever runs under its pid now
        if alive is not False:
            continue
        async with engine.begin() as conn:
            still = await conn.scalar(
                select(ImportRun.status).where(ImportRun.id == run_id).with_for_update()
            )
            if still != ImportStatus.running:
                continue  # it finished meanwhile
            reason = f"interrupted: the process running it ({owner or 'unknown'}) stopped"
            await _close(
                conn,
                run_id,
                RunActor(source, SWEEPER),
                ImportStatus.interrupted,
                files or {},
                reason,
            )
        closed.append(run_id)
        log.warning("import.interrupted", run=run_id, owner=owner, files=sorted(files or {}))
    return closed
