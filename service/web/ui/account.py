"""The account page and its forms: log a call's outcome, take a promise, propose an arrangement,
schedule a callback; confirm, reject or cancel a promise, close a callback, decide an
arrangement. Each form goes through the service its API endpoint calls, with the same
arguments (service/web/api/contact_log.py, promises.py), and comes back to the page with a
message; a refusal shows the page again with the message beside the form and what was typed.

An account out of the user's view is 404 on the page, its timeline and every form — checked
before the form is read, so a refusal never tells whether the account exists.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

from aiohttp import web
from pydantic import ValidationError

from service.auth import CurrentUser
from service.clock import lender_today
from service.contact import arrangements, callbacks, outcomes, promises
from service.contact.accounts import loan_in_view
from service.db.models import CallbackStatus, PromiseStatus, Role
from service.domain.contact import Channel
from service.errors import ArrearsError, NotFound
from service.portfolio.visibility import loan_visible
from service.web.api.contact_log import NewAttempt, TimelineQuery
from service.web.api.promises import (
    CallbackClose,
    Decision,
    IdPath,
    NewArrangement,
    NewCallback,
    NewPromise,
)
from service.web.keys import CLOCK, ENGINE, SETTINGS
from service.web.ui.account_forms import Field, Problem, read, refusal
from service.web.ui.account_view import TIMELINE_PAGE, account_page, timeline_page
from service.web.ui.framework import COLLECTING, Form, Pages, see_other
from service.web.ui.i18n import gettext as _
from service.web.ui.render import render
from service.web.ui.session import safe_next

pages = Pages("work")

OUTCOME = (
    Field("party", "choice"),
    Field("phone", "choice"),
    Field("result", "choice"),
    Field("disposition", "choice"),
    Field("note", "text"),
    Field("attempt_ref", "text"),
    Field("promise_amount", "money"),
    Field("promise_on", "date"),
    Field("callback_at", "moment"),
    Field("callback_for_queue", "flag"),
)
# The outcome's promise and callback are checked by the promise's and the callback's own
# services, which name their fields as their own forms do.
OUTCOME_RENAMES = {"amount": "promise_amount", "promised_on": "promise_on", "due_at": "callback_at"}
PROMISE = (Field("amount", "money"), Field("promised_on", "date"), Field("note", "text"))
ARRANGEMENT = (
    Field("kind", "choice"),
    Field("total", "money"),
    Field("instalments", "count"),
    Field("first_on", "date"),
    Field("every_days", "count"),
    Field("note", "text"),
)
CALLBACK = (Field("due_at", "moment"), Field("for_queue", "flag"), Field("note", "text"))


def _today(request: web.Request) -> dt.date:
    return lender_today(request.app[SETTINGS].lender_timezone, request.app[CLOCK].now())


def _ref(request: web.Request) -> str:
    return request.match_info["ref"]


def _back(ref: str, saved: str, anchor: str = "") -> web.HTTPSeeOther:
    return see_other(f"/accounts/{quote(ref, safe='')}?saved={saved}{anchor}")


async def _in_view(request: web.Request, user: CurrentUser, ref: str) -> None:
    """404 for an account out of the user's view, before anything of the form is read."""
    async with request.app[ENGINE].connect() as conn:
        await loan_in_view(conn, loan_visible(user), ref)


@pages.get("/accounts/{ref}", roles=COLLECTING)
async def account(request: web.Request, user: CurrentUser) -> web.StreamResponse:
    return await account_page(request, user, _ref(request))


@pages.get("/accounts/{ref}/timeline", roles=COLLECTING)
async def account_timeline(request: web.Request, user: CurrentUser) -> web.StreamResponse:
    """Older pages of the timeline (``?offset=``); ``?partial=1``: the items alone, for the
    account page's "older" link to append in place."""
    ref = _ref(request)
    try:
        query = TimelineQuery.model_validate({"offset": request.query.get("offset", "0")})
    except ValidationError:
        await _in_view(request, user, ref)
        return render(request, "message.html", status=400, message=_("Not a page of this list."))
    async with request.app[ENGINE].connect() as conn:
        page = await timeline_page(conn, user, ref, TIMELINE_PAGE, query.offset)
    template = "work/_timeline.html" if request.query.get("partial") else "work/timeline.html"
    return render(request, template, loan_ref=ref, timeline=page)


