"""The task lists and a task's page: field visits, agency placements, legal reviews, write-off
proposals and post-loan inspections on the accounts the user may see (their own first), and
the outcome forms of the legal review and the inspection, and calling a task off. Each form
calls the service its API twin calls (service.web.api.tasks, legal, inspections)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from service.auth import CurrentUser
from service.casework.inspections import record_inspection
from service.casework.legal import close_legal_review
from service.casework.tasks import TaskFilter, close_task, count_by_kind, count_tasks, list_tasks
from service.casework.write_off import list_write_offs
from service.contact.outcomes import record_visit
from service.domain.casework import TaskKind, TaskStatus
from service.domain.write_offs import WriteOffStatus
from service.errors import ArrearsError
from service.portfolio.visibility import loan_visible
from service.web.api.inspections import InspectionRecord, inspection_visible
from service.web.api.legal import LegalReview
from service.web.api.tasks import TaskOutcome
from service.web.keys import CLOCK, ENGINE, SETTINGS
from service.web.ui.framework import COLLECTING, Form, Pages, see_other
from service.web.ui.render import render
from service.web.ui.task_view import (
    api_body,
    field_text,
    is_staff,
    lender_day,
    optional,
    outcome_label,
    page_number,
    problem,
    task_page,
    task_visible,
)

pages = Pages("tasks")

PAGE_SIZE = 50
STATUSES = ("open", "done", "failed", "cancelled", "any")
DUES = ("any", "overdue", "today", "week")


@dataclasses.dataclass(frozen=True, slots=True)
class ListQuery:
    """The list's filters as the query string gives them (anything unknown: the default)."""

    kind: str = "all"
    status: str = "open"
    due: str = "any"
    page: int = 1

    @classmethod
    def read(cls, query: Any) -> ListQuery:
        kind = query.get("kind", "all")
        status = query.get("status", "open")
        due = query.get("due", "any")
        return cls(
            kind=kind if kind in {"all", *TaskKind} else "all",
            status=status if status in STATUSES else "open",
            due=due if due in DUES else "any",
            page=page_number(query.get("page")),
        )

    def task_filter(self, today: dt.date, every_kind: bool = False) -> TaskFilter:
        kinds = tuple(TaskKind) if every_kind or self.kind == "all" else (TaskKind(self.kind),)
        due_by = {
            "overdue": today - dt.timedelta(days=1),
            "today": today,
            "week": today + dt.timedelta(days=7),
        }.get(self.due)
        status = None if self.status == "any" else TaskStatus(self.status)
        return TaskFilter(kinds=kinds, status=status, due_by=due_by)

    def url(self, **changes: Any) -> str:
        wanted = dataclasses.replace(self, **changes)
        defaults = ListQuery()
        query = {
            name: getattr(wanted, name)
            for name in ("kind", "status", "due", "page")
            if getattr(wanted, name) != getattr(defaults, name)
        }
        return "/tasks" + (f"?{urlencode(query)}" if query else "")


