"""Agencies (委外) for supervisors: each agency with what it holds and what it brought in (the
commission it earns), the results as CSV (the exports' injection-safe writer), adding an
agency, placing a task's account and recalling a placement. Each form calls the service its
API twin calls (service.web.api.agencies)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy import true

from service.auth import CurrentUser
from service.casework import agencies, placements
from service.errors import ArrearsError
from service.portfolio.exports import Column, CsvTable
from service.portfolio.visibility import loan_visible
from service.web.api.agencies import NewAgency, Recall, ResultsQuery, TaskPlacement
from service.web.api.framework import validated
from service.web.keys import ENGINE, SETTINGS
from service.web.ui.framework import STAFF, Form, Pages, see_other
from service.web.ui.i18n import gettext as _
from service.web.ui.render import render
from service.web.ui.session import safe_next
from service.web.ui.task_view import (
    Problem,
    api_body,
    field_text,
    lender_day,
    optional,
    problem,
    task_page,
)

pages = Pages("tasks")

# The results file: one row per agency, as GET /api/agencies/{ref}/results gives each.
RESULT_COLUMNS = CsvTable(
    [
        Column("agency_ref"),
        Column("name"),
        Column("commission_rate"),
        Column("placed", "integer"),
        Column("placed_balance", "money"),
        Column("active", "integer"),
        Column("recalled_manual", "integer"),
        Column("recalled_recall_date", "integer"),
        Column("recalled_cured", "integer"),
        Column("recalled_loan_closed", "integer"),
        Column("collected", "money"),
        Column("commission", "money"),
    ]
)
FLASHES = {
    "created": lambda: _("The agency is added."),
    "recalled": lambda: _("The account is recalled from the agency."),
}


def _period(request: web.Request) -> tuple[dt.date | None, dt.date | None, Problem | None]:
    """The placements' period the results are over (the API's ``from`` and ``to``)."""
    wanted = {k: v for k in ("from", "to") if (v := request.query.get(k, "").strip())}
    try:
        period = validated(ResultsQuery, wanted)
    except ArrearsError as exc:
        return None, None, problem(exc)
    return period.placed_from, period.placed_to, None


async def _agencies_page(
    request: web.Request, refused: Problem | None = None, entered: Form | None = None
) -> web.Response:
    placed_from, placed_to, bad_period = _period(request)
    async with request.app[ENGINE].connect() as conn:
        listed = await agencies.list_agencies(conn)
        results = await agencies.agency_results(
            conn, lender_day(request), placed_from=placed_from, placed_to=placed_to
        )
    by_ref = {result["agency_ref"]: result for result in results}
    message = FLASHES.get(request.query.get("flash", ""))
    refused = refused or bad_period
    return render(
        request,
        "tasks/agencies.html",
        status=refused.status if refused else 200,
        agencies=[{**agency, "results": by_ref[agency["agency_ref"]]} for agency in listed],
        placed_from=placed_from,
        placed_to=placed_to,
        csv_query=request.query_string,
        refused=refused,
        entered={k: entered[k] for k in entered if k != "csrf_token"} if entered else {},
        flash=message() if message else None,
    )


@pages.get("/agencies", roles=STAFF)
async def agency_list(request: web.Request) -> web.StreamResponse:
    return await _agencies_page(request)


@pages.get("/agencies/results.csv", roles=STAFF)
async def results_csv(request: web.Request) -> web.StreamResponse:
    """The agencies' results over the period, one row each (text cells safe in a spreadsheet)."""
    placed_from, placed_to, bad_period = _period(request)
    if bad_period is not None:
        return render(request, "message.html", status=422, message=bad_period.text)
    async with request.app[ENGINE].connect() as conn:
        results = await agencies.agency_results(
            conn, lender_day(request), placed_from=placed_from, placed_to=placed_to
        )
    rows = [
        (
            r["agency_ref"],
            r["name"],
            str(r["commission_rate"]),
            r["placed"],
            r["placed_balance"],
            r["active"],
            r["recalled"]["manual"],
            r["recalled"]["recall_date"],
            r["recalled"]["cured"],
            r["recalled"]["loan_closed"],
            r["collected"],
            r["commission"],
        )
        for r in results
    ]
    return web.Response(
        text=RESULT_COLUMNS.header() + RESULT_COLUMNS.rows(rows),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": 'attachment; filename="agency-results.csv"'},
    )


