"""Imports and jobs for supervisors: upload any of the contract's CSV files (streamed, the same
upload as POST /api/imports), the runs with their reports and rejected lines, and the jobs (a
large import, a close of business, a dry run) with their progress — the page of a job that has
not finished refreshes itself until it has."""

from __future__ import annotations

from aiohttp import MultipartReader, web

from service.auth import CurrentUser
from service.db.models import JobState
from service.errors import ValidationFailed
from service.ingest.files import FILES_BY_NAME
from service.ingest.report import list_errors, list_runs, load_report
from service.web.api.imports import receive_upload
from service.web.keys import ENGINE, SETTINGS
from service.web.ui.framework import STAFF, Pages, see_other
from service.web.ui.i18n import format_number
from service.web.ui.i18n import gettext as _
from service.web.ui.render import render
from service.web.ui.tools.common import PAGE_SIZE, flash, link, offset_of, paging
from workers.jobs import get_job, list_jobs

pages = Pages("tools")

FLASHES = {
    "imported": lambda: _("The files are imported."),
    "queued": lambda: _("The upload is large: it is imported by a job. This page follows it."),
}
UNFINISHED = (JobState.queued.value, JobState.running.value)


@pages.get("/tools/imports", roles=STAFF)
async def import_list(request: web.Request) -> web.StreamResponse:
    page, offset = offset_of(request.query)
    async with request.app[ENGINE].connect() as conn:
        found = await list_runs(conn, limit=PAGE_SIZE, offset=offset)
    return render(
        request,
        "tools/imports.html",
        runs=found["items"],
        paging=paging(
            page, found["total"], len(found["items"]), lambda n: link("/tools/imports", page=n)
        ),
        files=sorted(FILES_BY_NAME),
        limit_mb=format_number(round(request.app[SETTINGS].import_max_bytes / 1024 / 1024, 1)),
    )


@pages.post("/tools/imports", roles=STAFF, upload=True)
async def upload(
    request: web.Request, user: CurrentUser, parts: MultipartReader
) -> web.StreamResponse:
    """The files chosen (a part each, named by its file), then the report or the job's page."""
    try:
        report, job_id = await receive_upload(request, user, parts, source="web")
    except web.HTTPRequestEntityTooLarge:
        limit = request.app[SETTINGS].import_max_bytes
        size = format_number(round(limit / 1024 / 1024, 1))
        return render(
            request,
            "message.html",
            status=413,
            message=_("An upload is at most %(size)s MB.", size=size),
        )
    if job_id is not None:
        raise see_other(f"/tools/jobs/{job_id}?flash=queued")
    assert report is not None
    raise see_other(f"/tools/imports/{report.run_id}?flash=imported")


@pages.get("/tools/imports/{id:[0-9]{1,9}}", roles=STAFF)
async def import_report(request: web.Request) -> web.StreamResponse:
    """The run's counts per file and its rejected lines (one file's, a page at a time)."""
    run_id = int(request.match_info["id"])
    report = await load_report(request.app[ENGINE], run_id, sample=0)
    shown_file = request.query.get("file", "").strip()
    if shown_file and shown_file not in FILES_BY_NAME:
        raise ValidationFailed(f"unknown file {shown_file!r}", details=[{"field": "file"}])
    page, offset = offset_of(request.query)
    async with request.app[ENGINE].connect() as conn:
        errors = await list_errors(
            conn, run_id, limit=PAGE_SIZE, offset=offset, file=shown_file or None
        )
    rejected = (
        sum(f.rejected for f in report.files if f.file == shown_file)
        if shown_file
        else report.error_count
    )
    return render(
        request,
        "tools/import.html",
        report=report,
        errors=errors,
        shown_file=shown_file,
        paging=paging(
            page,
            rejected,
            len(errors),
            lambda n: link(f"/tools/imports/{run_id}", file=shown_file, page=n),
        ),
        flash=flash(request, FLASHES),
        link=link,
    )


@pages.get("/tools/jobs", roles=STAFF)
async def job_list(request: web.Request) -> web.StreamResponse:
    page, offset = offset_of(request.query)
    found = await list_jobs(request.app[ENGINE], limit=PAGE_SIZE, offset=offset)
    return render(
        request,
        "tools/jobs.html",
        jobs=found["items"],
        paging=paging(
            page, found["total"], len(found["items"]), lambda n: link("/tools/jobs", page=n)
        ),
    )


@pages.get("/tools/jobs/{id:[0-9]{1,9}}", roles=STAFF)
async def job_page(request: web.Request) -> web.StreamResponse:
    job = await get_job(request.app[ENGINE], int(request.match_info["id"]))
    run_id = (job["result"] or {}).get("id") if job["kind"] == "import_files" else None
    return render(
        request,
        "tools/job.html",
        job=job,
        unfinished=job["state"] in UNFINISHED,
        import_run=run_id if isinstance(run_id, int) else None,
        flash=flash(request, FLASHES),
    )
