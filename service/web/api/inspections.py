"""Post-loan inspections (贷后检查) over the API: the caller's (as the loan's officer) and those of
the accounts they may see, and recording one — how it was done, what it found."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from aiohttp import web
from pydantic import Field
from sqlalchemy import ColumnElement, or_, true

from service.auth import CurrentUser
from service.casework.inspections import count_inspections, list_inspections, record_inspection
from service.clock import lender_today
from service.db.models import Role, Task
from service.domain.casework import TaskStatus
from service.domain.inspections import (
    InspectionFinding,
    InspectionKind,
    InspectionMethod,
    InspectionOutcome,
    RiskSignal,
)
from service.portfolio.visibility import loan_visible
from service.web.api.framework import Api, In, Out, TextIn
from service.web.api.schemas import Day, Id, Limit, Money, Offset, Page, Ref
from service.web.keys import CLOCK, ENGINE, SETTINGS

api = Api("inspections")


def inspection_visible(user: CurrentUser) -> ColumnElement[bool]:
    """The inspections a user may see and record: a collector those of their queues' accounts
    and those they own as the loan's officer (an account may sit in no queue while current);
    supervisors and admins every one."""
    if user.role is not Role.collector:
        return true()
    return or_(loan_visible(user), Task.owner_id == user.id)


class InspectionQuery(TextIn):
    mine: bool = Field(False, description="only those the caller owns as the loan's officer")
    all: bool = Field(False, description="recorded and cancelled ones too, not only open ones")
    due_by: Day | None = Field(None, description="only those due on or before this day")
    loan_ref: Ref | None = None
    limit: Annotated[Limit, Field(le=500)] = 200
    offset: Offset = 0


class InspectionOut(Out):
    id: int
    loan_ref: str
    kind: InspectionKind = Field(description="first (首次), periodic (定期) or risk (不定期)")
    status: TaskStatus
    due_on: dt.date
    owner: str | None = Field(description="the loan's officer; null: the account's queue")
    signals: list[RiskSignal] = Field(description="the risk signals that brought it forward")
    outcome: InspectionOutcome | None
    method: InspectionMethod | None
    findings: list[InspectionFinding]
    notes: str
    inspected_on: dt.date | None
    recorded_late: bool = Field(description="recorded more than 2 working days after it was done")
    recorded_by: str | None
    product: str
    disbursed_on: dt.date
    maturity_on: dt.date
    outstanding: Money
    days_past_due: int


class InspectionPath(TextIn):
    id: Id


class InspectionRecord(In):
    method: InspectionMethod = Field(description="on_site (现场) or off_site (非现场)")
    findings: list[InspectionFinding] = Field(
        default_factory=list,
        max_length=len(InspectionFinding),
        description="what it found, each a risk signal; none: nothing found (normal)",
    )
    notes: str = Field("", max_length=2000, description="what was seen, who was met")
    inspected_on: Day | None = Field(
        None, description="the day it was done (default today): not in the future"
    )


@api.get(
    "/api/inspections",
    summary="Post-loan inspections the caller owns or may see, in due order",
)
async def inspections(
    request: web.Request, user: CurrentUser, query: InspectionQuery
) -> Page[InspectionOut]:
    visible, owner_id = inspection_visible(user), user.id if query.mine else None
    async with request.app[ENGINE].connect() as conn:
        total = await count_inspections(
            conn,
            visible,
            owner_id=owner_id,
            open_only=not query.all,
            due_by=query.due_by,
            loan_ref=query.loan_ref,
        )
        items = await list_inspections(
            conn,
            visible,
            owner_id=owner_id,
            open_only=not query.all,
            due_by=query.due_by,
            loan_ref=query.loan_ref,
            limit=query.limit,
            offset=query.offset,
        )
    return Page[InspectionOut](total=total, items=[InspectionOut.model_validate(i) for i in items])


@api.post(
    "/api/inspections/{id}/outcome",
    summary="Record an inspection: how it was done, what it found (closes it)",
    errors=(409,),
)
async def record(
    request: web.Request, user: CurrentUser, path: InspectionPath, body: InspectionRecord
) -> InspectionOut:
    """A finding of risk makes the loan's next inspection a risk one (monthly); an inspection
    is recorded once."""
    settings = request.app[SETTINGS]
    async with request.app[ENGINE].begin() as conn:
        recorded = await record_inspection(
            conn,
            path.id,
            method=body.method,
            findings=body.findings,
            notes=body.notes,
            inspected_on=body.inspected_on,
            today=lender_today(settings.lender_timezone, request.app[CLOCK].now()),
            actor=user.username,
            actor_id=user.id,
            visible=inspection_visible(user),
            policy=settings.inspection_policy(),
        )
    return InspectionOut.model_validate(recorded)
