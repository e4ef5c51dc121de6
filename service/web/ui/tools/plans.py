"""Treatment plans, for supervisors: the plans in force with their steps, every stored version,
and the dry run of a day (tomorrow unless another is chosen) — a job, whose page follows it and
shows what the plan would send, call and block. The same services as GET /api/plans and POST
/api/plans/dry-run (service.treatment.plans, workers.jobs)."""

from __future__ import annotations

import datetime as dt

from aiohttp import web

from service.auth import CurrentUser
from service.db.models import JobKind
from service.errors import ArrearsError
from service.treatment import plans
from service.web.api.plans import DryRun
from service.web.keys import ENGINE, JOBS
from service.web.ui.framework import STAFF, Form, Pages, see_other
from service.web.ui.render import render
from service.web.ui.task_view import Problem, api_body, field_text, lender_day, problem
from workers.jobs import submit

pages = Pages("tools")


async def _plans_page(request: web.Request, refused: Problem | None = None) -> web.Response:
    async with request.app[ENGINE].begin() as conn:
        await plans.install_default_plan(conn)  # as GET /api/plans: the built-in plan stored
        versions = await plans.list_plans(conn)
        in_force = await plans.active_plans(conn)
    return render(
        request,
        "tools/plans.html",
        status=refused.status if refused else 200,
        versions=versions,
        in_force=[{"version": p.version, **p.spec.as_dict()} for p in in_force],
        tomorrow=lender_day(request) + dt.timedelta(days=1),
        refused=refused,
    )


@pages.get("/tools/plans", roles=STAFF)
async def plan_list(request: web.Request) -> web.StreamResponse:
    return await _plans_page(request)


@pages.post("/tools/plans/dry-run", roles=STAFF)
async def dry_run(request: web.Request, user: CurrentUser, form: Form) -> web.StreamResponse:
    """POST /api/plans/dry-run: the day's plan as a job, written nowhere."""
    try:
        body = api_body(DryRun, {"for": field_text(form, "for")})
    except ArrearsError as exc:
        return await _plans_page(request, problem(exc))
    job_id = await submit(
        request.app[ENGINE],
        request.app[JOBS],
        JobKind.dry_run,
        {"for": body.day.isoformat()},
        user.username,
    )
    raise see_other(f"/tools/jobs/{job_id}")
