"""What restricts contact, over the API: holds, opt-outs, the zone a debtor confirmed (the same
facts ``holds.csv``, ``opt_outs.csv`` and ``borrowers.csv`` bring). Every change is audited."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from aiohttp import web
from pydantic import Field

from service.auth import CurrentUser
from service.domain.compliance import HoldKind
from service.domain.contact import Channel, OptOutChannel, OptOutSource
from service.domain.phones import InvalidPhone, normalise
from service.errors import ValidationFailed
from service.portfolio import restrictions
from service.web.api.framework import STAFF, Api, In, Out, TextIn
from service.web.api.portfolio import RefPath
from service.web.api.schemas import Day, Instant, Items, Limit, MomentIn, Name, Offset, Page, Ref
from service.web.keys import CLOCK, ENGINE, SETTINGS

api = Api("restrictions")


class HoldQuery(TextIn):
    borrower_ref: Ref | None = None
    in_force_on: Day | None = Field(None, description="only holds in force that day")
    limit: Annotated[Limit, Field(le=500)] = 100
    offset: Offset = 0


class HoldOut(Out):
    hold_ref: str
    borrower_ref: str
    loan_ref: str | None = Field(description="null: every loan of the borrower")
    kind: HoldKind
    starts_on: dt.date
    ends_on: dt.date | None
    note: str
    source: str = Field(description="import, api, or who recorded it here")
    created_by: str


class NewHold(In):
    hold_ref: Ref | None = Field(None, description="the lender's key; default: one of ours")
    borrower_ref: Ref
    loan_ref: Ref | None = Field(None, description="empty: every loan of the borrower")
    kind: HoldKind
    starts_on: Day
    ends_on: Day | None = None
    note: str = Field("", max_length=2000)


class HoldEnd(In):
    ends_on: Day = Field(description="the hold's last day")
    note: str = Field("", max_length=2000)


# A phone number as a person writes it: E.164, or national in the lender's region.
Phone = Annotated[str, Field(min_length=1, max_length=32)]


class OptOutQuery(TextIn):
    phone: Phone = Field(description="the number, E.164 or as written in the lender's region")


class OptOutOut(Out):
    phone: str
    channel: Channel
    opted_out_at: Instant
    opted_in_at: Instant | None
    source: OptOutSource
    recorded_by: str


class NewOptOut(In):
    phone: Phone
    channel: OptOutChannel
    source: OptOutSource
    opted_out_at: MomentIn | None = Field(None, description="default: now")


class OptIn(In):
    phone: Phone
    channel: OptOutChannel
    opted_in_at: MomentIn | None = Field(None, description="default: now")


class ZoneConfirmation(In):
    timezone: Name = Field(description="the IANA zone the debtor confirmed, e.g. America/Denver")


class ZoneOut(Out):
    borrower_ref: str
    timezone: str
    timezone_source: str


def _phone(request: web.Request, raw: str) -> str:
    """The number in E.164, read as the import reads one (the lender's default region)."""
    try:
        return normalise(raw, request.app[SETTINGS].default_phone_region)
    except InvalidPhone as exc:
        raise ValidationFailed(str(exc), details=[{"field": "phone", "reason": str(exc)}]) from None


@api.get("/api/holds", summary="Holds on the borrowers the caller may see")
async def list_holds(request: web.Request, user: CurrentUser, query: HoldQuery) -> Page[HoldOut]:
    async with request.app[ENGINE].connect() as conn:
        total, items = await restrictions.list_holds(
            conn,
            user,
            borrower_ref=query.borrower_ref,
            in_force_on=query.in_force_on,
            limit=query.limit,
            offset=query.offset,
        )
    return Page[HoldOut](total=total, items=[HoldOut.model_validate(item) for item in items])


@api.post("/api/holds", summary="Record a hold", roles=STAFF, status=201, errors=(404, 409))
async def record_hold(request: web.Request, user: CurrentUser, body: NewHold) -> HoldOut:
    """A dispute, a bankruptcy, a death, breathing space …: on one loan or every loan of the
    borrower, from a date; the profile in force says which block contact."""
    async with request.app[ENGINE].begin() as conn:
        stored = await restrictions.record_hold(
            conn, user, restrictions.NewHold(**body.model_dump())
        )
    return HoldOut.model_validate(stored)


@api.post("/api/holds/{ref}/end", summary="End a hold on a date", roles=STAFF)
async def end_hold(
    request: web.Request, user: CurrentUser, path: RefPath, body: HoldEnd
) -> HoldOut:
    async with request.app[ENGINE].begin() as conn:
        ended = await restrictions.end_hold(conn, user, path.ref, body.ends_on, body.note)
    return HoldOut.model_validate(ended)


@api.get("/api/opt-outs", summary="A number's opt-outs", roles=STAFF)
async def list_opt_outs(request: web.Request, query: OptOutQuery) -> Items[OptOutOut]:
    async with request.app[ENGINE].connect() as conn:
        items = await restrictions.list_opt_outs(conn, _phone(request, query.phone))
    return Items[OptOutOut](items=[OptOutOut.model_validate(item) for item in items])


@api.post("/api/opt-outs", summary="Record an opt-out", roles=STAFF, status=201)
async def record_opt_out(
    request: web.Request, user: CurrentUser, body: NewOptOut
) -> Items[OptOutOut]:
    at = body.opted_out_at or request.app[CLOCK].now()
    async with request.app[ENGINE].begin() as conn:
        items = await restrictions.record_opt_out(
            conn,
            user,
            phone=_phone(request, body.phone),
            channel=body.channel,
            source=body.source,
            at=at,
        )
    return Items[OptOutOut](items=[OptOutOut.model_validate(item) for item in items])


@api.post("/api/opt-outs/opt-in", summary="Lift a number's opt-out (audited)", roles=STAFF)
async def opt_in(request: web.Request, user: CurrentUser, body: OptIn) -> Items[OptOutOut]:
    """The one way an opt-out ends: an explicit act, audited — never a later reply, disposition
    or import row recorded by someone else."""
    at = body.opted_in_at or request.app[CLOCK].now()
    async with request.app[ENGINE].begin() as conn:
        items = await restrictions.opt_in(
            conn, user, phone=_phone(request, body.phone), channel=body.channel, at=at
        )
    return Items[OptOutOut](items=[OptOutOut.model_validate(item) for item in items])


@api.post(
    "/api/borrowers/{ref}/timezone",
    summary="Record the zone the debtor confirmed (it wins over the file and the number)",
)
async def confirm_timezone(
    request: web.Request, user: CurrentUser, path: RefPath, body: ZoneConfirmation
) -> ZoneOut:
    async with request.app[ENGINE].begin() as conn:
        confirmed = await restrictions.confirm_timezone(conn, user, path.ref, body.timezone)
    return ZoneOut.model_validate(confirmed)
