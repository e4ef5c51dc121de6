"""Portfolio import: stream CSV files into staging tables, then upsert them set-based.

Each file is one transaction: either all its good rows are stored and its bad rows reported, or
(on a database failure) nothing of that file changes. A run's report (counts per file and every
rejected line with its column and reason) is stored and can be read back later.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import dataclasses
import datetime as dt
import operator
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import structlog
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service import audit
from service.cob import CobConfig, refresh_loans
from service.db import sqlite_timestamp, utcnow
from service.errors import InputError, NotFound
from service.ingest.files import FILES, FileSpec, ParseContext, RowRejected
from service.ingest.staging import Stage
from service.models import ImportError_, ImportRun, ImportStatus

log = structlog.get_logger(__name__)

REPORT_ERROR_SAMPLE = 100
MAX_FIELD_ERRORS_IN_MEMORY = 5_000


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


@dataclasses.dataclass(slots=True)
class FileReport:
    file: str
    rows: int = 0
    stored: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(slots=True)
class RowError:
    file: str
    line: int
    column: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(slots=True)
class ImportReport:
    run_id: int
    status: str
    files: list[FileReport]
    error_count: int
    errors: list[RowError]
    ignored_files: list[str]
    failure: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.run_id,
            "status": self.status,
            "files": [report.as_dict() for report in self.files],
            "error_count": self.error_count,
            "errors": [error.as_dict() for error in self.errors],
            "ignored_files": self.ignored_files,
            "failure": self.failure,
        }


@dataclasses.dataclass(frozen=True, slots=True)
class ImportOptions:
    default_region: str = "CN"
    chunk_rows: int = 20_000
    source: str = "cli"
    actor: str = "cli"
    actor_id: int | None = None
    # Recompute the positions of loans whose schedule or payments changed, as of this date
    # (the lender's today); None leaves them to the next close of business.
    refresh_as_of: dt.date | None = None
    cob: CobConfig | None = None


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
    async with engine.begin() as conn:
        run_id = (
            await conn.execute(
                insert(ImportRun)
                .values(
                    status=ImportStatus.running,
                    source=options.source,
                    actor=options.actor,
                    label=label,
                    files={},
                    error_count=0,
                    started_at=utcnow(),
                )
                .returning(ImportRun.id)
            )
        ).scalar_one()
    structlog.contextvars.bind_contextvars(import_run=run_id)
    log.info("import.started", files=[spec.file for spec, _ in files], source=options.source)
    reports: list[FileReport] = []
    failure: str | None = None
    interrupted: BaseException | None = None
    moved: set[int] = set()
    try:
        for spec, path in files:
            async with engine.begin() as conn:
                report = await _import_file(conn, run_id, spec, path, options, progress, moved)
            reports.append(report)
            log.info("import.file_done", **report.as_dict())
        if moved and options.refresh_as_of is not None:
            async with engine.begin() as conn:
                refreshed = await refresh_loans(
                    conn, sorted(moved), options.refresh_as_of, options.cob
                )
            log.info("import.positions_refreshed", loans=refreshed)
    except Exception as exc:
        failure = f"{type(exc).__name__}: {exc}"
        log.exception("import.failed", failure=failure)
    except BaseException as exc:  # cancelled or interrupted: still close the run as failed
        failure, interrupted = f"interrupted ({type(exc).__name__})", exc
    status = ImportStatus.failed if failure else ImportStatus.completed
    async with engine.begin() as conn:
        error_count = (
            await conn.execute(
                select(func.count()).select_from(ImportError_).where(ImportError_.run_id == run_id)
            )
        ).scalar_one()
        files_summary = {report.file: report.as_dict() for report in reports}
        if ignored:
            files_summary["ignored"] = {"files": list(ignored)}
        await conn.execute(
            update(ImportRun)
            .where(ImportRun.id == run_id)
            .values(
                status=status,
                finished_at=utcnow(),
                files=files_summary,
                error_count=error_count,
                failure=failure,
            )
        )
        await audit.record(
            conn,
            actor=options.actor,
            actor_id=options.actor_id,
            action=f"import.{status.value}",
            entity_type="import_run",
            entity_ref=str(run_id),
            details={"files": files_summary, "error_count": error_count, "failure": failure},
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
    stage = Stage(conn)
    if stage.is_postgres:
        # Sorting and hashing millions of staged rows wants more than the 4 MB default.
        await conn.execute(text("SET LOCAL work_mem = '256MB'"))
    report = FileReport(file=spec.file)
    columns = {table: (("line", "int"), *cols) for table, cols in spec.stage.items()}
    for table, cols in columns.items():
        await stage.create(table, cols)
    await stage.create(
        "rejected_lines", (("line", "int"), ("column_name", "text"), ("reason", "text"))
    )

    ctx = ParseContext(default_region=options.default_region, now=utcnow())
    python_rejected = 0
    started_at = time.perf_counter()
    size = (await asyncio.to_thread(path.stat)).st_size
    handle = await asyncio.to_thread(path.open, "rb")
    chunks = _parse_chunks(handle, spec, run_id, ctx, tuple(columns), options.chunk_rows)
    progress.start(spec.file, size)
    # Parsing runs in a thread, one chunk ahead of the database: PostgreSQL ingests chunk N
    # while Python parses chunk N + 1, and the event loop stays free for other requests.
    pending = asyncio.ensure_future(asyncio.to_thread(next, chunks, None))
    try:
        while (chunk := await pending) is not None:
            pending = asyncio.ensure_future(asyncio.to_thread(next, chunks, None))
            for table, rows in chunk.rows.items():
                await stage.write(table, columns[table], rows)
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
    if not stage.is_postgres:
        for table, index_columns in {spec.main_stage: spec.key, **spec.stage_indexes}.items():
            await stage.index(table, index_columns)
    sql_rejected = await _reject_in_sql(conn, stage, spec, run_id)
    checked_at = time.perf_counter()
    report.rejected = python_rejected + sql_rejected
    inserted, updated, accepted = await _upsert(conn, stage, spec, ctx.now)
    report.stored = accepted
    report.inserted = inserted
    report.updated = updated
    report.unchanged = accepted - inserted - updated
    for statement in spec.after:
        await conn.execute(text(statement), {"now": _now_param(stage, ctx.now)})
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
        await stage.drop(table)
    await stage.drop("rejected_lines")
    return report


@dataclasses.dataclass(slots=True)
class _Chunk:
    rows: dict[str, list[tuple[Any, ...]]]
    errors: list[dict[str, Any]]
    read: int = 0
    rejected: int = 0
    position: int = 0


def _parse_chunks(
    handle: BinaryIO,
    spec: FileSpec,
    run_id: int,
    ctx: ParseContext,
    tables: tuple[str, ...],
    chunk_rows: int,
) -> Iterator[_Chunk]:
    """Parse the file into chunks of staged rows (each with its line number) and row errors."""

    def empty() -> _Chunk:
        return _Chunk(rows={table: [] for table in tables}, errors=[])

    chunk = empty()
    parse = spec.parse
    for line, row, problem in _read_rows(handle, spec, run_id):
        if line > 1:
            chunk.read += 1
        if problem is None:
            try:
                staged = parse(row, ctx, line)
            except RowRejected as exc:
                problem = [_error(run_id, spec.file, line, c, r) for c, r in exc.problems]
            else:
                for table, rows in staged.items():
                    chunk.rows[table].extend(rows)
        if problem is not None:
            chunk.errors.extend(problem)
            chunk.rejected += 1 if line > 1 else 0
        full = len(chunk.rows[spec.main_stage]) >= chunk_rows
        if full or len(chunk.errors) >= MAX_FIELD_ERRORS_IN_MEMORY:
            chunk.position = handle.tell()
            yield chunk
            chunk = empty()
    chunk.position = handle.tell()
    yield chunk


def _error(run_id: int, file: str, line: int, column: str, reason: str) -> dict[str, Any]:
    return {"run_id": run_id, "file": file, "line": line, "column_name": column, "reason": reason}


def _read_rows(
    handle: BinaryIO, spec: FileSpec, run_id: int
) -> Iterator[tuple[int, Sequence[str], list[dict[str, Any]] | None]]:
    """Yield (line, raw values in the spec's column order, problems) for every data row.

    Lines are physical line numbers (the header is line 1), so a quoted value spanning lines
    does not shift the numbers reported for later rows.
    """
    undecodable: set[int] = set()
    reader = csv.reader(_decoded_lines(handle, undecodable))
    try:
        header = next(reader)
    except StopIteration:
        yield 1, (), [_error(run_id, spec.file, 1, "*", "file is empty (no header row)")]
        return
    except csv.Error as exc:
        yield 1, (), [_error(run_id, spec.file, 1, "*", f"unreadable header: {exc}")]
        return
    names = [name.strip().lower() for name in header]
    missing = sorted(spec.required_columns - set(names))
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if missing or duplicated:
        problems = [
            _error(run_id, spec.file, 1, name, "required column missing from header")
            for name in missing
        ]
        problems += [
            _error(run_id, spec.file, 1, name, "column appears twice in header")
            for name in duplicated
        ]
        yield 1, (), problems
        return
    width = len(names)
    # Optional columns the file lacks read as the empty string appended at position `width`.
    pick = operator.itemgetter(
        *[names.index(column) if column in names else width for column in spec.columns]
    )
    line = reader.line_num
    while True:
        start = line + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            line = reader.line_num
            yield start, (), [_error(run_id, spec.file, start, "*", f"malformed CSV: {exc}")]
            continue
        line = reader.line_num
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue  # blank line
        if len(fields) != width:
            reason = f"expected {width} fields, found {len(fields)}"
            yield start, (), [_error(run_id, spec.file, start, "*", reason)]
            continue
        if undecodable and any(start <= bad <= line for bad in undecodable):
            yield start, (), [_error(run_id, spec.file, start, "*", "text is not valid UTF-8")]
            continue
        fields.append("")
        yield start, pick(fields), None


def _decoded_lines(handle: BinaryIO, undecodable: set[int]) -> Iterator[str]:
    """Decode line by line, noting the physical lines that are not UTF-8."""
    first = True
    for number, raw in enumerate(handle, start=1):
        try:
            decoded = raw.decode("utf-8")
        except UnicodeDecodeError:
            decoded = raw.decode("utf-8", errors="replace")
            undecodable.add(number)
        if first:
            decoded = decoded.removeprefix("\ufeff")  # Excel writes a byte-order mark
            first = False
        yield decoded


async def _reject_in_sql(conn: AsyncConnection, stage: Stage, spec: FileSpec, run_id: int) -> int:
    """Reject staged rows that clash with each other or with stored data; return lines rejected."""
    table = spec.main_stage
    keys = spec.key
    key_label = ", ".join(keys)
    key_value = " || ', ' || ".join(f"s.{k}" for k in keys)
    on = " AND ".join(f"s.{k} = d.{k}" for k in keys)
    statements = [
        f"""INSERT INTO rejected_lines (line, column_name, reason)
            SELECT s.line, '{keys[-1]}',
                   'duplicate {key_label} ' || {key_value}
                     || ' (first at line ' || d.first_line || ')'
            FROM {table} s
            JOIN (SELECT {", ".join(keys)}, min(line) AS first_line FROM {table}
                  GROUP BY {", ".join(keys)} HAVING count(*) > 1) d
              ON {on} AND s.line <> d.first_line"""
    ]
    for parent in spec.parents:
        statements.append(
            f"""INSERT INTO rejected_lines (line, column_name, reason)
                SELECT s.line, '{parent.column}',
                       'unknown {parent.column} ''' || s.{parent.column} || ''''
                FROM {table} s
                WHERE NOT EXISTS (SELECT 1 FROM {parent.table} p
                                  WHERE p.{parent.ref_column} = s.{parent.column})"""
        )
    for check in spec.checks:
        statements.append(
            f"INSERT INTO rejected_lines (line, column_name, reason) "
            f"SELECT q.line, '{check.column}', q.reason FROM ({check.sql}) q"
        )
    if stage.is_postgres:
        await stage.analyze(table)
    for statement in statements:
        await conn.execute(text(statement))
    rejected = (
        await conn.execute(text("SELECT count(DISTINCT line) FROM rejected_lines"))
    ).scalar_one()
    if rejected:
        await conn.execute(
            text(
                "INSERT INTO import_errors (run_id, file, line, column_name, reason) "
                "SELECT :run_id, :file, line, column_name, reason FROM rejected_lines"
            ),
            {"run_id": run_id, "file": spec.file},
        )
        for staged in spec.stage:
            if staged == table:
                await conn.execute(
                    text(f"DELETE FROM {staged} WHERE line IN (SELECT line FROM rejected_lines)")
                )
    return int(rejected)


async def _upsert(
    conn: AsyncConnection, stage: Stage, spec: FileSpec, now: dt.datetime
) -> tuple[int, int, int]:
    """Update staged rows that differ, insert new ones; return (inserted, updated, accepted).

    Two plain statements instead of INSERT ... ON CONFLICT: speculative insertion costs more than
    an anti-join on millions of rows, and imports of one kind are serialised (below), so no other
    import can insert the same key in between.
    """
    upsert = spec.upsert
    if stage.is_postgres:
        await conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
            {"key": f"arrears.import.{upsert.target}"},
        )
    now_sql = "CAST(:now AS timestamptz)" if stage.is_postgres else ":now"
    values = {column: sql.replace(":now", now_sql) for column, sql in upsert.values.items()}
    columns = list(values)
    changeable = [c for c in columns if c not in upsert.conflict and c not in upsert.insert_only]
    compared = [c for c in changeable if c != "updated_at"]
    source = f"FROM {spec.main_stage} s {upsert.joins} WHERE true"
    params = {"now": _now_param(stage, now)}
    accepted = (await conn.execute(text(f"SELECT count(*) FROM {spec.main_stage}"))).scalar_one()
    updated = 0
    if compared:
        select_list = ", ".join(f"{values[c]} AS {c}" for c in columns)
        match = " AND ".join(f"t.{c} = v.{c}" for c in upsert.conflict)
        differs = " OR ".join(f"t.{c} IS DISTINCT FROM v.{c}" for c in compared)
        result = await conn.execute(
            text(
                f"UPDATE {upsert.target} AS t SET {', '.join(f'{c} = v.{c}' for c in changeable)} "
                f"FROM (SELECT {select_list} {source}) AS v WHERE {match} AND ({differs})"
            ),
            params,
        )
        updated = result.rowcount
    exists = " AND ".join(f"t.{c} = {values[c]}" for c in upsert.conflict)
    result = await conn.execute(
        text(
            f"INSERT INTO {upsert.target} ({', '.join(columns)}) "
            f"SELECT {', '.join(values[c] for c in columns)} {source} "
            f"AND NOT EXISTS (SELECT 1 FROM {upsert.target} t WHERE {exists})"
        ),
        params,
    )
    return int(result.rowcount), int(updated), int(accepted)


def _now_param(stage: Stage, now: dt.datetime) -> Any:
    return now if stage.is_postgres else sqlite_timestamp(now)


async def load_report(
    engine: AsyncEngine, run_id: int, sample: int = REPORT_ERROR_SAMPLE
) -> ImportReport:
    async with engine.connect() as conn:
        run = (await conn.execute(select(ImportRun).where(ImportRun.id == run_id))).one_or_none()
        if run is None:
            raise NotFound(f"import run {run_id} does not exist")
        errors = await list_errors(conn, run_id, limit=sample, offset=0)
    files = [
        FileReport(**summary) for name, summary in (run.files or {}).items() if name != "ignored"
    ]
    ignored = list((run.files or {}).get("ignored", {}).get("files", []))
    return ImportReport(
        run_id=run.id,
        status=ImportStatus(run.status).value,
        files=files,
        error_count=run.error_count,
        errors=errors,
        ignored_files=ignored,
        failure=run.failure,
    )


async def list_errors(
    conn: AsyncConnection, run_id: int, *, limit: int, offset: int, file: str | None = None
) -> list[RowError]:
    query = select(ImportError_).where(ImportError_.run_id == run_id)
    if file:
        query = query.where(ImportError_.file == file)
    query = (
        query.order_by(ImportError_.file, ImportError_.line, ImportError_.id)
        .limit(limit)
        .offset(offset)
    )
    rows = (await conn.execute(query)).all()
    return [RowError(row.file, row.line, row.column_name, row.reason) for row in rows]
