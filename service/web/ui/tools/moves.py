"""Reassign and hand over, for supervisors: move one account to a queue (and a collector) with a
reason, and a leaving collector's handover (离职移交) to a successor or a queue's pool — shown
first as what it would move, then confirmed. The same services as POST /api/loans/{ref}/
assignment, GET /api/handovers/preview and POST /api/handovers (service.assignment.moves)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from service.assignment import moves, queues
from service.auth import CurrentUser
from service.errors import ArrearsError
from service.web.api.assignment import Handover, HandoverQuery, Reassignment
from service.web.api.framework import validated
from service.web.api.portfolio import RefPath
from service.web.keys import ENGINE, SETTINGS
from service.web.ui.framework import STAFF, Form, Pages, see_other
from service.web.ui.i18n import format_number
from service.web.ui.i18n import gettext as _
from service.web.ui.render import render
from service.web.ui.task_view import Problem, api_body, field_text, lender_day, optional, problem
from service.web.ui.tools.common import link

pages = Pages("tools")


def _counts(query: Mapping[str, str]) -> dict[str, str]:
    """The handover's counts the redirect carries, as numbers on the page."""
    return {
        name: format_number(int(query.get(name, "0"))) if query.get(name, "").isdigit() else "0"
        for name in ("accounts", "promises", "callbacks")
    }


def _flash(request: web.Request) -> str | None:
    wanted = request.query.get("flash", "")
    if wanted == "reassigned":
        return _("The account is moved.")
    if wanted == "handed_over":
        return _(
            "The handover is done: %(accounts)s accounts, %(promises)s promises and "
            "%(callbacks)s callbacks moved; the leaver is deactivated.",
            **_counts(request.query),
        )
    return None


def _refusal(exc: ArrearsError) -> Problem:
    found = problem(exc)
    if found.text in (_("Please correct the form."), _("This could not be done.")):
        # The service's own words say which (a closed loan, an inactive queue, not a member…).
        return Problem(_("This could not be done."), exc.message, 422, found.fields)
    return found


async def _moves_page(
    request: web.Request,
    refused: Problem | None = None,
    entered: Mapping[str, Any] | None = None,
    preview: dict[str, Any] | None = None,
) -> web.Response:
    async with request.app[ENGINE].connect() as conn:
        overview = await queues.queue_overview(conn)
        everyone = await queues.collectors(conn)
    loan_ref = request.query.get("loan_ref", "")
    return render(
        request,
        "tools/moves.html",
        status=refused.status if refused else 200,
        queues=[q for q in overview if q["active"]],
        collectors=everyone,
        refused=refused,
        entered={k: str(v) for k, v in (entered or {}).items() if k != "csrf_token"},
        preview=preview,
        moved_loan=loan_ref if request.query.get("flash") == "reassigned" else None,
        flash=_flash(request),
    )


@pages.get("/tools/handover", roles=STAFF)
async def moves_page(request: web.Request) -> web.StreamResponse:
    return await _moves_page(request)


@pages.post("/tools/reassign", roles=STAFF)
async def reassign(request: web.Request, user: CurrentUser, form: Form) -> web.StreamResponse:
    """POST /api/loans/{ref}/assignment: one account to a queue (and one of its members)."""
    settings = request.app[SETTINGS]
    try:
        loan = validated(RefPath, {"ref": field_text(form, "loan_ref")})
        body = api_body(
            Reassignment,
            {
                "queue": field_text(form, "queue"),
                "collector": optional(form, "collector"),
                "reason": field_text(form, "reason"),
            },
        )
        async with request.app[ENGINE].begin() as conn:
            await moves.reassign(
                conn,
                settings,
                user,
                loan.ref,
                queue_name=body.queue,
                collector=body.collector,
                reason=body.reason,
                today=lender_day(request),
            )
    except ArrearsError as exc:
        return await _moves_page(request, _refusal(exc), form)
    raise see_other(link("/tools/handover", flash="reassigned", loan_ref=loan.ref))


def _handover_query(values: Mapping[str, Any]) -> HandoverQuery:
    wanted = {k: v for k in ("from", "to", "to_queue") if (v := field_text(values, k))}
    return validated(HandoverQuery, wanted)


@pages.get("/tools/handover/preview", roles=STAFF)
async def handover_preview(request: web.Request) -> web.StreamResponse:
    """What the handover would move (GET /api/handovers/preview), with the form confirming it."""
    try:
        query = _handover_query(request.query)
        async with request.app[ENGINE].connect() as conn:
            preview = await moves.handover_preview(
                conn, from_user=query.leaver, to_user=query.to, to_queue=query.to_queue
            )
    except ArrearsError as exc:
        return await _moves_page(request, _refusal(exc), request.query)
    return await _moves_page(request, entered=request.query, preview=preview)


@pages.post("/tools/handover", roles=STAFF)
async def handover(request: web.Request, user: CurrentUser, form: Form) -> web.StreamResponse:
    """POST /api/handovers: the leaver's work to the successor; the leaver deactivated."""
    settings = request.app[SETTINGS]
    try:
        query = _handover_query(form)
        body = api_body(
            Handover, {"from": query.leaver, "to": query.to, "to_queue": query.to_queue}
        )
        async with request.app[ENGINE].begin() as conn:
            done = await moves.handover(
                conn,
                settings,
                user.username,
                from_user=body.leaver,
                to_user=body.to,
                to_queue=body.to_queue,
                today=lender_day(request),
                actor_id=user.id,
            )
    except ArrearsError as exc:
        return await _moves_page(request, _refusal(exc), form)
    raise see_other(
        link(
            "/tools/handover",
            flash="handed_over",
            accounts=done["accounts"],
            promises=done["promises"],
            callbacks=done["callbacks"],
        )
    )