def _commission(form: Form) -> str:
    """The commission as typed (a percentage) as the API takes it (a fraction)."""
    typed = field_text(form, "commission_percent")
    try:
        return f"{(Decimal(typed) / 100).normalize():f}"
    except (InvalidOperation, ValueError):
        return typed  # refused by the API's model, naming the field


@pages.post("/agencies", roles=STAFF)
async def add_agency(request: web.Request, user: CurrentUser, form: Form) -> web.StreamResponse:
    """POST /api/agencies: its ref, name, commission rate and contact notes."""
    try:
        body = api_body(
            NewAgency,
            {
                "agency_ref": field_text(form, "agency_ref"),
                "name": field_text(form, "name"),
                "commission_rate": _commission(form),
                "contact_notes": field_text(form, "contact_notes"),
            },
        )
        async with request.app[ENGINE].begin() as conn:
            created = await agencies.create_agency(conn, actor=user.username, **body.model_dump())
    except ArrearsError as exc:
        return await _agencies_page(request, problem(exc), form)
    raise see_other(f"/agencies/{created['agency_ref']}?flash=created")


@pages.get("/agencies/{ref}", roles=STAFF)
async def agency(request: web.Request) -> web.StreamResponse:
    """One agency: what it holds now (or ever, with ``all``) and what it brought in."""
    ref = request.match_info["ref"]
    every = request.query.get("all") == "1"
    async with request.app[ENGINE].connect() as conn:
        found = await agencies.get_agency(conn, ref)
        (results,) = await agencies.agency_results(conn, lender_day(request), agency_ref=ref)
        held = await placements.list_placements(
            conn, true(), agency_ref=ref, active_only=not every, limit=500
        )
    message = FLASHES.get(request.query.get("flash", ""))
    return render(
        request,
        "tasks/agency.html",
        agency=found,
        results=results,
        placements=held,
        every=every,
        flash=message() if message else None,
    )


@pages.post("/tasks/{id:[0-9]{1,18}}/place", roles=STAFF)
async def place(request: web.Request, user: CurrentUser, form: Form) -> web.StreamResponse:
    """Place the task's account with an agency (POST /api/tasks/{id}/place)."""
    task_id = int(request.match_info["id"])
    settings = request.app[SETTINGS]
    try:
        body = api_body(
            TaskPlacement,
            {
                "agency_ref": field_text(form, "agency_ref"),
                "recall_on": optional(form, "recall_on"),
                "note": field_text(form, "note"),
            },
        )
        async with request.app[ENGINE].begin() as conn:
            loan_ref = await placements.task_loan(conn, task_id, loan_visible(user))
            await placements.place(
                conn,
                loan_ref=loan_ref,
                agency_ref=body.agency_ref,
                actor=user.username,
                today=lender_day(request),
                recall_days=settings.agency_recall_days,
                recall_on=body.recall_on,
                task_id=task_id,
                note=body.note,
            )
    except ArrearsError as exc:
        return await task_page(request, user, task_id, refused=problem(exc), entered=form)
    raise see_other(f"/tasks/{task_id}?flash=placed")


@pages.post("/placements/{id:[0-9]{1,18}}/recall", roles=STAFF)
async def recall(request: web.Request, user: CurrentUser, form: Form) -> web.StreamResponse:
    """A manual recall (POST /api/placements/{id}/recall): back on the work list at once."""
    back = urlsplit(safe_next(str(form.get("next", "/agencies")))).path
    try:
        body = api_body(Recall, {"note": field_text(form, "note")})
        async with request.app[ENGINE].begin() as conn:
            await placements.recall(
                conn,
                actor=user.username,
                today=lender_day(request),
                note=body.note,
                settings=request.app[SETTINGS],
                placement_id=int(request.match_info["id"]),
            )
    except ArrearsError as exc:
        refused = problem(exc)
        return render(
            request, "message.html", status=refused.status, message=refused.text, back=back
        )
    raise see_other(f"{back}?flash=recalled")
