"""Portfolio import, the pipeline: parse each file into staging tables (one chunk ahead of the
database), check set-based, upsert, report.

Each file is one transaction: either all its good rows are stored and its bad rows reported, or
(on a database failure) nothing of that file changes; the run's record of a file (its counts and
audit event) commits with it (service.ingest.runs). A run's report (counts per file and every
rejected line with its column and reason) is stored and can be read back later.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Protocol

import structlog
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.clock import utcnow
from service.cob.engine import refresh_loans
from service.db import dialect
from service.db.models import ImportError_, ImportStatus
from service.domain.delinquency import CobConfig
from service.errors import InputError
from service.ingest.checks import reject_in_sql
from service.ingest.contract import FileSpec, ParseContext
from service.ingest.files import FILES
from service.ingest.reading import parse_chunks
from service.ingest.report import FileReport, ImportReport, load_report
from service.ingest.runs import RunActor, close_run, file_committed, heartbeat, open_run, summary_of
from service.ingest.upsert import upsert

log = structlog.get_logger(__name__)


class Progress(Protocol):
    """What the CLI's progress bar (or nothing) is told while a file streams in."""

    def start(self, file: str, total_bytes: int) -> None: ...

    def advance(self, done_bytes: int) -> None: ...

    def finish(self) -> None: ...


class NoProgress:
    def start(self, file: str, total_bytes: int) -> None:
        pass

    def advance(self, done_bytes: int) -> None:
        pass

    def finish(self) -> None:
        pass


AfterRefresh = Callable[[AsyncConnection, list[int], dt.date], Awaitable[None]]


@dataclasses.dataclass(frozen=True, slots=True)
class ImportOptions:
    default_region: str = "CN"
    lender_zone: str = "Asia/Shanghai"  # the lender's calendar, for the dates of moments
    chunk_rows: int = 20_000
    source: str = "cli"
    actor: str = "cli"
    actor_id: int | None = None
    # Recompute the positions of loans whose schedule or payments changed, as of this date
    # (the lender's today); None leaves them to the next close of business.
    refresh_as_of: dt.date | None = None
    cob: CobConfig | None = None
    # What else follows those loans' new payments, in the refresh's transaction (the callers
    # pass the keeping of promises, which lives above the import: service.contact).
    after_refresh: AfterRefresh | None = None


async def import_directory(
    engine: AsyncEngine,
    directory: Path,
    options: ImportOptions,
    progress: Progress | None = None,
) -> ImportReport:
    """Import every contract file present in ``directory`` (any subset), in dependency order."""
    present = await asyncio.to_thread(_list_directory, directory)
    specs = [spec for spec in FILES if spec.file in present]
    known = {spec.file for spec in FILES}
    ignored = sorted(name for name in present if name not in known and not name.startswith("."))
    if not specs:
        raise InputError(
            f"no import files in {directory}; expected any of "
            + ", ".join(spec.file for spec in FILES)
        )
    return await import_files(
        engine,
        [(spec, present[spec.file]) for spec in specs],
        options,
        progress,
        ignored,
        str(directory),
    )


def _list_directory(directory: Path) -> dict[str, Path]:
    if not directory.is_dir():
        raise InputError(f"{directory} is not a directory")
    return {path.name: path for path in directory.iterdir() if path.is_file()}


async def import_files(
    engine: AsyncEngine,
    files: Sequence[tuple[FileSpec, Path]],
    options: ImportOptions,
    progress: Progress | None = None,
    ignored: Sequence[str] = (),
    label: str = "",
) -> ImportReport:
    progress = progress or NoProgress()
    who = RunActor(options.source, options.actor, options.actor_id)
    run_id = await open_run(engine, who, label)
    structlog.contextvars.bind_contextvars(import_run=run_id)
    log.info("import.started", files=[spec.file for spec, _ in files], source=options.source)
    reports: list[FileReport] = []
    failure: str | None = None
    interrupted: BaseException | None = None
    moved: set[int] = set()
    try:
        async with heartbeat(engine, run_id):
            for spec, path in files:
                async with engine.begin() as conn:
                    report = await _import_file(conn, run_id, spec, path, options, progress, moved)
                    # The run's record of the file commits with the file (a kill -9 later
                    # leaves the run saying which files were stored, and how many rows).
                    summary = summary_of([*reports, report], list(ignored))
                    await file_committed(conn, run_id, who, report, summary)
                reports.append(report)
                log.info("import.file_done", **report.as_dict())
            if moved and options.refresh_as_of is not None:
                async with engine.begin() as conn:
                    refreshed = await refresh_loans(
                        conn, sorted(moved), options.refresh_as_of, options.cob
                    )
                    if options.after_refresh is not None:
                        await options.after_refresh(conn, sorted(moved), options.refresh_as_of)
                log.info("import.positions_refreshed", loans=refreshed)
    except Exception as exc:
        failure = f"{type(exc).__name__}: {exc}"
        log.exception("import.failed", failure=failure)
    except BaseException as exc:  # cancelled, or Ctrl-C: the run is closed, then it goes on
        failure, interrupted = f"interrupted ({type(exc).__name__})", exc
    status = ImportStatus.failed if failure else ImportStatus.completed
    if interrupted is not None:
        status = ImportStatus.interrupted
    error_count = await close_run(
        engine, run_id, who, status, summary_of(reports, list(ignored)), failure
    )
    log.info("import.finished", status=status.value, error_count=error_count)
    structlog.contextvars.unbind_contextvars("import_run")
    if interrupted is not None:
        raise interrupted
    return await load_report(engine, run_id)


