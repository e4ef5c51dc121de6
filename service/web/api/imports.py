"""The import contract over HTTP: upload any subset of the CSV files; read stored reports.

A small upload is imported inside the request (201 with its report); one larger than
``ARREARS_IMPORT_INLINE_BYTES`` becomes a job (202): the files wait under the shared
``var/uploads`` for whoever runs jobs.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Annotated, Any

import pydantic
from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import Field

from service.auth import CurrentUser
from service.clock import lender_today
from service.contact.promise_keeping import after_import
from service.db.models import ImportStatus, JobKind
from service.errors import InputError, ValidationFailed
from service.ingest import uploads
from service.ingest.files import FILES_BY_NAME
from service.ingest.pipeline import ImportOptions, import_files
from service.ingest.report import ImportReport, list_errors, list_runs, load_report
from service.web.api.framework import STAFF, Api, In, Out, Reply, TextIn
from service.web.api.jobs import JobOut
from service.web.api.schemas import Id, Instant, Items, Limit, Offset, Page
from service.web.keys import CLOCK, ENGINE, JOBS, SETTINGS
from workers.jobs import get_job, submit

api = Api("imports")

_SAFE_NAME = re.compile(r"^[a-z_]+\.csv$")

# The upload's parts: one per contract file, named as the file (described for the document;
# the handler streams each part to disk rather than holding it).
_PARTS: dict[str, Any] = {
    name: (bytes | None, Field(None, description=f"the {name} of the import contract"))
    for name in FILES_BY_NAME
}
Upload = pydantic.create_model("Upload", __base__=In, **_PARTS)


class FileReportOut(Out):
    file: str
    rows: int
    stored: int
    inserted: int
    updated: int
    unchanged: int
    rejected: int


class RowErrorOut(Out):
    file: str
    line: int
    column: str
    reason: str


class ImportReportOut(Out):
    """An import's report: counts per file, the first rejected lines, the failure if any."""

    id: int
    status: ImportStatus
    files: list[FileReportOut]
    error_count: int
    errors: list[RowErrorOut]
    ignored_files: list[str]
    failure: str | None


class ImportRunOut(Out):
    id: int
    status: ImportStatus
    source: str
    actor: str
    label: str
    started_at: Instant
    finished_at: Instant | None
    error_count: int


class RunPath(TextIn):
    id: Id


class RunQuery(TextIn):
    limit: Annotated[Limit, Field(le=200)] = 20
    offset: Offset = 0


class ErrorQuery(TextIn):
    limit: Annotated[Limit, Field(le=1000)] = 100
    offset: Offset = 0
    file: str | None = Field(
        None, max_length=64, description="only this file's errors, e.g. loans.csv"
    )


@api.post(
    "/api/imports",
    summary="Upload contract CSV files (multipart, one part per file)",
    roles=STAFF,
    status=201,
    form=Upload,
    responses={201: ImportReportOut, 202: JobOut},
)
async def create_import(request: web.Request, user: CurrentUser) -> Reply[Any]:
    """201 with the report when the upload is small; 202 with a job when it is larger than
    ``ARREARS_IMPORT_INLINE_BYTES`` (its result is the same report)."""
    if not request.content_type.startswith("multipart/"):
        raise InputError("upload the CSV files as multipart/form-data, one part per file")
    try:
        reader = await request.multipart()
    except ValueError as exc:  # no boundary
        raise InputError(f"the upload is not a readable multipart/form-data body: {exc}") from None
    report, job_id = await receive_upload(request, user, reader)
    if job_id is not None:
        return Reply(JobOut.of(await get_job(request.app[ENGINE], job_id)), 202)
    assert report is not None
    return Reply(ImportReportOut.model_validate(report.as_dict()), 201)


