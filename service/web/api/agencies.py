"""Agency placement (委外) over the API: agencies, placing and recalling accounts, the file an
agency receives, and each agency's results. Changes are staff's (audited); an account's
placement history is for whoever may see the account."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from aiohttp import web
from pydantic import Field
from sqlalchemy import true

from service.auth import CurrentUser
from service.casework import agencies, placements
from service.clock import lender_today
from service.domain.agencies import RecallReason
from service.errors import ValidationFailed
from service.portfolio.exports import Column, CsvTable
from service.portfolio.reads import visible_loan
from service.portfolio.visibility import loan_visible
from service.web.api.framework import STAFF, Api, In, Out, TextIn
from service.web.api.portfolio import RefPath
from service.web.api.schemas import Day, Id, Items, Limit, Money, Offset, Rate, Ref, ShareIn
from service.web.keys import CLOCK, ENGINE, SETTINGS

api = Api("agencies")

Note = Annotated[str, Field(max_length=2000)]
AgencyName = Annotated[str, Field(min_length=1, max_length=200)]


class AgencyOut(Out):
    agency_ref: str
    name: str
    commission_rate: Rate = Field(description="a fraction of what the agency collects")
    active: bool
    contact_notes: str


class NewAgency(In):
    agency_ref: Ref
    name: AgencyName
    commission_rate: ShareIn = Field(description='a fraction, e.g. "0.15" for 15 %')
    contact_notes: Note = ""
    active: bool = True


class AgencyChange(In):
    name: AgencyName | None = None
    commission_rate: ShareIn | None = None
    active: bool | None = None
    contact_notes: Note | None = None


class AgencyQuery(TextIn):
    all: bool = Field(False, description="inactive agencies too")


class AgencyPath(TextIn):
    ref: Ref


class NewPlacement(In):
    loan_ref: Ref
    agency_ref: Ref
    recall_on: Day | None = Field(None, description="default: ARREARS_AGENCY_RECALL_DAYS on")
    note: Note = ""


class TaskPlacement(In):
    agency_ref: Ref
    recall_on: Day | None = Field(None, description="default: ARREARS_AGENCY_RECALL_DAYS on")
    note: Note = ""


class PlacementOut(Out):
    id: int
    loan_ref: str
    agency_ref: str
    placed_on: dt.date
    placed_by: str
    balance_at_placement: Money
    overdue_at_placement: Money
    dpd_at_placement: int
    recall_on: dt.date = Field(description="the planned recall date")
    recalled_on: dt.date | None
    recall_reason: RecallReason | None
    recalled_by: str | None
    task_id: int | None
    note: str


class PlacementQuery(TextIn):
    agency_ref: Ref | None = None
    all: bool = Field(False, description="recalled placements too")
    limit: Annotated[Limit, Field(le=500)] = 200
    offset: Offset = 0


class PlacementPath(TextIn):
    id: Id


class Recall(In):
    note: Note = ""


class Recalled(Out):
    id: int
    loan_ref: str
    agency_ref: str
    recalled_on: dt.date
    reason: RecallReason


class ResultsQuery(TextIn):
    placed_from: Day | None = Field(None, alias="from", description="placements from this day")
    placed_to: Day | None = Field(None, alias="to", description="placements to this day")


class RecalledCounts(Out):
    manual: int
    recall_date: int
    cured: int
    loan_closed: int


class AgencyResults(Out):
    """Placed (count, balance at placement), still placed, recalled by reason, collected
    during placement (payments from the placement day to the recall day, or today) and the
    commission it earns (collected × rate)."""

    agency_ref: str
    name: str
    commission_rate: Rate
    placed: int
    placed_balance: Money
    active: int
    recalled: RecalledCounts
    collected: Money
    commission: Money


def _today(request: web.Request) -> dt.date:
    return lender_today(request.app[SETTINGS].lender_timezone, request.app[CLOCK].now())


@api.get("/api/agencies", summary="Collection agencies", roles=STAFF)
async def list_agencies(request: web.Request, query: AgencyQuery) -> Items[AgencyOut]:
    async with request.app[ENGINE].connect() as conn:
        found = await agencies.list_agencies(conn, active_only=not query.all)
    return Items[AgencyOut](items=[AgencyOut.model_validate(a) for a in found])


@api.post("/api/agencies", summary="Add an agency", roles=STAFF, status=201, errors=(409,))
async def create_agency(request: web.Request, user: CurrentUser, body: NewAgency) -> AgencyOut:
    async with request.app[ENGINE].begin() as conn:
        created = await agencies.create_agency(conn, actor=user.username, **body.model_dump())
    return AgencyOut.model_validate(created)


@api.post("/api/agencies/{ref}", summary="Change an agency (audited)", roles=STAFF)
async def update_agency(
    request: web.Request, user: CurrentUser, path: AgencyPath, body: AgencyChange
) -> AgencyOut:
    """Only the fields sent change; deactivating an agency stops new placements with it."""
    changes = body.model_dump(exclude_none=True)
    if not changes:
        raise ValidationFailed("send at least one field to change", details=[{"field": ""}])
    async with request.app[ENGINE].begin() as conn:
        changed = await agencies.update_agency(conn, path.ref, changes, user.username)
    return AgencyOut.model_validate(changed)


@api.get(
    "/api/agencies/{ref}/placement-file",
    summary="The file of an agency's placed accounts",
    roles=STAFF,
    produces={
        "text/csv": "one row per account placed with the agency: the debtor's name, numbers "
        "and address, balances, DPD, placement and recall dates; no third parties"
    },
)
async def placement_file(request: web.Request, user: CurrentUser, path: AgencyPath) -> web.Response:
    """What the agency may know of each account it holds (docs/agencies.md); each file handed
    out is in the audit log."""
    async with request.app[ENGINE].begin() as conn:
        rows = await agencies.placement_file(conn, path.ref, user.username, _today(request))
    table = CsvTable([Column(name, kind) for name, kind in agencies.PLACEMENT_COLUMNS])
    return web.Response(
        text=table.header() + table.rows(rows),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="placements-{path.ref}.csv"'},
    )


@api.get("/api/agencies/{ref}/results", summary="What an agency brought in", roles=STAFF)
async def agency_results(
    request: web.Request, path: AgencyPath, query: ResultsQuery
) -> AgencyResults:
    async with request.app[ENGINE].connect() as conn:
        (found,) = await agencies.agency_results(
            conn,
            _today(request),
            agency_ref=path.ref,
            placed_from=query.placed_from,
            placed_to=query.placed_to,
        )
    return AgencyResults.model_validate(found)


@api.get("/api/placements", summary="Placements, newest first", roles=STAFF)
async def list_placements(request: web.Request, query: PlacementQuery) -> Items[PlacementOut]:
    async with request.app[ENGINE].connect() as conn:
        found = await placements.list_placements(
            conn,
            true(),
            agency_ref=query.agency_ref,
            active_only=not query.all,
            limit=query.limit,
            offset=query.offset,
        )
    return Items[PlacementOut](items=[PlacementOut.model_validate(p) for p in found])


@api.post(
    "/api/placements",
    summary="Place an account with an agency",
    roles=STAFF,
    status=201,
    errors=(404, 409),
)
async def create_placement(
    request: web.Request, user: CurrentUser, body: NewPlacement
) -> PlacementOut:
    """Closes the account's open agency_placement task, if any; 409 when it is already placed
    (one active placement per loan), closed, or the agency is inactive."""
    return await _place(request, user, body.loan_ref, body.agency_ref, body.recall_on, body.note)


@api.post(
    "/api/tasks/{id}/place",
    summary="Place a task's account with an agency",
    roles=STAFF,
    status=201,
    errors=(409,),
)
async def place_from_task(
    request: web.Request, user: CurrentUser, path: PlacementPath, body: TaskPlacement
) -> PlacementOut:
    """The open agency_placement task is closed as placed, naming the agency."""
    async with request.app[ENGINE].connect() as conn:
        loan_ref = await placements.task_loan(conn, path.id, loan_visible(user))
    return await _place(
        request, user, loan_ref, body.agency_ref, body.recall_on, body.note, task_id=path.id
    )


async def _place(
    request: web.Request,
    user: CurrentUser,
    loan_ref: str,
    agency_ref: str,
    recall_on: dt.date | None,
    note: str,
    task_id: int | None = None,
) -> PlacementOut:
    async with request.app[ENGINE].begin() as conn:
        placed = await placements.place(
            conn,
            loan_ref=loan_ref,
            agency_ref=agency_ref,
            actor=user.username,
            today=_today(request),
            recall_days=request.app[SETTINGS].agency_recall_days,
            recall_on=recall_on,
            task_id=task_id,
            note=note,
        )
        (stored,) = await placements.list_placements(conn, true(), placement_id=placed["id"])
    return PlacementOut.model_validate(stored)


@api.post(
    "/api/placements/{id}/recall",
    summary="Recall a placed account from its agency",
    roles=STAFF,
    errors=(409,),
)
async def recall_placement(
    request: web.Request, user: CurrentUser, path: PlacementPath, body: Recall
) -> Recalled:
    """A manual recall (close of business recalls on the recall date, on cure and on closing
    by itself); the account is back on the in-house work list at once."""
    async with request.app[ENGINE].begin() as conn:
        recalled = await placements.recall(
            conn,
            actor=user.username,
            today=_today(request),
            note=body.note,
            settings=request.app[SETTINGS],
            placement_id=path.id,
        )
    return Recalled.model_validate(recalled)


@api.get("/api/loans/{ref}/placements", summary="An account's agency placements, newest first")
async def loan_placements(
    request: web.Request, user: CurrentUser, path: RefPath
) -> Items[PlacementOut]:
    async with request.app[ENGINE].connect() as conn:
        await visible_loan(conn, user, path.ref)
        found = await placements.list_placements(conn, loan_visible(user), loan_ref=path.ref)
    return Items[PlacementOut](items=[PlacementOut.model_validate(p) for p in found])
