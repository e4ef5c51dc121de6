"""Queues, their routing and their members, for supervisors: the queues with their accounts and
collectors, creating and changing a queue, adding and removing members. Each form calls the
service its API twin calls (service.web.api.assignment: /api/queues…)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from service.assignment import queues
from service.auth import CurrentUser
from service.domain.queues import QueueKind
from service.errors import ArrearsError, ValidationFailed
from service.web.api.assignment import NewMember, NewQueue, QueueChange
from service.web.keys import ENGINE, STRATEGIES
from service.web.ui.framework import STAFF, Form, Pages, see_other
from service.web.ui.i18n import gettext as _
from service.web.ui.render import render
from service.web.ui.task_view import Problem, api_body, field_text, optional, problem
from service.web.ui.tools.common import flash

pages = Pages("tools")

FLASHES = {
    "created": lambda: _("The queue is created."),
    "changed": lambda: _("The queue is changed."),
    "added": lambda: _("The collector now works this queue."),
    "removed": lambda: _("The collector no longer works this queue."),
}


def _routing(form: Mapping[str, Any]) -> Any:
    """The routing definition as typed (JSON): an object, or a refusal naming the field."""
    typed = field_text(form, "routing") or "{}"
    try:
        routing = json.loads(typed)
    except ValueError:
        routing = None
    if not isinstance(routing, dict):
        raise ValidationFailed("routing is a JSON object", details=[{"field": "routing"}])
    return routing


def _number(typed: str | None) -> int | str | None:
    """A number field as the API's JSON has it (as typed when it is not one: refused by name)."""
    return int(typed) if typed is not None and typed.isdigit() and len(typed) < 10 else typed


def _refusal(exc: ArrearsError) -> Problem:
    """The page's words for a refused queue form."""
    details = exc.details
    fields = (
        [str(d.get("field", "")) for d in details if isinstance(d, dict)]
        if isinstance(details, list)
        else []
    )
    rule = details.get("rule") if isinstance(details, dict) else None
    if rule == "member_holds_accounts":
        text = _(
            "This collector still holds open accounts of the queue: reassign them or hand "
            "them over first."
        )
        return Problem(text, exc.message, 409)
    if "routing" in fields:
        text = _("The routing is a JSON object of known keys.")
        return Problem(text, exc.message, 422, ("routing",))
    if "name" in fields:
        return Problem(_("Give the queue a name."), exc.message, 422, ("name",))
    if "position" in fields:
        return Problem(_("The order is a whole number from 0."), exc.message, 422, ("position",))
    if isinstance(exc, ValidationFailed) and not fields:
        # The service's own checks (a name taken, an unknown strategy): its words, shown beside.
        return Problem(_("This could not be done."), exc.message, 422)
    return problem(exc)


async def _list_page(
    request: web.Request, refused: Problem | None = None, entered: Form | None = None
) -> web.Response:
    async with request.app[ENGINE].connect() as conn:
        overview = await queues.queue_overview(conn)
    return render(
        request,
        "tools/queues.html",
        status=refused.status if refused else 200,
        queues=overview,
        kinds=list(QueueKind),
        strategies=request.app[STRATEGIES].names("collector"),
        refused=refused,
        entered=_entered(entered),
        flash=flash(request, FLASHES),
    )


def _entered(form: Form | None) -> dict[str, str]:
    return {k: str(form[k]) for k in form if k != "csrf_token"} if form else {}


async def _queue_page(
    request: web.Request,
    refused: Problem | None = None,
    entered: Form | None = None,
    opened: str | None = None,
) -> web.Response:
    queue_id = int(request.match_info["id"])
    async with request.app[ENGINE].connect() as conn:
        queue = await queues.queue_by_id(conn, queue_id)
        (overview,) = [q for q in await queues.queue_overview(conn) if q["id"] == queue_id]
        members = await queues.queue_members(conn, queue.name)
        everyone = await queues.collectors(conn)
    working = {member["username"] for member in members}
    return render(
        request,
        "tools/queue.html",
        status=refused.status if refused else 200,
        queue=overview,
        description=queue.description,
        routing=json.dumps(overview["routing"], indent=2, ensure_ascii=False),
        members=members,
        candidates=[c for c in everyone if c["username"] not in working],
        strategies=request.app[STRATEGIES].names("collector"),
        refused=refused,
        opened=opened,
        entered=_entered(entered),
        flash=flash(request, FLASHES),
    )


