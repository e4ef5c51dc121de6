"""JSON API for outbound contact: the guard's verdict on one contact, treatment plans and their
dry run, and letters.

Every route here is described in :mod:`service.web.openapi`.
"""

from __future__ import annotations

import datetime as dt

from aiohttp import web

from service.casework import tasks as casework_tasks
from service.cob.nightly import Planning, dry_run_plan
from service.contact.checks import check_contact
from service.errors import ValidationFailed
from service.portfolio.reads import visible_loan
from service.portfolio.visibility import loan_visible
from service.treatment import plans
from service.treatment.messages import letter_for
from service.web.api import STAFF, _date_param, require
from service.web.jsonio import json_response, read_json_object, text_field
from service.web.keys import ENGINE, SETTINGS, STRATEGIES


async def check(request: web.Request) -> web.Response:
    """``arrears check-contact`` over HTTP: a collector may ask only about their accounts."""
    user = require(request)
    body = await read_json_object(request)
    loan_ref = text_field(body, "loan_ref") or ""
    raw_at = text_field(body, "at") or ""
    try:
        at = dt.datetime.fromisoformat(raw_at)
    except ValueError:
        raise ValidationFailed(
            "at must be an ISO 8601 time with its offset", details=[{"field": "at"}]
        ) from None
    async with request.app[ENGINE].connect() as conn:
        await visible_loan(conn, user, loan_ref)
        decision = await check_contact(
            conn,
            request.app[SETTINGS],
            loan_ref=loan_ref,
            party_ref=text_field(body, "party") or "",
            channel=text_field(body, "channel") or "",
            at=at,
            profile=text_field(body, "profile", required=False),
        )
    return json_response(decision.as_dict())


async def list_plans(request: web.Request) -> web.Response:
    require(request, *STAFF)
    async with request.app[ENGINE].begin() as conn:
        await plans.install_default_plan(conn)
        items = await plans.list_plans(conn)
    return json_response({"items": items})


async def store_plan(request: web.Request) -> web.Response:
    """A new version of a plan, from its JSON form (the TOML file's keys): supervisors, admins."""
    user = require(request, *STAFF)
    body = await read_json_object(request)
    async with request.app[ENGINE].begin() as conn:
        stored = await plans.store_plan(conn, body, request.app[STRATEGIES], user.username)
    return json_response(
        {"name": stored.spec.name, "version": stored.version, **stored.spec.as_dict()},
        status=201,
    )


async def dry_run(request: web.Request) -> web.Response:
    """``arrears plan --dry-run --for DATE``: the day's plan, counted, written nowhere."""
    require(request, *STAFF)
    day = _date_param(request, "for")
    if day is None:
        raise ValidationFailed("for is required (YYYY-MM-DD)", details=[{"field": "for"}])
    settings = request.app[SETTINGS]
    report = await dry_run_plan(
        request.app[ENGINE], day, settings.cob_config(), Planning(request.app[STRATEGIES], settings)
    )
    return json_response(report.as_dict())


async def letter(request: web.Request) -> web.Response:
    """A loan's due or overdue notice as HTML or PDF; a collector only for their accounts."""
    user = require(request)
    fmt = request.query.get("format", "html")
    if fmt not in ("html", "pdf"):
        raise ValidationFailed("format must be html or pdf", details=[{"field": "format"}])
    ref = request.match_info["ref"]
    async with request.app[ENGINE].connect() as conn:
        await visible_loan(conn, user, ref)
        html, pdf = await letter_for(
            conn, request.app[SETTINGS], ref, request.match_info["kind"], None, fmt
        )
    if pdf is not None:
        return web.Response(body=pdf, content_type="application/pdf")
    return web.Response(text=html, content_type="text/html")


async def tasks(request: web.Request) -> web.Response:
    """Open tasks (``?all=true``: every task) on the accounts the caller may see."""
    user = require(request)
    async with request.app[ENGINE].connect() as conn:
        items = await casework_tasks.list_tasks(
            conn, loan_visible(user), open_only=request.query.get("all") != "true"
        )
    return json_response({"items": items})


async def close_task(request: web.Request) -> web.Response:
    """A task's outcome (done, failed, cancelled) with a note; a failed visit counts."""
    user = require(request)
    body = await read_json_object(request)
    try:
        task_id = int(request.match_info["id"])
    except ValueError:
        raise ValidationFailed("the task id is a number") from None
    note = body.get("note", "")
    if not isinstance(note, str):
        raise ValidationFailed("note must be a string", details=[{"field": "note"}])
    async with request.app[ENGINE].begin() as conn:
        closed = await casework_tasks.close_task(
            conn,
            task_id,
            text_field(body, "status") or "",
            note,
            user.username,
            loan_visible(user),
        )
    return json_response(closed)


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/compliance/check", check)
    r.add_get("/api/plans", list_plans)
    r.add_post("/api/plans", store_plan)
    r.add_get("/api/plans/dry-run", dry_run)
    r.add_get("/api/loans/{ref}/letters/{kind}", letter)
    r.add_get("/api/tasks", tasks)
    r.add_post("/api/tasks/{id}/close", close_task)
