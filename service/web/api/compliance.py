"""The compliance report over the API: what the guard stopped over the lender's days, by reason,
and the decisions behind it (service.portfolio.compliance_report; the supervisors' page calls
the same functions)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from aiohttp import web
from pydantic import Field

from service.domain.compliance import Verdict
from service.errors import ValidationFailed
from service.portfolio.compliance_report import show_decision, stopped_by_reason, stopped_decisions
from service.web.api.framework import STAFF, Api, Out, TextIn
from service.web.api.schemas import Day, Id, Instant, Limit, Offset, Page, Ref
from service.web.keys import ENGINE, SETTINGS

api = Api("compliance")


class PeriodQuery(TextIn):
    start: Day = Field(alias="from")
    end: Day = Field(alias="to")


class DecisionQuery(PeriodQuery):
    reason: Ref | None = Field(None, description="only the decisions with this reason code")
    verdict: Verdict | None = None
    limit: Annotated[Limit, Field(le=500)] = 100
    offset: Offset = 0


class ReasonCount(Out):
    reason: str
    block: int
    defer: int
    review: int
    total: int


class ComplianceReport(Out):
    start: dt.date = Field(serialization_alias="from")
    end: dt.date = Field(serialization_alias="to")
    totals: dict[str, int] = Field(description="decisions by verdict (block, defer, review)")
    reasons: list[ReasonCount] = Field(description="a decision counts under each of its reasons")


class DecisionOut(Out):
    id: int
    loan_ref: str
    stage: str = Field(description="plan, dispatch or collector")
    party: str
    channel: str
    verdict: Verdict
    reasons: list[str]
    contact_at: Instant
    next_allowed_at: Instant | None
    decided_at: Instant
    idempotency_key: str | None


class DecisionDetail(DecisionOut):
    inputs: dict[str, Any] = Field(description="the facts and the request it was decided from")


class DecisionPath(TextIn):
    id: Id


def not_allowed(verdict: Verdict | None) -> None:
    if verdict is Verdict.allow:
        raise ValidationFailed("the report lists what was stopped", details=[{"field": "verdict"}])


@api.get(
    "/api/compliance/report",
    summary="What the guard blocked, deferred or sent for review, by reason",
    roles=STAFF,
)
async def report(request: web.Request, query: PeriodQuery) -> ComplianceReport:
    async with request.app[ENGINE].connect() as conn:
        found = await stopped_by_reason(
            conn, query.start, query.end, request.app[SETTINGS].lender_timezone
        )
    return ComplianceReport.model_validate({"start": query.start, "end": query.end, **found})


@api.get(
    "/api/compliance/decisions",
    summary="The stopping decisions of a period, newest first",
    roles=STAFF,
)
async def decisions(request: web.Request, query: DecisionQuery) -> Page[DecisionOut]:
    not_allowed(query.verdict)
    async with request.app[ENGINE].connect() as conn:
        found = await stopped_decisions(
            conn,
            query.start,
            query.end,
            request.app[SETTINGS].lender_timezone,
            reason=query.reason,
            verdict=query.verdict.value if query.verdict else None,
            limit=query.limit,
            offset=query.offset,
        )
    return Page[DecisionOut](
        total=found["total"], items=[DecisionOut.model_validate(d) for d in found["items"]]
    )


@api.get(
    "/api/compliance/decisions/{id}",
    summary="One guard decision with the facts it was made from",
    roles=STAFF,
)
async def decision(request: web.Request, path: DecisionPath) -> DecisionDetail:
    async with request.app[ENGINE].connect() as conn:
        return DecisionDetail.model_validate(await show_decision(conn, path.id))
