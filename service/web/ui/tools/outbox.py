"""The outbox for supervisors: what was planned for contact and what left, filtered by state,
channel and account, and one message with what the console channel recorded of it — the same
reads as GET /api/outbox (service.contact.outbox_reads)."""

from __future__ import annotations

from aiohttp import web

from service.auth import CurrentUser
from service.contact.outbox_reads import list_outbox, show_outbox
from service.domain.outbox import OutboxStatus
from service.errors import ArrearsError
from service.portfolio.visibility import loan_visible
from service.web.api.framework import validated
from service.web.api.outbox import OutboxQuery
from service.web.keys import ENGINE
from service.web.ui.framework import STAFF, Pages
from service.web.ui.render import render
from service.web.ui.task_view import problem
from service.web.ui.tools.common import PAGE_SIZE, link, offset_of, paging

pages = Pages("tools")

CHANNELS = ("sms", "call", "letter")


@pages.get("/tools/outbox", roles=STAFF)
async def outbox_list(request: web.Request, user: CurrentUser) -> web.StreamResponse:
    page, offset = offset_of(request.query)
    wanted = {
        k: v for k in ("status", "channel", "loan_ref") if (v := request.query.get(k, "").strip())
    }
    refused = None
    try:
        query = validated(OutboxQuery, {**wanted, "limit": str(PAGE_SIZE), "offset": str(offset)})
    except ArrearsError as exc:
        refused = problem(exc)
        wanted = {}
        query = OutboxQuery(limit=PAGE_SIZE, offset=offset)
    async with request.app[ENGINE].connect() as conn:
        found = await list_outbox(
            conn,
            loan_visible(user),
            status=query.status,
            loan_ref=query.loan_ref,
            channel=query.channel,
            limit=query.limit,
            offset=query.offset,
        )
    pages_of = paging(
        page, found["total"], len(found["items"]), lambda n: link("/tools/outbox", **wanted, page=n)
    )
    return render(
        request,
        "tools/outbox.html",
        status=refused.status if refused else 200,
        refused=refused,
        messages=found["items"],
        paging=pages_of,
        statuses=list(OutboxStatus),
        channels=CHANNELS,
        wanted=wanted,
    )


@pages.get("/tools/outbox/{id:[0-9]{1,9}}", roles=STAFF)
async def outbox_message(request: web.Request, user: CurrentUser) -> web.StreamResponse:
    async with request.app[ENGINE].connect() as conn:
        message = await show_outbox(conn, loan_visible(user), int(request.match_info["id"]))
    return render(request, "tools/outbox_message.html", message=message)
