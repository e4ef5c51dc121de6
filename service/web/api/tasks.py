"""Tasks for people over the API: field visits, agency placements, legal reviews, write-off
proposals on the accounts the caller may see, and their outcomes."""

from __future__ import annotations

import datetime as dt

from aiohttp import web
from pydantic import Field

from service.auth import CurrentUser
from service.casework.tasks import close_task, list_tasks
from service.domain.casework import TaskStatus
from service.portfolio.visibility import loan_visible
from service.web.api.framework import Api, In, Out
from service.web.api.schemas import Items, Money
from service.web.keys import ENGINE

api = Api("tasks")


class TaskQuery(In):
    all: bool = Field(False, description="every task, not only open ones")


class TaskOut(Out):
    id: int
    kind: str
    status: TaskStatus
    due_on: dt.date
    result: str
    closed_by: str | None
    loan_ref: str
    outstanding: Money
    days_past_due: int


class TaskPath(In):
    id: int


class TaskOutcome(In):
    status: TaskStatus = Field(description="done, failed or cancelled (open is not an outcome)")
    note: str = Field("", max_length=2000, description="what happened, e.g. nobody at home")


class TaskClosed(Out):
    id: int
    kind: str
    loan_ref: str
    status: TaskStatus


@api.get("/api/tasks", summary="Tasks on the accounts the caller may see")
async def tasks(request: web.Request, user: CurrentUser, query: TaskQuery) -> Items[TaskOut]:
    async with request.app[ENGINE].connect() as conn:
        items = await list_tasks(conn, loan_visible(user), open_only=not query.all)
    return Items[TaskOut](items=[TaskOut.model_validate(item) for item in items])


@api.post("/api/tasks/{id}/close", summary="Record a task's outcome", errors=(409,))
async def close(
    request: web.Request, user: CurrentUser, path: TaskPath, body: TaskOutcome
) -> TaskClosed:
    """A failed field visit counts toward the agency placement; a task closes once."""
    async with request.app[ENGINE].begin() as conn:
        closed = await close_task(
            conn, path.id, body.status, body.note, user.username, loan_visible(user)
        )
    return TaskClosed.model_validate(closed)