@pages.get("/tasks", roles=COLLECTING)
async def task_list(request: web.Request, user: CurrentUser) -> web.StreamResponse:
    """My tasks first, then the rest of my queues' (a supervisor: every task), by kind."""
    wanted = ListQuery.read(request.query)
    today = lender_day(request)
    where = wanted.task_filter(today)
    visible = task_visible(user)
    async with request.app[ENGINE].connect() as conn:
        by_kind = await count_by_kind(conn, visible, wanted.task_filter(today, every_kind=True))
        total = await count_tasks(conn, visible, where=where)
        last_page = max(1, -(-total // PAGE_SIZE))
        shown = min(wanted.page, last_page)
        tasks = await list_tasks(
            conn,
            visible,
            where=where,
            first_for=user.id,
            limit=PAGE_SIZE,
            offset=(shown - 1) * PAGE_SIZE,
        )
        awaiting = 0
        if is_staff(user):
            found = await list_write_offs(conn, status=WriteOffStatus.proposed, limit=1)
            awaiting = found["total"]
    wanted = dataclasses.replace(wanted, page=shown)
    return render(
        request,
        "tasks/list.html",
        tasks=tasks,
        total=total,
        by_kind=by_kind,
        every=sum(by_kind.values()),
        kinds=list(TaskKind),
        statuses=STATUSES,
        dues=DUES,
        wanted=wanted,
        first=(shown - 1) * PAGE_SIZE + 1,
        last=(shown - 1) * PAGE_SIZE + len(tasks),
        previous_url=wanted.url(page=shown - 1) if shown > 1 else None,
        next_url=wanted.url(page=shown + 1) if shown < last_page else None,
        today=today,
        staff=is_staff(user),
        awaiting_write_offs=awaiting,
        outcome_label=outcome_label,
    )


@pages.get("/tasks/{id:[0-9]{1,18}}", roles=COLLECTING)
async def task_detail(request: web.Request, user: CurrentUser) -> web.StreamResponse:
    return await task_page(request, user, int(request.match_info["id"]))


def _task_id(request: web.Request) -> int:
    return int(request.match_info["id"])


@pages.post("/tasks/{id:[0-9]{1,18}}/cancel", roles=COLLECTING)
async def cancel(request: web.Request, user: CurrentUser, form: Form) -> web.StreamResponse:
    """Call a task off (POST /api/tasks/{id}/close with status cancelled)."""
    task_id = _task_id(request)
    today = lender_day(request)
    try:
        body = api_body(TaskOutcome, {"status": "cancelled", "note": field_text(form, "note")})
        async with request.app[ENGINE].begin() as conn:
            closed = await close_task(
                conn,
                task_id,
                body.status,
                body.note,
                user.username,
                loan_visible(user),
                today=today,
            )
            await record_visit(
                conn,
                loan_visible(user),
                closed,
                note=body.note,
                now=request.app[CLOCK].now(),
                today=today,
                actor=user.username,
                actor_id=user.id,
            )
    except ArrearsError as exc:
        return await task_page(request, user, task_id, refused=problem(exc), entered=form)
    raise see_other(f"/tasks/{task_id}?flash=cancelled")


@pages.post("/tasks/{id:[0-9]{1,18}}/legal-review", roles=COLLECTING)
async def legal_review(request: web.Request, user: CurrentUser, form: Form) -> web.StreamResponse:
    """The legal review's outcome (POST /api/tasks/{id}/legal-review)."""
    task_id = _task_id(request)
    try:
        body = api_body(
            LegalReview,
            {"outcome": field_text(form, "outcome"), "note": field_text(form, "note")},
        )
        async with request.app[ENGINE].begin() as conn:
            await close_legal_review(
                conn,
                user,
                task_id,
                body.outcome,
                body.note,
                loan_visible(user),
                lender_day(request),
            )
    except ArrearsError as exc:
        return await task_page(request, user, task_id, refused=problem(exc), entered=form)
    raise see_other(f"/tasks/{task_id}?flash=legal")


@pages.post("/tasks/{id:[0-9]{1,18}}/inspection", roles=COLLECTING)
async def inspection(request: web.Request, user: CurrentUser, form: Form) -> web.StreamResponse:
    """How an inspection was done and what it found (POST /api/inspections/{id}/outcome)."""
    task_id = _task_id(request)
    settings = request.app[SETTINGS]
    try:
        body = api_body(
            InspectionRecord,
            {
                "method": field_text(form, "method"),
                "findings": [str(f) for f in form.getall("findings", [])],
                "notes": field_text(form, "notes"),
                "inspected_on": optional(form, "inspected_on"),
            },
        )
        async with request.app[ENGINE].begin() as conn:
            await record_inspection(
                conn,
                task_id,
                method=body.method,
                findings=body.findings,
                notes=body.notes,
                inspected_on=body.inspected_on,
                today=lender_day(request),
                actor=user.username,
                actor_id=user.id,
                visible=inspection_visible(user),
                policy=settings.inspection_policy(),
            )
    except ArrearsError as exc:
        return await task_page(request, user, task_id, refused=problem(exc), entered=form)
    raise see_other(f"/tasks/{task_id}?flash=inspection")