async def _import_file(
    conn: AsyncConnection,
    run_id: int,
    spec: FileSpec,
    path: Path,
    options: ImportOptions,
    progress: Progress,
    moved: set[int],
) -> FileReport:
    await dialect.write_now(conn)  # SQLite: staged, checked and stored in one writing turn
    await dialect.tune_for_batch(conn, work_mem="256MB")
    report = FileReport(file=spec.file)
    columns = {table: (("line", "int"), *cols) for table, cols in spec.stage.items()}
    for table, cols in columns.items():
        await dialect.create_temp_table(conn, table, cols)
    await dialect.create_temp_table(
        conn, "rejected_lines", (("line", "int"), ("column_name", "text"), ("reason", "text"))
    )

    ctx = ParseContext(
        default_region=options.default_region, now=utcnow(), lender_zone=options.lender_zone
    )
    python_rejected = 0
    started_at = time.perf_counter()
    size = (await asyncio.to_thread(path.stat)).st_size
    handle = await asyncio.to_thread(path.open, "rb")
    chunks = parse_chunks(handle, spec, run_id, ctx, tuple(columns), options.chunk_rows)
    progress.start(spec.file, size)
    # Parsing runs in a thread, one chunk ahead of the database: PostgreSQL ingests chunk N
    # while Python parses chunk N + 1, and the event loop stays free for other requests.
    pending = asyncio.ensure_future(asyncio.to_thread(next, chunks, None))
    try:
        while (chunk := await pending) is not None:
            pending = asyncio.ensure_future(asyncio.to_thread(next, chunks, None))
            for table, rows in chunk.rows.items():
                await dialect.bulk_insert(conn, table, columns[table], rows)
            if chunk.errors:
                await conn.execute(insert(ImportError_), chunk.errors)
            report.rows += chunk.read
            python_rejected += chunk.rejected
            progress.advance(chunk.position)
    finally:
        if not pending.done():
            pending.cancel()
        with contextlib.suppress(BaseException):
            await pending
        await asyncio.to_thread(handle.close)
        progress.finish()
    staged_at = time.perf_counter()
    for table, index_columns in {spec.main_stage: spec.key, **spec.stage_indexes}.items():
        await dialect.index_for_nested_loops(conn, table, index_columns)
    sql_rejected = await reject_in_sql(conn, spec, run_id)
    checked_at = time.perf_counter()
    report.rejected = python_rejected + sql_rejected
    inserted, updated, accepted = await upsert(conn, spec, ctx.now)
    report.stored = accepted
    report.inserted = inserted
    report.updated = updated
    report.unchanged = accepted - inserted - updated
    for statement in spec.after:
        await conn.execute(text(statement), {"now": dialect.timestamp(conn, ctx.now)})
    if spec.moves_positions and options.refresh_as_of is not None:
        touched = await conn.execute(
            text(
                f"SELECT DISTINCT l.id FROM {spec.main_stage} s "
                "JOIN loans l ON l.loan_ref = s.loan_ref"
            )
        )
        moved.update(touched.scalars())
    log.info(
        "import.file_timing",
        file=spec.file,
        stage_seconds=round(staged_at - started_at, 2),
        check_seconds=round(checked_at - staged_at, 2),
        upsert_seconds=round(time.perf_counter() - checked_at, 2),
    )
    for table in columns:
        await dialect.drop_temp_table(conn, table)
    await dialect.drop_temp_table(conn, "rejected_lines")
    return report