@pages.post("/accounts/{ref}/outcome", roles=COLLECTING)
async def log_outcome(request: web.Request, user: CurrentUser, form: Form) -> web.StreamResponse:
    ref = _ref(request)
    await _in_view(request, user, ref)
    zone = request.app[SETTINGS].lender_timezone
    try:
        body = read("outcome", NewAttempt, form, OUTCOME, zone, channel="call")
        fields = body.model_dump(exclude={"channel"})
        outcome = outcomes.Outcome(loan_ref=ref, channel=Channel(body.channel), **fields)
        async with request.app[ENGINE].begin() as conn:
            await outcomes.log_outcome(
                conn,
                loan_visible(user),
                outcome,
                now=request.app[CLOCK].now(),
                today=_today(request),
                actor=user.username,
                actor_id=user.id,
            )
    except Problem as problem:
        return await account_page(request, user, ref, problem=problem)
    except ArrearsError as exc:
        refused = refusal("outcome", form, exc, OUTCOME, OUTCOME_RENAMES)
        return await account_page(request, user, ref, problem=refused)
    raise _back(ref, "outcome", "#next")


@pages.post("/accounts/{ref}/promises", roles=COLLECTING)
async def take_promise(request: web.Request, user: CurrentUser, form: Form) -> web.StreamResponse:
    ref = _ref(request)
    await _in_view(request, user, ref)
    zone = request.app[SETTINGS].lender_timezone
    try:
        body = read("promise", NewPromise, form, PROMISE, zone)
        async with request.app[ENGINE].begin() as conn:
            await promises.take_promise(
                conn,
                loan_visible(user),
                loan_ref=ref,
                amount=body.amount,
                promised_on=body.promised_on,
                today=_today(request),
                actor=user.username,
                actor_id=user.id,
                note=body.note,
                now=request.app[CLOCK].now(),
            )
    except Problem as problem:
        return await account_page(request, user, ref, problem=problem)
    except ArrearsError as exc:
        return await account_page(
            request, user, ref, problem=refusal("promise", form, exc, PROMISE)
        )
    raise _back(ref, "promise", "#promises")


@pages.post("/accounts/{ref}/arrangements", roles=COLLECTING)
async def propose_arrangement(
    request: web.Request, user: CurrentUser, form: Form
) -> web.StreamResponse:
    ref = _ref(request)
    await _in_view(request, user, ref)
    zone = request.app[SETTINGS].lender_timezone
    try:
        body = read("arrangement", NewArrangement, form, ARRANGEMENT, zone)
        proposal = arrangements.Proposal(loan_ref=ref, **body.model_dump())
        async with request.app[ENGINE].begin() as conn:
            await arrangements.propose(
                conn,
                loan_visible(user),
                proposal,
                today=_today(request),
                tiers=request.app[SETTINGS].approval_tiers,
                actor=user.username,
                actor_id=user.id,
            )
    except Problem as problem:
        return await account_page(request, user, ref, problem=problem)
    except ArrearsError as exc:
        refused = refusal("arrangement", form, exc, ARRANGEMENT)
        return await account_page(request, user, ref, problem=refused)
    raise _back(ref, "arrangement", "#arrangements")


@pages.post("/accounts/{ref}/callbacks", roles=COLLECTING)
async def schedule_callback(
    request: web.Request, user: CurrentUser, form: Form
) -> web.StreamResponse:
    ref = _ref(request)
    await _in_view(request, user, ref)
    zone = request.app[SETTINGS].lender_timezone
    try:
        body = read("callback", NewCallback, form, CALLBACK, zone)
        async with request.app[ENGINE].begin() as conn:
            await callbacks.schedule_callback(
                conn,
                loan_visible(user),
                loan_ref=ref,
                due_at=body.due_at,
                for_queue=body.for_queue,
                note=body.note,
                now=request.app[CLOCK].now(),
                actor=user.username,
                actor_id=user.id,
            )
    except Problem as problem:
        return await account_page(request, user, ref, problem=problem)
    except ArrearsError as exc:
        return await account_page(
            request, user, ref, problem=refusal("callback", form, exc, CALLBACK)
        )
    raise _back(ref, "callback", "#callbacks")


def _id(form: Form, name: str, section: str) -> int:
    """The record a button acts on (a hidden field), as the API reads an id in its path."""
    try:
        return IdPath.model_validate({"id": str(form.get(name, ""))}).id
    except ValidationError:
        raise Problem(section, {}, 400, _("Choose what to act on from the list.")) from None


def _reason(form: Form) -> str:
    try:
        return Decision.model_validate({"reason": str(form.get("reason", ""))}).reason
    except ValidationError:
        return ""


