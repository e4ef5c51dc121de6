"""An import's report: counts per file and every rejected line (file, line, column, reason),
stored with the run so it can be read back later."""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.db.models import ImportError_, ImportRun, ImportStatus
from service.errors import NotFound

REPORT_ERROR_SAMPLE = 100


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


async def list_runs(conn: AsyncConnection, *, limit: int, offset: int) -> dict[str, Any]:
    """Import runs, newest first: ``{"total", "items"}`` (rows of import_runs)."""
    total = await conn.scalar(select(func.count()).select_from(ImportRun))
    rows = (
        await conn.execute(
            select(ImportRun).order_by(ImportRun.id.desc()).limit(limit).offset(offset)
        )
    ).all()
    return {"total": int(total or 0), "items": rows}
