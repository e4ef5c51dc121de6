"""The contact log over the API: a person's call, letter or visit with its outcome, a correction
(a new revision: the log itself is never changed), the period's export for an auditor, and an
account's timeline. There is no route that updates or deletes an attempt."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import Field

from service.auth import CurrentUser
from service.clock import lender_today
from service.contact import outcomes
from service.contact.timeline import timeline
from service.db.models import Role
from service.domain.contact import AttemptResult, Channel, Direction, Disposition
from service.portfolio.attempts_export import attempt_rows, check_period
from service.portfolio.visibility import loan_visible
from service.web.api.framework import STAFF, Api, In, Out, Reply, TextIn
from service.web.api.portfolio import RefPath
from service.web.api.schemas import Day, Instant, Limit, MomentIn, Offset, PositiveMoneyIn, Ref
from service.web.keys import CLOCK, ENGINE, SETTINGS

api = Api("contact log")

Note = Annotated[str, Field(max_length=4000)]
Logged = Literal["call", "visit", "letter"]


class NewAttempt(In):
    channel: Logged = Field(description="call, visit or letter (the channels log the rest)")
    result: AttemptResult
    party: Ref = Field("debtor", description="debtor, or a contact_ref of the borrower")
    direction: Direction = Direction.outbound
    phone: str | None = Field(
        None, max_length=20, description="a call: the number (default: the party's)"
    )
    occurred_at: MomentIn | None = Field(None, description="default: now")
    disposition: Disposition | None = None
    note: Note = ""
    attempt_ref: Ref | None = Field(None, description="your key: the same request logs once")
    promise_amount: PositiveMoneyIn | None = Field(None, description="promise_to_pay: amount")
    promise_on: Day | None = Field(None, description="promise_to_pay: by this day")
    callback_at: MomentIn | None = Field(None, description="callback_requested: when")
    callback_for_queue: bool = Field(False, description="the queue's callback, not yours")


class AttemptOut(Out):
    attempt_ref: str
    revision: int = Field(description="0 as first logged; each correction adds one")
    loan_ref: str
    party: str
    phone: str
    channel: Channel
    direction: Direction
    occurred_at: Instant
    result: AttemptResult
    disposition: str | None
    note: str | None
    source: str
    recorded_by: str | None
    recorded_at: Instant


class AttemptPath(TextIn):
    ref: Ref


class Correction(In):
    disposition: Disposition | None = None
    note: Note | None = None


class ExportQuery(TextIn):
    start: Day = Field(alias="from")
    to: Day
    format: Literal["csv"] = "csv"


class TimelineQuery(TextIn):
    limit: Annotated[Limit, Field(le=200)] = 50
    offset: Annotated[Offset, Field(le=100_000)] = 0


class TimelineItem(Out):
    kind: Literal["attempt", "promise", "payment", "task", "assignment", "event"]
    at: Instant
    ref: str
    details: dict[str, Any] = Field(description="the record's own fields, by kind")


class Timeline(Out):
    loan_ref: str
    limit: int
    offset: int
    items: list[TimelineItem]


def _today(request: web.Request) -> dt.date:
    return lender_today(request.app[SETTINGS].lender_timezone, request.app[CLOCK].now())


@api.post(
    "/api/loans/{ref}/attempts",
    summary="Log a call, letter or visit with its outcome",
    status=201,
    responses={201: AttemptOut, 200: AttemptOut},
    errors=(404, 409),
)
async def log_attempt(
    request: web.Request, user: CurrentUser, path: RefPath, body: NewAttempt
) -> Reply[AttemptOut]:
    """Its disposition's effects come with it: a hold for a dispute, a death, a bankruptcy or a
    cease request; a third party's refusal for good; a wrong number no longer tried; a promise
    stored; a callback scheduled. The same ``attempt_ref`` again answers 200 with the first."""
    fields = body.model_dump(exclude={"channel"})
    outcome = outcomes.Outcome(loan_ref=path.ref, channel=Channel(body.channel), **fields)
    async with request.app[ENGINE].begin() as conn:
        stored, new = await outcomes.log_outcome(
            conn,
            loan_visible(user),
            outcome,
            now=request.app[CLOCK].now(),
            today=_today(request),
            actor=user.username,
            actor_id=user.id,
        )
    return Reply(AttemptOut.model_validate(stored), 201 if new else 200)


@api.post(
    "/api/attempts/{ref}/corrections",
    summary="Correct an attempt's disposition or note (a new revision; nothing is overwritten)",
    status=201,
    errors=(403, 404),
)
async def correct(
    request: web.Request, user: CurrentUser, path: AttemptPath, body: Correction
) -> AttemptOut:
    """By whoever logged it, or a supervisor. A new disposition's effects apply; a correction
    never lifts an opt-out, a hold or a refusal."""
    async with request.app[ENGINE].begin() as conn:
        stored = await outcomes.correct_attempt(
            conn,
            loan_visible(user),
            path.ref,
            disposition=body.disposition,
            note=body.note,
            today=_today(request),
            actor=user.username,
            actor_id=user.id,
            may_correct_others=user.role is not Role.collector,
        )
    return AttemptOut.model_validate(stored)


@api.get(
    "/api/exports/attempts",
    summary="The contact log of a period (DESIGN.md §5)",
    roles=STAFF,
    produces={"text/csv": "every attempt on the lender's days from..to, as it stands"},
)
async def export_attempts(request: web.Request, query: ExportQuery) -> web.StreamResponse:
    """The file of ``arrears export attempts`` (the same function)."""
    check_period(query.start, query.to)
    rows = attempt_rows(
        request.app[ENGINE], query.start, query.to, request.app[SETTINGS].lender_timezone
    )
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": (
                f'attachment; filename="attempts-{query.start.isoformat()}-'
                f'{query.to.isoformat()}.csv"'
            ),
        }
    )
    await response.prepare(request)
    async for chunk in rows:
        await response.write(chunk.encode())
    await response.write_eof()
    return response


@api.get(
    "/api/loans/{ref}/timeline",
    summary="An account's attempts, promises, payments, tasks, moves and events, newest first",
    errors=(404,),
)
async def loan_timeline(
    request: web.Request, user: CurrentUser, path: RefPath, query: TimelineQuery
) -> Timeline:
    async with request.app[ENGINE].connect() as conn:
        page = await timeline(
            conn, loan_visible(user), path.ref, limit=query.limit, offset=query.offset
        )
    return Timeline(
        loan_ref=page["loan_ref"],
        limit=page["limit"],
        offset=page["offset"],
        items=[
            TimelineItem(
                kind=item["kind"],
                at=item["at"],
                ref=item["ref"],
                details={k: _json(v) for k, v in item.items() if k not in ("kind", "at", "ref")},
            )
            for item in page["items"]
        ],
    )


def _json(value: Any) -> Any:
    """A timeline field as JSON: amounts and dates as the rest of the API writes them."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if hasattr(value, "quantize"):
        return f"{value:.2f}"
    return value