@pages.get("/tools/queues", roles=STAFF)
async def queue_list(request: web.Request) -> web.StreamResponse:
    return await _list_page(request)


@pages.post("/tools/queues", roles=STAFF)
async def create(request: web.Request, user: CurrentUser, form: Form) -> web.StreamResponse:
    """POST /api/queues: a name, a kind, its routing, position and collector strategy."""
    try:
        body = api_body(
            NewQueue,
            {
                "name": field_text(form, "name"),
                "kind": field_text(form, "kind") or QueueKind.collector.value,
                "routing": _routing(form),
                "position": _number(optional(form, "position") or "100"),
                "collector_strategy": field_text(form, "collector_strategy") or "sticky",
                "description": field_text(form, "description"),
            },
        )
        async with request.app[ENGINE].begin() as conn:
            queue_id = await queues.create_queue(
                conn, request.app[STRATEGIES], actor=user.username, **body.model_dump()
            )
    except ArrearsError as exc:
        return await _list_page(request, _refusal(exc), form)
    raise see_other(f"/tools/queues/{queue_id}?flash=created")


@pages.get("/tools/queues/{id:[0-9]{1,9}}", roles=STAFF)
async def queue_detail(request: web.Request) -> web.StreamResponse:
    return await _queue_page(request)


@pages.post("/tools/queues/{id:[0-9]{1,9}}", roles=STAFF)
async def change(request: web.Request, user: CurrentUser, form: Form) -> web.StreamResponse:
    """POST /api/queues/{name}: its routing, position, strategy, description, whether used."""
    queue_id = int(request.match_info["id"])
    try:
        body = api_body(
            QueueChange,
            {
                "routing": _routing(form),
                "position": _number(optional(form, "position")),
                "collector_strategy": optional(form, "collector_strategy"),
                "description": field_text(form, "description"),
                "active": form.get("active") == "on",
            },
        )
        async with request.app[ENGINE].begin() as conn:
            queue = await queues.queue_by_id(conn, queue_id)
            await queues.update_queue(
                conn,
                request.app[STRATEGIES],
                queue.name,
                user.username,
                body.model_dump(exclude_none=True),
            )
    except ArrearsError as exc:
        return await _queue_page(request, _refusal(exc), form, opened="edit")
    raise see_other(f"/tools/queues/{queue_id}?flash=changed")


@pages.post("/tools/queues/{id:[0-9]{1,9}}/members", roles=STAFF)
async def add_member(request: web.Request, user: CurrentUser, form: Form) -> web.StreamResponse:
    """POST /api/queues/{name}/members."""
    queue_id = int(request.match_info["id"])
    try:
        body = api_body(NewMember, {"username": field_text(form, "username")})
        async with request.app[ENGINE].begin() as conn:
            queue = await queues.queue_by_id(conn, queue_id)
            await queues.add_member(conn, queue.name, body.username, actor=user.username)
    except ArrearsError as exc:
        return await _queue_page(request, _refusal(exc), form)
    raise see_other(f"/tools/queues/{queue_id}?flash=added")


@pages.post("/tools/queues/{id:[0-9]{1,9}}/members/remove", roles=STAFF)
async def remove_member(request: web.Request, user: CurrentUser, form: Form) -> web.StreamResponse:
    """DELETE /api/queues/{name}/members/{username}: refused while they hold its accounts."""
    queue_id = int(request.match_info["id"])
    try:
        body = api_body(NewMember, {"username": field_text(form, "username")})
        async with request.app[ENGINE].begin() as conn:
            queue = await queues.queue_by_id(conn, queue_id)
            await queues.remove_member(conn, queue.name, body.username, user.username)
    except ArrearsError as exc:
        return await _queue_page(request, _refusal(exc), form)
    raise see_other(f"/tools/queues/{queue_id}?flash=removed")
