"""Tasks for people over the API: field visits, agency placements, legal reviews, write-off
proposals on the accounts the caller may see, and their outcomes."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import pydantic
from aiohttp import web
from pydantic import Field

from service.auth import CurrentUser
from service.casework.tasks import close_task, count_tasks, list_tasks
from service.domain.casework import TASK_OUTCOMES, TaskStatus
from service.portfolio.visibility import loan_visible
from service.web.api.framework import Api, In, Out, TextIn
from service.web.api.schemas import Id, Limit, Money, Offset, Page
from service.web.keys import ENGINE

api = Api("tasks")


def _outcome(status: TaskStatus) -> TaskStatus:
    if status not in TASK_OUTCOMES:
        raise ValueError(f"an outcome is one of {', '.join(TASK_OUTCOMES)}")
    return status


# A task's outcome: the task states but open (documented as exactly those).
Outcome = Annotated[
    TaskStatus,
    pydantic.AfterValidator(_outcome),
    pydantic.WithJsonSchema({"type": "string", "enum": [s.value for s in TASK_OUTCOMES]}),
]


class TaskQuery(TextIn):
    all: bool = Field(False, description="every task, not only open ones")
    limit: Annotated[Limit, Field(le=500)] = 200
    offset: Offset = 0


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


class TaskPath(TextIn):
    id: Id


class TaskOutcome(In):
    status: Outcome = Field(description="done, failed or cancelled (open is not an outcome)")
    note: str = Field("", max_length=2000, description="what happened, e.g. nobody at home")


class TaskClosed(Out):
    id: int
    kind: str
    loan_ref: str
    status: TaskStatus


@api.get("/api/tasks", summary="Tasks on the accounts the caller may see, in due order")
async def tasks(request: web.Request, user: CurrentUser, query: TaskQuery) -> Page[TaskOut]:
    visible, open_only = loan_visible(user), not query.all
    async with request.app[ENGINE].connect() as conn:
        total = await count_tasks(conn, visible, open_only=open_only)
        items = await list_tasks(
            conn, visible, open_only=open_only, limit=query.limit, offset=query.offset
        )
    return Page[TaskOut](total=total, items=[TaskOut.model_validate(item) for item in items])


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
