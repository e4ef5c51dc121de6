"""Jobs: long work asked for over HTTP answers 202 with one of these; poll it here."""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import Field

from service.db.models import JobKind, JobState
from service.web.api.framework import STAFF, Api, Out, TextIn
from service.web.api.schemas import Id, Instant, Limit, Offset, Page
from service.web.keys import ENGINE
from workers.jobs import get_job, list_jobs

api = Api("jobs")


class JobOut(Out):
    """A job: its state (queued → running → succeeded | failed), progress, result or error."""

    id: int
    kind: JobKind
    state: JobState
    params: dict[str, Any]
    progress: dict[str, Any] = Field(description="the step it is in; for imports, bytes read")
    result: dict[str, Any] | None = Field(description="what the work answered, once succeeded")
    error: str | None
    actor: str
    created_at: Instant
    started_at: Instant | None
    finished_at: Instant | None
    url: str = Field(description="where to poll it")

    @classmethod
    def of(cls, job: dict[str, Any]) -> JobOut:
        return cls.model_validate({**job, "url": f"/api/jobs/{job['id']}"})


class JobPath(TextIn):
    id: Id


class JobQuery(TextIn):
    limit: Annotated[Limit, Field(le=200)] = 20
    offset: Offset = 0


@api.get("/api/jobs", summary="Recent jobs, newest first", roles=STAFF)
async def jobs(request: web.Request, query: JobQuery) -> Page[JobOut]:
    found = await list_jobs(request.app[ENGINE], limit=query.limit, offset=query.offset)
    return Page[JobOut](total=found["total"], items=[JobOut.of(job) for job in found["items"]])


@api.get("/api/jobs/{id}", summary="A job's state, progress and result", roles=STAFF)
async def job(request: web.Request, path: JobPath) -> JobOut:
    return JobOut.of(await get_job(request.app[ENGINE], path.id))
