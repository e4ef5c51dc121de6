"""The compliance report for supervisors: what the guard blocked, deferred or sent for review
over a period, by reason, with the decisions behind each count and each decision's facts; the
counts as CSV (the exports' injection-safe writer). The same reads as /api/compliance/*."""

from __future__ import annotations

import json

from aiohttp import web

from service.errors import ArrearsError
from service.portfolio.compliance_report import (
    STOPPED,
    show_decision,
    stopped_by_reason,
    stopped_decisions,
)
from service.portfolio.exports import Column, CsvTable
from service.web.api.compliance import DecisionQuery, not_allowed
from service.web.api.framework import validated
from service.web.keys import ENGINE, SETTINGS
from service.web.ui.framework import STAFF, Pages
from service.web.ui.render import render
from service.web.ui.task_view import problem
from service.web.ui.tools.common import PAGE_SIZE, link, offset_of, paging, period

pages = Pages("tools")

# The report's file: a row per reason, as GET /api/compliance/report gives each.
REPORT_COLUMNS = CsvTable(
    [
        Column("reason"),
        Column("blocked", "integer"),
        Column("deferred", "integer"),
        Column("review", "integer"),
        Column("total", "integer"),
    ]
)


@pages.get("/tools/compliance", roles=STAFF)
async def compliance_report(request: web.Request) -> web.StreamResponse:
    wanted = period(request)
    async with request.app[ENGINE].connect() as conn:
        found = await stopped_by_reason(
            conn, wanted.start, wanted.end, request.app[SETTINGS].lender_timezone
        )
    return render(
        request,
        "tools/compliance.html",
        status=wanted.refused.status if wanted.refused else 200,
        refused=wanted.refused,
        period=wanted,
        totals=found["totals"],
        reasons=found["reasons"],
        verdicts=STOPPED,
        link=link,
    )


@pages.get("/tools/compliance.csv", roles=STAFF)
async def compliance_csv(request: web.Request) -> web.StreamResponse:
    wanted = period(request)
    if wanted.refused is not None:
        return render(request, "message.html", status=422, message=wanted.refused.text)
    async with request.app[ENGINE].connect() as conn:
        found = await stopped_by_reason(
            conn, wanted.start, wanted.end, request.app[SETTINGS].lender_timezone
        )
    rows = [
        (r["reason"], r["block"], r["defer"], r["review"], r["total"]) for r in found["reasons"]
    ]
    name = f"compliance-{wanted.start.isoformat()}-{wanted.end.isoformat()}.csv"
    return web.Response(
        text=REPORT_COLUMNS.header() + REPORT_COLUMNS.rows(rows),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@pages.get("/tools/compliance/decisions", roles=STAFF)
async def decision_list(request: web.Request) -> web.StreamResponse:
    """The decisions behind a count: a reason's, a verdict's, over the report's period."""
    wanted = period(request)
    page, offset = offset_of(request.query)
    chosen = {k: v for k in ("reason", "verdict") if (v := request.query.get(k, "").strip())}
    refused = wanted.refused
    try:
        query = validated(DecisionQuery, {**chosen, **wanted.query(), "offset": str(offset)})
        not_allowed(query.verdict)
    except ArrearsError as exc:
        refused = problem(exc)
        chosen = {}
        query = validated(DecisionQuery, {**wanted.query(), "offset": str(offset)})
    async with request.app[ENGINE].connect() as conn:
        found = await stopped_decisions(
            conn,
            query.start,
            query.end,
            request.app[SETTINGS].lender_timezone,
            reason=query.reason,
            verdict=query.verdict.value if query.verdict else None,
            limit=PAGE_SIZE,
            offset=query.offset,
        )
    listed = paging(
        page,
        found["total"],
        len(found["items"]),
        lambda n: link("/tools/compliance/decisions", **chosen, **wanted.query(), page=n),
    )
    return render(
        request,
        "tools/decisions.html",
        status=refused.status if refused else 200,
        refused=refused,
        period=wanted,
        chosen=chosen,
        decisions=found["items"],
        paging=listed,
        report_url=link("/tools/compliance", **wanted.query()),
    )


@pages.get("/tools/compliance/decisions/{id:[0-9]{1,9}}", roles=STAFF)
async def decision_page(request: web.Request) -> web.StreamResponse:
    async with request.app[ENGINE].connect() as conn:
        decision = await show_decision(conn, int(request.match_info["id"]))
    return render(
        request,
        "tools/decision.html",
        decision=decision,
        inputs=json.dumps(decision["inputs"], indent=2, ensure_ascii=False, default=str),
    )
