"""Write-offs (核销) for supervisors: the approval queue, one proposal with its decision, and
proposing from a write-off proposal task. Maker-checker is the service's rule
(service.casework.write_off): the page offers the proposer no decision, and a decision they
post anyway is refused with the rule's words."""

from __future__ import annotations

from aiohttp import web

from service.auth import CurrentUser
from service.casework.tasks import get_task
from service.casework.write_off import (
    decide_write_off,
    get_write_off,
    list_write_offs,
    propose_write_off,
    withdraw_write_off,
)
from service.domain.write_offs import WriteOffStatus
from service.errors import ArrearsError
from service.portfolio.visibility import loan_visible
from service.web.api.write_offs import Approval, NewWriteOff, Rejection, Withdrawal
from service.web.keys import ENGINE, SETTINGS
from service.web.ui.framework import STAFF, Form, Pages, see_other
from service.web.ui.i18n import gettext as _
from service.web.ui.render import render
from service.web.ui.task_view import (
    Problem,
    api_body,
    field_text,
    lender_day,
    page_number,
    problem,
    task_page,
)

pages = Pages("tasks")

PAGE_SIZE = 50
STATUSES = ("proposed", "approved", "rejected", "withdrawn", "any")
FLASHES = {
    "proposed": lambda: _("The write-off is proposed. Another supervisor decides it."),
    "approved": lambda: _("The write-off is approved: the loan is written off."),
    "rejected": lambda: _("The write-off is rejected: the loan stays open."),
    "withdrawn": lambda: _("The proposal is withdrawn."),
}


@pages.get("/write-offs", roles=STAFF)
async def approval_queue(request: web.Request, user: CurrentUser) -> web.StreamResponse:
    """Proposals waiting for a decision (or those in another state), newest first."""
    status = request.query.get("status", "proposed")
    status = status if status in STATUSES else "proposed"
    page = page_number(request.query.get("page"))
    async with request.app[ENGINE].connect() as conn:
        found = await list_write_offs(
            conn,
            status=None if status == "any" else WriteOffStatus(status),
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
        )
    last_page = max(1, -(-found["total"] // PAGE_SIZE))
    return render(
        request,
        "tasks/write_offs.html",
        write_offs=found["items"],
        total=found["total"],
        recovered_total=found["recovered_total"],
        shown=status,
        statuses=STATUSES,
        page=page,
        previous_url=f"/write-offs?status={status}&page={page - 1}" if page > 1 else None,
        next_url=f"/write-offs?status={status}&page={page + 1}" if page < last_page else None,
    )


async def _write_off_page(
    request: web.Request,
    user: CurrentUser,
    write_off_id: int,
    refused: Problem | None = None,
    entered: Form | None = None,
    posted: str | None = None,
) -> web.Response:
    async with request.app[ENGINE].connect() as conn:
        write_off = await get_write_off(conn, write_off_id)
    message = FLASHES.get(request.query.get("flash", ""))
    return render(
        request,
        "tasks/write_off.html",
        status=refused.status if refused else 200,
        write_off=write_off,
        # Maker-checker (service.domain.write_offs.decision_refusal): only shown, never relied on.
        own=write_off["proposed_by_id"] == user.id,
        refused=refused,
        entered={k: entered[k] for k in entered if k != "csrf_token"} if entered else {},
        posted=posted,  # which of the page's forms was refused (its note is shown again)
        flash=message() if message else None,
    )


def _id(request: web.Request) -> int:
    return int(request.match_info["id"])


@pages.get("/write-offs/{id:[0-9]{1,18}}", roles=STAFF)
async def write_off(request: web.Request, user: CurrentUser) -> web.StreamResponse:
    return await _write_off_page(request, user, _id(request))


@pages.post("/tasks/{id:[0-9]{1,18}}/write-off", roles=STAFF)
async def propose(request: web.Request, user: CurrentUser, form: Form) -> web.StreamResponse:
    """Propose writing off the task's loan (POST /api/write-offs with its task_id)."""
    task_id = _id(request)
    try:
        async with request.app[ENGINE].begin() as conn:
            task = await get_task(conn, task_id, loan_visible(user))
            body = api_body(
                NewWriteOff,
                {
                    "loan_ref": task["loan_ref"],
                    "reason": field_text(form, "reason"),
                    "task_id": task_id,
                },
            )
            found = await propose_write_off(
                conn, user, loan_ref=body.loan_ref, reason=body.reason, task_id=body.task_id
            )
    except ArrearsError as exc:
        return await task_page(request, user, task_id, refused=problem(exc), entered=form)
    raise see_other(f"/write-offs/{found['id']}?flash=proposed")


async def _decide(
    request: web.Request, user: CurrentUser, form: Form, *, approve: bool
) -> web.StreamResponse:
    write_off_id = _id(request)
    try:
        typed = {"note": field_text(form, "note")}
        note = api_body(Approval, typed).note if approve else api_body(Rejection, typed).note
        async with request.app[ENGINE].begin() as conn:
            await decide_write_off(
                conn,
                request.app[SETTINGS],
                user,
                write_off_id,
                approve=approve,
                note=note,
                today=lender_day(request),
            )
    except ArrearsError as exc:
        posted = "approve" if approve else "reject"
        return await _write_off_page(request, user, write_off_id, problem(exc), form, posted)
    flash = "approved" if approve else "rejected"
    raise see_other(f"/write-offs/{write_off_id}?flash={flash}")


@pages.post("/write-offs/{id:[0-9]{1,18}}/approve", roles=STAFF)
async def approve(request: web.Request, user: CurrentUser, form: Form) -> web.StreamResponse:
    """Maker-checker: never by the proposer; above the largest tier, by an admin."""
    return await _decide(request, user, form, approve=True)


@pages.post("/write-offs/{id:[0-9]{1,18}}/reject", roles=STAFF)
async def reject(request: web.Request, user: CurrentUser, form: Form) -> web.StreamResponse:
    return await _decide(request, user, form, approve=False)


@pages.post("/write-offs/{id:[0-9]{1,18}}/withdraw", roles=STAFF)
async def withdraw(request: web.Request, user: CurrentUser, form: Form) -> web.StreamResponse:
    write_off_id = _id(request)
    try:
        body = api_body(Withdrawal, {"note": field_text(form, "note")})
        async with request.app[ENGINE].begin() as conn:
            await withdraw_write_off(conn, user, write_off_id, body.note)
    except ArrearsError as exc:
        return await _write_off_page(request, user, write_off_id, problem(exc), form, "withdraw")
    raise see_other(f"/write-offs/{write_off_id}?flash=withdrawn")
