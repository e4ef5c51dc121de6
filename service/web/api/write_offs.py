"""Write-offs (核销) over the API, for supervisors and admins: proposals with the amounts they
write off, the maker-checker decision, and what was recovered after each write-off."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from aiohttp import web
from pydantic import Field

from service.auth import CurrentUser
from service.casework.write_off import (
    decide_write_off,
    get_write_off,
    list_write_offs,
    propose_write_off,
    withdraw_write_off,
)
from service.clock import lender_today
from service.domain.write_offs import WriteOffStatus
from service.web.api.framework import STAFF, Api, In, Out, TextIn
from service.web.api.schemas import Id, Instant, Limit, Money, Offset, Ref, Text
from service.web.keys import CLOCK, ENGINE, SETTINGS

api = Api("write-offs")

Note = Annotated[str, Field(max_length=2000, description="why (kept in the audit trail)")]


class WriteOffQuery(TextIn):
    status: WriteOffStatus | None = None
    loan_ref: Ref | None = None
    limit: Annotated[Limit, Field(le=500)] = 100
    offset: Offset = 0


class WriteOffPath(TextIn):
    id: Id


class WriteOffOut(Out):
    id: int
    loan_ref: str
    borrower_ref: str
    status: WriteOffStatus
    principal: Money = Field(description="unpaid principal written off")
    interest: Money = Field(description="overdue interest unpaid")
    penalty: Money = Field(description="penalty interest unpaid")
    amount: Money = Field(description="principal + interest + penalty")
    amounts_as_of: dt.date | None = Field(description="the loan's position the amounts are of")
    days_past_due: int
    risk_class: str
    reason: str
    task_id: int | None = Field(description="the write-off proposal task it answered")
    proposed_by: str
    proposed_at: Instant
    decided_by: str | None = Field(description="who approved or rejected it (never the proposer)")
    decided_at: Instant | None
    decision_note: str
    withdrawn_by: str | None
    withdrawn_at: Instant | None
    written_off_on: dt.date | None = Field(description="the lender's day the loan was written off")
    recovered: Money = Field(description="payments dated after the write-off day")
    recovery_payments: int


class WriteOffPage(Out):
    total: int
    recovered_total: Money = Field(
        description="recovered after write-off, over every write-off the filters select"
    )
    items: list[WriteOffOut]


class NewWriteOff(In):
    loan_ref: Ref
    reason: Text
    task_id: Id | None = Field(None, description="the loan's open write-off proposal task")


class Approval(In):
    note: Note = ""


class Rejection(In):
    note: Text = Field(description="why it is rejected")


class Withdrawal(In):
    note: Note = ""


def _out(found: dict[str, Any]) -> WriteOffOut:
    return WriteOffOut.model_validate(
        {k: v for k, v in found.items() if k in WriteOffOut.model_fields}
    )


@api.get("/api/write-offs", summary="Write-offs, newest first, with recoveries", roles=STAFF)
async def write_offs(request: web.Request, query: WriteOffQuery) -> WriteOffPage:
    async with request.app[ENGINE].connect() as conn:
        found = await list_write_offs(
            conn,
            status=query.status,
            loan_ref=query.loan_ref,
            limit=query.limit,
            offset=query.offset,
        )
    return WriteOffPage(
        total=found["total"],
        recovered_total=found["recovered_total"],
        items=[_out(item) for item in found["items"]],
    )


@api.get("/api/write-offs/{id}", summary="One write-off", roles=STAFF)
async def write_off(request: web.Request, path: WriteOffPath) -> WriteOffOut:
    async with request.app[ENGINE].connect() as conn:
        return _out(await get_write_off(conn, path.id))


@api.post(
    "/api/write-offs",
    summary="Propose writing off an open loan",
    roles=STAFF,
    status=201,
    errors=(404, 409),
)
async def propose(request: web.Request, user: CurrentUser, body: NewWriteOff) -> WriteOffOut:
    """At the amounts of the loan's last position; closes its open write-off proposal task.
    One live (proposed or approved) write-off per loan: a second is a 409."""
    async with request.app[ENGINE].begin() as conn:
        found = await propose_write_off(
            conn, user, loan_ref=body.loan_ref, reason=body.reason, task_id=body.task_id
        )
    return _out(found)


async def _decide(
    request: web.Request, user: CurrentUser, write_off_id: int, *, approve: bool, note: str
) -> WriteOffOut:
    settings = request.app[SETTINGS]
    today = lender_today(settings.lender_timezone, request.app[CLOCK].now())
    async with request.app[ENGINE].begin() as conn:
        found = await decide_write_off(
            conn, settings, user, write_off_id, approve=approve, note=note, today=today
        )
    return _out(found)


@api.post(
    "/api/write-offs/{id}/approve",
    summary="Approve a write-off: the loan is written off today",
    roles=STAFF,
    errors=(409,),
)
async def approve(
    request: web.Request, user: CurrentUser, path: WriteOffPath, body: Approval
) -> WriteOffOut:
    """Maker-checker: the proposer cannot approve (409, rule ``maker_checker``); above the
    largest amount tier only an admin may (403, ``admin_required``). The loan leaves its queue
    and the work list; its open tasks and unsent contacts are cancelled."""
    return await _decide(request, user, path.id, approve=True, note=body.note)


@api.post(
    "/api/write-offs/{id}/reject",
    summary="Reject a write-off (never by its proposer)",
    roles=STAFF,
    errors=(409,),
)
async def reject(
    request: web.Request, user: CurrentUser, path: WriteOffPath, body: Rejection
) -> WriteOffOut:
    return await _decide(request, user, path.id, approve=False, note=body.note)


@api.post(
    "/api/write-offs/{id}/withdraw",
    summary="Withdraw a write-off proposal before it is decided",
    roles=STAFF,
    errors=(409,),
)
async def withdraw(
    request: web.Request, user: CurrentUser, path: WriteOffPath, body: Withdrawal
) -> WriteOffOut:
    async with request.app[ENGINE].begin() as conn:
        found = await withdraw_write_off(conn, user, path.id, body.note)
    return _out(found)