async def _decide_promise(
    request: web.Request, user: CurrentUser, form: Form, to: PromiseStatus, saved: str
) -> web.StreamResponse:
    """Confirm or reject a proposed promise, or cancel a pending one (as the API's
    ``POST /api/promises/{id}/confirm|reject|cancel``), on this account only."""
    ref = _ref(request)
    await _in_view(request, user, ref)
    visible = loan_visible(user)
    try:
        promise_id = _id(form, "promise", "promises")
        async with request.app[ENGINE].begin() as conn:
            found = await promises.get_promise(conn, visible, promise_id)
            if found["loan_ref"] != ref:
                raise NotFound(f"promise {promise_id} not found")
            await promises.move_promise(
                conn,
                visible,
                promise_id,
                to,
                actor=user.username,
                actor_id=user.id,
                reason=_reason(form),
            )
    except Problem as problem:
        return await account_page(request, user, ref, problem=problem)
    except ArrearsError as exc:
        return await account_page(request, user, ref, problem=refusal("promises", form, exc))
    target = safe_next(str(form.get("next", "")))
    if target != "/":
        raise see_other(target)
    raise _back(ref, saved, "#promises")


@pages.post("/accounts/{ref}/promises/confirm", roles=COLLECTING)
async def confirm_promise(
    request: web.Request, user: CurrentUser, form: Form
) -> web.StreamResponse:
    return await _decide_promise(request, user, form, PromiseStatus.pending, "confirmed")


@pages.post("/accounts/{ref}/promises/reject", roles=COLLECTING)
async def reject_promise(request: web.Request, user: CurrentUser, form: Form) -> web.StreamResponse:
    return await _decide_promise(request, user, form, PromiseStatus.cancelled, "rejected")


@pages.post("/accounts/{ref}/promises/cancel", roles=COLLECTING)
async def cancel_promise(request: web.Request, user: CurrentUser, form: Form) -> web.StreamResponse:
    return await _decide_promise(request, user, form, PromiseStatus.cancelled, "cancelled")


@pages.post("/accounts/{ref}/callbacks/close", roles=COLLECTING)
async def close_callback(request: web.Request, user: CurrentUser, form: Form) -> web.StreamResponse:
    """Done or cancelled (``POST /api/callbacks/{id}/close``), on this account only."""
    ref = _ref(request)
    await _in_view(request, user, ref)
    visible = loan_visible(user)
    try:
        callback_id = _id(form, "callback", "callbacks")
        try:
            body = CallbackClose.model_validate({"status": str(form.get("status", ""))})
        except ValidationError:
            raise Problem("callbacks", {}, 400, _("Choose “Done” or “Cancel”.")) from None
        async with request.app[ENGINE].begin() as conn:
            found = await callbacks.get_callback(conn, visible, callback_id)
            if found["loan_ref"] != ref:
                raise NotFound(f"callback {callback_id} not found")
            await callbacks.close_callback(
                conn,
                visible,
                callback_id,
                CallbackStatus(body.status),
                actor=user.username,
                actor_id=user.id,
                others_too=user.role is not Role.collector,
            )
    except Problem as problem:
        return await account_page(request, user, ref, problem=problem)
    except ArrearsError as exc:
        return await account_page(request, user, ref, problem=refusal("callbacks", form, exc))
    target = safe_next(str(form.get("next", "")))
    if target != "/":
        raise see_other(target)
    raise _back(ref, "closed", "#callbacks")


@pages.post("/accounts/{ref}/arrangements/decide", roles=COLLECTING)
async def decide_arrangement(
    request: web.Request, user: CurrentUser, form: Form
) -> web.StreamResponse:
    """Approve or reject a proposed arrangement (``POST /api/arrangements/{id}/approve|
    reject``): someone entitled at its level, never its proposer — the service decides."""
    ref = _ref(request)
    await _in_view(request, user, ref)
    visible = loan_visible(user)
    decision = str(form.get("decision", ""))
    try:
        arrangement_id = _id(form, "arrangement", "arrangements")
        if decision not in ("approve", "reject"):
            raise Problem("arrangements", {}, 400, _("Choose “Approve” or “Reject”."))
        async with request.app[ENGINE].begin() as conn:
            found = await arrangements.get_arrangement(conn, visible, arrangement_id)
            if found["loan_ref"] != ref:
                raise NotFound(f"arrangement {arrangement_id} not found")
            await arrangements.decide(
                conn,
                visible,
                arrangement_id,
                approve=decision == "approve",
                actor=user.username,
                actor_id=user.id,
                role=user.role.value,
                note=_reason(form),
            )
    except Problem as problem:
        return await account_page(request, user, ref, problem=problem)
    except ArrearsError as exc:
        return await account_page(request, user, ref, problem=refusal("arrangements", form, exc))
    raise _back(ref, "approved" if decision == "approve" else "declined", "#arrangements")