async def receive_upload(
    request: web.Request, user: CurrentUser, reader: MultipartReader, source: str = "api"
) -> tuple[ImportReport | None, int | None]:
    """The upload's files (the rest of ``reader``, a part per contract file) imported now —
    (the report, None) — or, larger than ``ARREARS_IMPORT_INLINE_BYTES``, handed to a job —
    (None, its id). The API and the imports page (``source`` "web") both upload through here."""
    settings = request.app[SETTINGS]
    directory = await asyncio.to_thread(uploads.scratch_directory, settings.var_dir)
    handed_over = False
    try:
        try:
            names, size = await _receive(
                reader, request.content_length, directory, settings.import_max_bytes
            )
        # aiohttp's reader: no boundary, a truncated body, a part's header line unreadable …
        except (ValueError, HttpProcessingError) as exc:
            raise InputError(
                f"the upload is not a readable multipart/form-data body: {exc}"
            ) from None
        specs = [spec for spec in FILES_BY_NAME.values() if spec.file in names]
        label = "upload: " + ", ".join(spec.file for spec in specs)
        if size > settings.import_inline_bytes:
            params = {
                "directory": str(directory),
                "files": [spec.file for spec in specs],
                "label": label,
                "source": source,
                "actor": user.username,
                "actor_id": user.id,
            }
            await asyncio.to_thread(uploads.hand_over, directory)
            job_id = await submit(
                request.app[ENGINE], request.app[JOBS], JobKind.import_files, params, user.username
            )
            handed_over = True  # the job removes the directory when it is done with it
            return None, job_id
        report = await import_files(
            request.app[ENGINE],
            [(spec, directory / spec.file) for spec in specs],
            ImportOptions(
                default_region=settings.default_phone_region,
                chunk_rows=settings.import_chunk_rows,
                source=source,
                actor=user.username,
                actor_id=user.id,
                refresh_as_of=lender_today(settings.lender_timezone, request.app[CLOCK].now()),
                cob=settings.cob_config(),
                after_refresh=after_import(settings.promise_grace_days, user.username),
            ),
            label=label,
        )
        return report, None
    finally:
        if not handed_over:
            await asyncio.to_thread(uploads.remove, directory)


async def _receive(
    reader: MultipartReader, length: int | None, directory: Path, limit: int
) -> tuple[list[str], int]:
    """Stream each part to a file of its name; (the names, the bytes received). More than
    ``limit`` bytes is a 413: the upload is the one body the app lets grow past its small
    request limit (multipart is streamed, so the app's ``client_max_size`` does not bound it)."""
    if (length or 0) > limit:
        raise web.HTTPRequestEntityTooLarge(limit, length or 0)
    names: list[str] = []
    size = 0
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise InputError("nested multipart bodies are not accepted")
        if part.filename == "":  # a form's file field left empty, as a browser sends it
            await part.release()
            continue
        if not (part.filename or part.name):
            raise InputError(
                'every part names its file (Content-Disposition: form-data; name="loans.csv")'
            )
        name = Path((part.filename or part.name or "").strip().lower()).name
        if not _SAFE_NAME.match(name) or name not in FILES_BY_NAME:
            raise ValidationFailed(
                f"unexpected file {name!r}",
                details=[{"field": name, "reason": f"expected one of {sorted(FILES_BY_NAME)}"}],
            )
        if name in names:
            raise ValidationFailed(f"file {name!r} sent twice", details=[{"field": name}])
        names.append(name)
        with (directory / name).open("wb") as handle:  # chunks of 1 MiB
            while chunk := await part.read_chunk(1 << 20):
                size += len(chunk)
                if size > limit:
                    raise web.HTTPRequestEntityTooLarge(limit, size)
                handle.write(chunk)
    if not names:
        raise ValidationFailed(
            "no files in the upload",
            details=[{"field": "", "reason": f"expected any of {sorted(FILES_BY_NAME)}"}],
        )
    return names, size


@api.get("/api/imports", summary="Import runs, newest first", roles=STAFF)
async def list_imports(request: web.Request, query: RunQuery) -> Page[ImportRunOut]:
    async with request.app[ENGINE].connect() as conn:
        found = await list_runs(conn, limit=query.limit, offset=query.offset)
    items = [ImportRunOut.model_validate(row, from_attributes=True) for row in found["items"]]
    return Page[ImportRunOut](total=found["total"], items=items)


@api.get("/api/imports/{id}", summary="An import's report", roles=STAFF)
async def get_import(request: web.Request, path: RunPath) -> ImportReportOut:
    report = await load_report(request.app[ENGINE], path.id)
    return ImportReportOut.model_validate(report.as_dict())


@api.get("/api/imports/{id}/errors", summary="An import's rejected lines, in order", roles=STAFF)
async def get_import_errors(
    request: web.Request, path: RunPath, query: ErrorQuery
) -> Items[RowErrorOut]:
    await load_report(request.app[ENGINE], path.id, sample=0)  # 404 for an unknown run
    async with request.app[ENGINE].connect() as conn:
        errors = await list_errors(
            conn, path.id, limit=query.limit, offset=query.offset, file=query.file
        )
    return Items[RowErrorOut](items=[RowErrorOut.model_validate(e.as_dict()) for e in errors])
