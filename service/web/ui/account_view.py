"""What the account page shows, read through the services the JSON API reads it with: the loan
(``GET /api/loans/{ref}``), its borrower and their other loans, holds and opt-outs, where the
account sits and who holds it, its open promises, arrangements and callbacks, and the first
page of its timeline (``GET /api/loans/{ref}/timeline``). One connection, a fixed number of
indexed reads, whatever the account's history: the timeline is read a page at a time."""

from __future__ import annotations

import re
import secrets
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from service.assignment import workspace
from service.auth import CurrentUser
from service.clock import lender_today
from service.contact import arrangements, callbacks, promises
from service.contact.log import DIALLED_PREFIX
from service.contact.timeline import timeline
from service.db.models import PromiseStatus, Role
from service.domain.arrangements import ArrangementKind
from service.domain.contact import AttemptResult, Disposition, PromiseSource
from service.portfolio import reads, restrictions
from service.portfolio.visibility import loan_visible
from service.web.keys import CLOCK, ENGINE, SETTINGS
from service.web.ui.account_forms import Problem
from service.web.ui.i18n import gettext as _
from service.web.ui.labels import label
from service.web.ui.render import render

# The first page of the timeline on the account page; older ones on its own page.
TIMELINE_FIRST = 20
TIMELINE_PAGE = 50
DIALLED = re.compile(re.escape(DIALLED_PREFIX) + r"[0-9]{1,18}")
# What a collector records of a call (the channels record the rest: delivered, pending, sent).
CALL_RESULTS = (
    AttemptResult.conversation,
    AttemptResult.no_answer,
    AttemptResult.busy,
    AttemptResult.voicemail,
    AttemptResult.wrong_number,
    AttemptResult.not_in_service,
    AttemptResult.failed,
)
DISPOSITIONS = tuple(Disposition)
# After a form: the message the page opens with (``?saved=…``).
SAVED = {
    "outcome": lambda: _("The call's outcome is logged."),
    "promise": lambda: _("The promise to pay is recorded."),
    "arrangement": lambda: _("The arrangement is proposed."),
    "callback": lambda: _("The callback is scheduled."),
    "confirmed": lambda: _("The promise is confirmed."),
    "rejected": lambda: _("The proposed promise is rejected."),
    "cancelled": lambda: _("The promise is cancelled."),
    "closed": lambda: _("The callback is closed."),
    "approved": lambda: _("The arrangement is approved."),
    "declined": lambda: _("The arrangement is rejected."),
}


def saved_message(request: web.Request) -> str | None:
    saved = SAVED.get(request.query.get("saved", ""))
    if saved is not None:
        return saved()
    reason = request.query.get("next")
    if reason:
        return _("Your next account: %(reason)s.", reason=label(reason, "next_reason"))
    return None


async def timeline_page(
    conn: AsyncConnection, user: CurrentUser, ref: str, limit: int, offset: int
) -> dict[str, Any]:
    """A page of the timeline and whether older items follow (one more is read to know)."""
    page = await timeline(conn, loan_visible(user), ref, limit=limit + 1, offset=offset)
    items = page["items"]
    return {
        "items": items[:limit],
        "offset": offset,
        "limit": limit,
        "older": offset + limit if len(items) > limit else None,
        "newer": max(0, offset - limit) if offset > 0 else None,
    }


async def _read(conn: AsyncConnection, request: web.Request, user: CurrentUser, ref: str) -> Any:
    now = request.app[CLOCK].now()
    today = lender_today(request.app[SETTINGS].lender_timezone, now)
    visible = loan_visible(user)
    loan = await reads.get_loan(conn, user, ref)  # NotFound for an account out of view
    borrower = await reads.get_borrower(conn, user, loan["borrower_ref"])
    loans = await reads.list_loans(
        conn, user, borrower_ref=loan["borrower_ref"], status=None, limit=50, offset=0
    )
    _total, holds = await restrictions.list_holds(
        conn, user, borrower_ref=loan["borrower_ref"], in_force_on=today, limit=100, offset=0
    )
    numbers = [phone["e164"] for phone in borrower["phones"]]
    numbers += [contact["phone"] for contact in borrower["contacts"] if contact["phone"]]
    opt_outs: dict[str, list[dict[str, Any]]] = {}
    for opt_out in await restrictions.opt_outs_of(conn, numbers):
        opt_outs.setdefault(opt_out["phone"], []).append(opt_out)
    pending = await promises.list_promises(conn, visible, loan_ref=ref, status="pending")
    proposed = await promises.list_promises(conn, visible, loan_ref=ref, status="proposed")
    return {
        "now": now,
        "today": today,
        "loan": loan,
        "borrower": borrower,
        "loans": loans["items"],
        "holds": holds,
        "opt_outs": opt_outs,
        "placement": await workspace.placement_of(conn, ref, now),
        # An arrangement's instalments are promises too: they show under their arrangement.
        "promises": [p for p in pending if p["arrangement_id"] is None],
        "proposals": [
            p
            for p in proposed
            if p["arrangement_id"] is None and p["source"] == PromiseSource.sms.value
        ],
        "arrangements": await arrangements.list_arrangements(
            conn, visible, loan_ref=ref, open_only=True
        ),
        "callbacks": await callbacks.list_callbacks(
            conn,
            visible,
            user_id=user.id if user.role is Role.collector else None,
            loan_ref=ref,
            limit=20,
        ),
        "timeline": await timeline_page(conn, user, ref, TIMELINE_FIRST, 0),
    }


async def account_page(
    request: web.Request,
    user: CurrentUser,
    ref: str,
    *,
    problem: Problem | None = None,
) -> web.Response:
    """The account page; after a refused form, with its messages and values (its status)."""
    async with request.app[ENGINE].connect() as conn:
        account = await _read(conn, request, user, ref)
    values = problem.values if problem else {}
    return render(
        request,
        "work/account.html",
        status=problem.status if problem else 200,
        flash=None if problem else saved_message(request),
        saved="" if problem else request.query.get("saved", ""),
        problem=problem,
        form=problem.form if problem else None,
        values=values,
        errors=problem.fields if problem else {},
        attempt_ref=values.get("attempt_ref") or _dialled(request) or f"web-{secrets.token_hex(8)}",
        call_results=CALL_RESULTS,
        dispositions=DISPOSITIONS,
        arrangement_kinds=tuple(ArrangementKind),
        staff=user.role is not Role.collector,
        pending_status=PromiseStatus.pending.value,
        # The contact panel loads into its place after the page (its live states are a read of
        # their own); without JavaScript, a link to it.
        contact_notice=request.query.get("contact", ""),
        **account,
    )


def _dialled(request: web.Request) -> str | None:
    """The call the collector just placed from the contact panel (``?call=cc-…``): its outcome
    is written on that call's attempt."""
    ref = request.query.get("call", "")
    return ref if DIALLED.fullmatch(ref) else None
