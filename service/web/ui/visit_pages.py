"""The field visit (外访) from a phone: one form records what the visit found, the notes, a
promise and the photos taken at the door; another adds photos alone. The photos go through the
photo API's service and limits (service.casework.visits, ``ARREARS_PHOTO_MAX_BYTES`` each), the
outcome through the same close and contact-log entry as ``POST /api/tasks/{id}/close``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from service.auth import CurrentUser
from service.casework import visits
from service.casework.tasks import close_task
from service.casework.visits import VisitPromise
from service.contact.outcomes import record_visit
from service.domain.casework import VisitOutcome
from service.errors import ArrearsError, InputError, ValidationFailed
from service.portfolio.visibility import loan_visible
from service.web.api.tasks import TaskOutcome
from service.web.keys import CLOCK, ENGINE, SETTINGS
from service.web.ui.framework import COLLECTING, Pages, see_other
from service.web.ui.task_view import (
    api_body,
    field_text,
    lender_day,
    optional,
    problem,
    task_page,
)

pages = Pages("tasks")

MAX_PHOTOS = 10  # photos in one form: each within the photo limit
FIELDS = ("outcome", "note", "promise_amount", "promise_on")
FIELD_BYTES = 4 * 2000 + 64  # a note of 2,000 characters (the API's bound) in UTF-8


async def _read_field(part: BodyPartReader) -> str:
    data = b""
    while chunk := await part.read_chunk(1 << 14):
        data += chunk
        if len(data) > FIELD_BYTES:
            raise ValidationFailed(
                f"{part.name} is too long", details=[{"field": part.name or "", "reason": "long"}]
            )
    return data.decode("utf-8", "replace")


async def _read_form(
    request: web.Request, parts: MultipartReader, with_fields: bool
) -> tuple[dict[str, str], list[tuple[visits.StoredPhoto, str]]]:
    """The form's fields and its photos, each photo streamed to the var directory as the API
    does (an image only, within the limit; an empty file input is no photo)."""
    settings = request.app[SETTINGS]
    limit = settings.photo_max_bytes
    if (request.content_length or 0) > MAX_PHOTOS * limit + 64 * 1024:
        raise visits.PhotoTooLarge(f"a photo is at most {limit} bytes")
    fields: dict[str, str] = {}
    photos: list[tuple[visits.StoredPhoto, str]] = []
    try:
        while (part := await parts.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise InputError("a nested multipart body is not a form")
            if part.name == "photo":
                if not part.filename:
                    await part.release()  # the file input left empty
                    continue
                if len(photos) == MAX_PHOTOS:
                    raise ValidationFailed(
                        f"at most {MAX_PHOTOS} photos at a time", details=[{"field": "photo"}]
                    )
                photos.append(await _receive(part, settings.var_dir, limit))
            elif with_fields and part.name in FIELDS:
                fields[part.name] = await _read_field(part)
            else:
                await part.release()
    except (ValueError, HttpProcessingError) as exc:
        raise InputError(f"the upload is not a readable multipart/form-data body: {exc}") from None
    return fields, photos


async def _receive(
    part: BodyPartReader, var_dir: Path, limit: int
) -> tuple[visits.StoredPhoto, str]:
    writer = visits.PhotoWriter(var_dir, limit)
    try:
        while chunk := await part.read_chunk(1 << 16):
            writer.write(chunk)
    except BaseException:
        writer.discard()
        raise
    return writer.finish(), visits.clean_filename(part.filename)


async def _attach(request: web.Request, user: CurrentUser, task_id: int, photos: list[Any]) -> None:
    async with request.app[ENGINE].begin() as conn:
        for stored, filename in photos:
            await visits.add_photo(
                conn, task_id, loan_visible(user), stored, filename, user, user.username
            )


def _task_id(request: web.Request) -> int:
    return int(request.match_info["id"])


@pages.post("/tasks/{id:[0-9]{1,18}}/visit", roles=COLLECTING, upload=True)
async def record(
    request: web.Request, user: CurrentUser, parts: MultipartReader
) -> web.StreamResponse:
    """What the visit found, with its notes, promise and photos: the photos are kept first, so
    a refused outcome leaves them on the visit and only the form's fields are asked again."""
    task_id = _task_id(request)
    settings = request.app[SETTINGS]
    fields: dict[str, str] = {}
    async with request.app[ENGINE].connect() as conn:
        await visits.photo_task(conn, task_id, loan_visible(user))  # 404 before a byte is kept
    try:
        fields, photos = await _read_form(request, parts, with_fields=True)
        await _attach(request, user, task_id, photos)
        outcome = optional(fields, "outcome")
        promised = {"amount": optional(fields, "promise_amount"),
                    "promised_on": optional(fields, "promise_on")}  # fmt: skip
        # The amount and date belong to the outcome "promise": the form shows them beside it.
        wanted = outcome == VisitOutcome.promise and any(promised.values())
        body = api_body(
            TaskOutcome,
            {
                "outcome": outcome,
                "note": field_text(fields, "note"),
                "promise": {k: v for k, v in promised.items() if v} if wanted else None,
            },
        )
        promise = (
            VisitPromise(body.promise.amount, body.promise.promised_on) if body.promise else None
        )
        today = lender_day(request)
        now = request.app[CLOCK].now()
        async with request.app[ENGINE].begin() as conn:
            closed = await close_task(
                conn,
                task_id,
                body.status,
                body.note,
                user.username,
                loan_visible(user),
                outcome=body.outcome,
                promise=promise,
                today=today,
            )
            await record_visit(
                conn,
                loan_visible(user),
                closed,
                note=body.note,
                now=now,
                today=today,
                actor=user.username,
                actor_id=user.id,
            )
    except ArrearsError as exc:
        refused = problem(exc, settings.photo_max_bytes)
        return await task_page(request, user, task_id, refused=refused, entered=fields)
    raise see_other(f"/tasks/{task_id}?flash=visit")


@pages.post("/tasks/{id:[0-9]{1,18}}/photos", roles=COLLECTING, upload=True)
async def add_photos(
    request: web.Request, user: CurrentUser, parts: MultipartReader
) -> web.StreamResponse:
    """Photos alone, on a visit open or closed (POST /api/tasks/{id}/photos, one by one)."""
    task_id = _task_id(request)
    settings = request.app[SETTINGS]
    async with request.app[ENGINE].connect() as conn:
        await visits.photo_task(conn, task_id, loan_visible(user))
    try:
        _, photos = await _read_form(request, parts, with_fields=False)
        if not photos:
            raise ValidationFailed("choose a photo", details=[{"field": "photo"}])
        await _attach(request, user, task_id, photos)
    except ArrearsError as exc:
        return await task_page(
            request, user, task_id, refused=problem(exc, settings.photo_max_bytes)
        )
    raise see_other(f"/tasks/{task_id}?flash=photos")
