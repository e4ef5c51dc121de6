"""Promises to pay, arrangements and callbacks over the API, on the accounts the caller may see.
Payments decide whether a promise was kept; people take, confirm, reject and drop them."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from aiohttp import web
from pydantic import Field

from service.auth import CurrentUser
from service.clock import lender_today
from service.contact import arrangements, callbacks, promises
from service.db.models import CallbackStatus, PromiseStatus, Role
from service.domain.arrangements import (
    MAX_INSTALMENTS,
    ApprovalLevel,
    ArrangementKind,
    ArrangementStatus,
)
from service.portfolio.visibility import loan_visible
from service.web.api.framework import Api, In, Out, TextIn
from service.web.api.portfolio import RefPath
from service.web.api.schemas import (
    Day,
    Id,
    Instant,
    Items,
    Limit,
    MomentIn,
    Money,
    Offset,
    PositiveMoneyIn,
    Ref,
)
from service.web.keys import CLOCK, ENGINE, SETTINGS

api = Api("promises")

Note = Annotated[str, Field(max_length=4000)]


def _today(request: web.Request) -> dt.date:
    return lender_today(request.app[SETTINGS].lender_timezone, request.app[CLOCK].now())


class IdPath(TextIn):
    id: Id


# --- promises ------------------------------------------------------------------------------------


class NewPromise(In):
    amount: PositiveMoneyIn
    promised_on: Day = Field(description="by this day (plus the grace days)")
    note: Note = ""


class PromiseOut(Out):
    id: int
    loan_ref: str
    amount: Money
    promised_on: dt.date
    status: PromiseStatus
    source: str
    paid_amount: Money = Field(description="what payments counted toward it so far")
    settled_on: dt.date | None
    made_on: dt.date
    created_by: str
    decided_by: str | None
    arrangement_id: int | None
    note: str


class PromiseQuery(TextIn):
    loan_ref: Ref | None = None
    status: PromiseStatus | None = None
    limit: Annotated[Limit, Field(le=500)] = 100
    offset: Offset = 0


class Decision(In):
    reason: Note = ""


@api.post(
    "/api/loans/{ref}/promises", summary="Take a promise to pay", status=201, errors=(404, 409)
)
async def take_promise(
    request: web.Request, user: CurrentUser, path: RefPath, body: NewPromise
) -> PromiseOut:
    """Pending at once: automated dunning waits until its date plus grace; a reminder goes out
    the day before (through the guard)."""
    async with request.app[ENGINE].begin() as conn:
        stored = await promises.take_promise(
            conn,
            loan_visible(user),
            loan_ref=path.ref,
            amount=body.amount,
            promised_on=body.promised_on,
            today=_today(request),
            actor=user.username,
            actor_id=user.id,
            note=body.note,
            now=request.app[CLOCK].now(),
        )
    return PromiseOut.model_validate(stored)


@api.get("/api/promises", summary="Promises on the accounts the caller may see, by date")
async def list_promises(
    request: web.Request, user: CurrentUser, query: PromiseQuery
) -> Items[PromiseOut]:
    async with request.app[ENGINE].connect() as conn:
        items = await promises.list_promises(
            conn,
            loan_visible(user),
            loan_ref=query.loan_ref,
            status=query.status,
            limit=query.limit,
            offset=query.offset,
        )
    return Items[PromiseOut](items=[PromiseOut.model_validate(item) for item in items])


async def _move(
    request: web.Request, user: CurrentUser, promise_id: int, to: PromiseStatus, reason: str
) -> PromiseOut:
    async with request.app[ENGINE].begin() as conn:
        moved = await promises.move_promise(
            conn,
            loan_visible(user),
            promise_id,
            to,
            actor=user.username,
            actor_id=user.id,
            reason=reason,
        )
    return PromiseOut.model_validate(moved)


@api.post(
    "/api/promises/{id}/confirm",
    summary="Confirm a promise proposed from a reply",
    errors=(404, 409),
)
async def confirm_promise(
    request: web.Request, user: CurrentUser, path: IdPath, body: Decision
) -> PromiseOut:
    return await _move(request, user, path.id, PromiseStatus.pending, body.reason)


@api.post("/api/promises/{id}/reject", summary="Reject a proposed promise", errors=(404, 409))
async def reject_promise(
    request: web.Request, user: CurrentUser, path: IdPath, body: Decision
) -> PromiseOut:
    return await _move(request, user, path.id, PromiseStatus.cancelled, body.reason)


@api.post(
    "/api/promises/{id}/cancel",
    summary="Drop a pending promise before its date (the debtor withdrew it)",
    errors=(404, 409),
)
async def cancel_promise(
    request: web.Request, user: CurrentUser, path: IdPath, body: Decision
) -> PromiseOut:
    return await _move(request, user, path.id, PromiseStatus.cancelled, body.reason)


# --- arrangements --------------------------------------------------------------------------------


class NewArrangement(In):
    kind: ArrangementKind
    total: PositiveMoneyIn = Field(
        description="what the debtor pays under it: the balance (a plan) or less (a settlement)"
    )
    instalments: int = Field(ge=1, le=MAX_INSTALMENTS)
    first_on: Day = Field(description="the first instalment's day")
    every_days: int = Field(30, ge=1, le=366, description="days between instalments")
    note: Note = ""


class Instalment(Out):
    promise_id: int
    due_on: dt.date
    amount: Money
    status: PromiseStatus
    paid_amount: Money


class ArrangementOut(Out):
    id: int
    loan_ref: str
    kind: ArrangementKind
    status: ArrangementStatus
    balance: Money
    total: Money
    discount: Money
    instalments: int
    approval: ApprovalLevel = Field(description="who must approve it (none: agreed at once)")
    note: str
    proposed_by: str
    proposed_at: Instant
    decided_by: str | None
    decided_at: Instant | None
    decision_note: str
    settled_on: dt.date | None
    schedule: list[Instalment]


class ArrangementQuery(TextIn):
    loan_ref: Ref | None = None
    open: bool = Field(False, description="only those proposed or in force")


@api.post(
    "/api/loans/{ref}/arrangements",
    summary="Propose a payment plan or a settlement offer",
    status=201,
    errors=(403, 404, 409),
)
async def propose_arrangement(
    request: web.Request, user: CurrentUser, path: RefPath, body: NewArrangement
) -> ArrangementOut:
    """Within the collector's authority it starts at once; otherwise it waits for a
    supervisor's or an administrator's approval by the amount at stake (10万 / 30万 / 100万 by
    default); above the top tier it is refused (403): the credit committee decides."""
    proposal = arrangements.Proposal(loan_ref=path.ref, **body.model_dump())
    async with request.app[ENGINE].begin() as conn:
        stored = await arrangements.propose(
            conn,
            loan_visible(user),
            proposal,
            today=_today(request),
            tiers=request.app[SETTINGS].approval_tiers,
            actor=user.username,
            actor_id=user.id,
        )
    return ArrangementOut.model_validate(stored)


@api.get("/api/arrangements", summary="Arrangements on the accounts the caller may see")
async def list_arrangements(
    request: web.Request, user: CurrentUser, query: ArrangementQuery
) -> Items[ArrangementOut]:
    async with request.app[ENGINE].connect() as conn:
        items = await arrangements.list_arrangements(
            conn, loan_visible(user), loan_ref=query.loan_ref, open_only=query.open
        )
    return Items[ArrangementOut](items=[ArrangementOut.model_validate(item) for item in items])


async def _decide(
    request: web.Request, user: CurrentUser, arrangement_id: int, approve: bool, note: str
) -> ArrangementOut:
    async with request.app[ENGINE].begin() as conn:
        decided = await arrangements.decide(
            conn,
            loan_visible(user),
            arrangement_id,
            approve=approve,
            actor=user.username,
            actor_id=user.id,
            role=user.role.value,
            note=note,
        )
    return ArrangementOut.model_validate(decided)


@api.post(
    "/api/arrangements/{id}/approve",
    summary="Approve an arrangement (not its proposer's to approve)",
    errors=(403, 404, 409),
)
async def approve_arrangement(
    request: web.Request, user: CurrentUser, path: IdPath, body: Decision
) -> ArrangementOut:
    return await _decide(request, user, path.id, True, body.reason)


@api.post("/api/arrangements/{id}/reject", summary="Reject an arrangement", errors=(403, 404, 409))
async def reject_arrangement(
    request: web.Request, user: CurrentUser, path: IdPath, body: Decision
) -> ArrangementOut:
    return await _decide(request, user, path.id, False, body.reason)


# --- callbacks -----------------------------------------------------------------------------------


class NewCallback(In):
    due_at: MomentIn
    for_queue: bool = Field(False, description="whoever works the queue, not only you")
    note: Note = ""


class CallbackOut(Out):
    id: int
    loan_ref: str
    due_at: Instant
    status: CallbackStatus
    for_user: str | None = Field(description="null: the queue's")
    note: str
    created_by: str
    created_at: Instant
    closed_by: str | None
    closed_at: Instant | None


class CallbackQuery(TextIn):
    loan_ref: Ref | None = None
    due_before: MomentIn | None = None
    all: bool = Field(False, description="closed ones too")
    limit: Annotated[Limit, Field(le=500)] = 100
    offset: Offset = 0


class CallbackClose(In):
    status: Literal["done", "cancelled"]


@api.post(
    "/api/loans/{ref}/callbacks", summary="Schedule a callback", status=201, errors=(404, 409)
)
async def schedule_callback(
    request: web.Request, user: CurrentUser, path: RefPath, body: NewCallback
) -> CallbackOut:
    """Served first by "next account" once due — to you, or to anyone in the queue."""
    async with request.app[ENGINE].begin() as conn:
        stored = await callbacks.schedule_callback(
            conn,
            loan_visible(user),
            loan_ref=path.ref,
            due_at=body.due_at,
            for_queue=body.for_queue,
            note=body.note,
            now=request.app[CLOCK].now(),
            actor=user.username,
            actor_id=user.id,
        )
    return CallbackOut.model_validate(stored)


@api.get("/api/callbacks", summary="My callbacks and my queues', soonest first")
async def list_callbacks(
    request: web.Request, user: CurrentUser, query: CallbackQuery
) -> Items[CallbackOut]:
    async with request.app[ENGINE].connect() as conn:
        items = await callbacks.list_callbacks(
            conn,
            loan_visible(user),
            user_id=user.id if user.role is Role.collector else None,
            due_before=query.due_before,
            loan_ref=query.loan_ref,
            scheduled_only=not query.all,
            limit=query.limit,
            offset=query.offset,
        )
    return Items[CallbackOut](items=[CallbackOut.model_validate(item) for item in items])


@api.post(
    "/api/callbacks/{id}/close",
    summary="Close a callback as done or cancelled",
    errors=(403, 404, 409),
)
async def close_callback(
    request: web.Request, user: CurrentUser, path: IdPath, body: CallbackClose
) -> CallbackOut:
    async with request.app[ENGINE].begin() as conn:
        closed = await callbacks.close_callback(
            conn,
            loan_visible(user),
            path.id,
            CallbackStatus(body.status),
            actor=user.username,
            actor_id=user.id,
            others_too=user.role is not Role.collector,
        )
    return CallbackOut.model_validate(closed)
