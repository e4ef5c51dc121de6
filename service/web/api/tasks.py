"""Tasks for people over the API: field visits, agency placements, legal reviews, write-off
proposals on the accounts the caller may see, and their outcomes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import pydantic
from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import Field

from service.auth import CurrentUser
from service.casework import visits
from service.casework.tasks import close_task, count_tasks, list_tasks
from service.casework.visits import VisitPromise
from service.clock import lender_today
from service.contact.outcomes import record_visit
from service.domain.attachments import ImageType
from service.domain.casework import TASK_OUTCOMES, TaskStatus, VisitOutcome
from service.errors import InputError, ValidationFailed
from service.portfolio.visibility import loan_visible
from service.web.api.framework import Api, In, Out, Reply, TextIn
from service.web.api.schemas import (
    Day,
    Id,
    Instant,
    Items,
    Limit,
    Money,
    Offset,
    Page,
    PositiveMoneyIn,
)
from service.web.keys import CLOCK, ENGINE, SETTINGS

api = Api("tasks")


def _outcome(status: TaskStatus) -> TaskStatus:
    if status not in TASK_OUTCOMES:
        raise ValueError(f"an outcome is one of {', '.join(TASK_OUTCOMES)}")
    return status


# A task's outcome: the task states but open (documented as exactly those).
Outcome = Annotated[
    TaskStatus,
    pydantic.AfterValidator(_outcome),
    pydantic.WithJsonSchema({"type": "string", "enum": [s.value for s in TASK_OUTCOMES]}),
]


class TaskQuery(TextIn):
    all: bool = Field(False, description="every task, not only open ones")
    limit: Annotated[Limit, Field(le=500)] = 200
    offset: Offset = 0


class TaskOut(Out):
    id: int
    kind: str
    status: TaskStatus
    due_on: dt.date
    result: str
    outcome: str | None
    notes: str
    closed_by: str | None
    loan_ref: str
    outstanding: Money
    days_past_due: int


class TaskPath(TextIn):
    id: Id


class PromiseIn(In):
    amount: PositiveMoneyIn
    promised_on: Day


class TaskOutcome(In):
    status: Outcome | None = Field(
        None,
        description="done, failed or cancelled (open is not an outcome); a field visit's "
        "follows from its outcome",
    )
    note: str = Field("", max_length=2000, description="what happened, e.g. nobody at home")
    outcome: VisitOutcome | None = Field(
        None, description="what a field visit found (required to close one, unless cancelled)"
    )
    promise: PromiseIn | None = Field(
        None, description="the amount and date the debtor promised (outcome promise)"
    )


class PromiseOut(Out):
    amount: str
    promised_on: dt.date


class TaskClosed(Out):
    id: int
    kind: str
    loan_ref: str
    status: TaskStatus
    outcome: str | None
    promise: PromiseOut | None


@api.get("/api/tasks", summary="Tasks on the accounts the caller may see, in due order")
async def tasks(request: web.Request, user: CurrentUser, query: TaskQuery) -> Page[TaskOut]:
    visible, open_only = loan_visible(user), not query.all
    async with request.app[ENGINE].connect() as conn:
        total = await count_tasks(conn, visible, open_only=open_only)
        items = await list_tasks(
            conn, visible, open_only=open_only, limit=query.limit, offset=query.offset
        )
    return Page[TaskOut](total=total, items=[TaskOut.model_validate(item) for item in items])


@api.post("/api/tasks/{id}/close", summary="Record a task's outcome", errors=(409,))
async def close(
    request: web.Request, user: CurrentUser, path: TaskPath, body: TaskOutcome
) -> TaskClosed:
    """A field visit closes with its outcome (a visit that did not find the debtor fails, and
    two failed visits send the account to an agency); a task closes once."""
    settings = request.app[SETTINGS]
    promise = VisitPromise(body.promise.amount, body.promise.promised_on) if body.promise else None
    today = lender_today(settings.lender_timezone, request.app[CLOCK].now())
    async with request.app[ENGINE].begin() as conn:
        closed = await close_task(
            conn,
            path.id,
            body.status,
            body.note,
            user.username,
            loan_visible(user),
            outcome=body.outcome,
            promise=promise,
            today=today,
        )
        # The visit is a contact like any other: in the log, its promise stored.
        await record_visit(
            conn,
            loan_visible(user),
            closed,
            note=body.note,
            now=request.app[CLOCK].now(),
            today=today,
            actor=user.username,
            actor_id=user.id,
        )
    return TaskClosed.model_validate(closed)


class PhotoPath(TextIn):
    id: Id
    photo: Id


class PhotoOut(Out):
    id: int
    task_id: int
    sha256: str
    content_type: ImageType
    size: int
    filename: str
    uploaded_by: str
    uploaded_at: Instant


class PhotoUpload(In):
    photo: bytes = Field(description="one image (JPEG, PNG or WebP) in a part named photo")


@api.get("/api/tasks/{id}/photos", summary="A field visit's photos", errors=(409,))
async def task_photos(request: web.Request, user: CurrentUser, path: TaskPath) -> Items[PhotoOut]:
    async with request.app[ENGINE].connect() as conn:
        found = await visits.list_photos(conn, path.id, loan_visible(user))
    return Items[PhotoOut](items=[PhotoOut.model_validate(p) for p in found])


@api.post(
    "/api/tasks/{id}/photos",
    summary="Attach a photo to a field visit (multipart, one part named photo)",
    status=201,
    form=PhotoUpload,
    responses={201: PhotoOut, 200: PhotoOut},
    errors=(409,),
)
async def add_task_photo(
    request: web.Request, user: CurrentUser, path: TaskPath
) -> Reply[PhotoOut]:
    """201 when stored; 200 when the same picture is on the task already. An image only
    (recognised by its bytes), at most ``ARREARS_PHOTO_MAX_BYTES`` (413 past it)."""
    engine, settings = request.app[ENGINE], request.app[SETTINGS]
    visible = loan_visible(user)
    async with engine.connect() as conn:
        await visits.photo_task(conn, path.id, visible)  # 404 before a byte is stored
    stored, filename = await _receive_photo(request, settings.var_dir, settings.photo_max_bytes)
    async with engine.begin() as conn:
        photo, created = await visits.add_photo(
            conn, path.id, visible, stored, filename, user, user.username
        )
    return Reply(PhotoOut.model_validate(photo), 201 if created else 200)


async def _receive_photo(
    request: web.Request, var_dir: Path, limit: int
) -> tuple[visits.StoredPhoto, str]:
    if not request.content_type.startswith("multipart/"):
        raise InputError("upload the photo as multipart/form-data, in a part named photo")
    # The body is streamed (the app's small client_max_size does not bound it): bound it here.
    if (request.content_length or 0) > limit + 64 * 1024:
        raise web.HTTPRequestEntityTooLarge(limit, request.content_length or 0)
    try:
        reader = await request.multipart()
        part = await reader.next()
        if not isinstance(part, BodyPartReader) or part.name != "photo":
            raise ValidationFailed(
                "send one part named photo", details=[{"field": "photo", "reason": "missing"}]
            )
        writer = visits.PhotoWriter(var_dir, limit)
        try:
            while chunk := await part.read_chunk(1 << 16):
                writer.write(chunk)
            if await reader.next() is not None:
                raise ValidationFailed("send one photo per request", details=[{"field": "photo"}])
        except BaseException:
            writer.discard()
            raise
    except visits.PhotoTooLarge:
        raise web.HTTPRequestEntityTooLarge(limit, request.content_length or limit + 1) from None
    # aiohttp's reader: no boundary, a truncated body, a part's header line unreadable …
    except (ValueError, HttpProcessingError) as exc:
        raise InputError(f"the upload is not a readable multipart/form-data body: {exc}") from None
    return writer.finish(), visits.clean_filename(part.filename)


@api.get(
    "/api/tasks/{id}/photos/{photo}",
    summary="One photo of a field visit",
    produces={"image/jpeg": "the photo", "image/png": "the photo", "image/webp": "the photo"},
    errors=(409,),
)
async def task_photo(
    request: web.Request, user: CurrentUser, path: PhotoPath
) -> web.StreamResponse:
    async with request.app[ENGINE].connect() as conn:
        file, kind, name = await visits.photo_file(
            conn, path.id, path.photo, loan_visible(user), request.app[SETTINGS].var_dir
        )
    return web.FileResponse(
        file,
        headers={
            "Content-Type": kind.value,
            "Content-Disposition": f'inline; filename="{name}"',
            "Cache-Control": "private, max-age=3600",
        },
    )
