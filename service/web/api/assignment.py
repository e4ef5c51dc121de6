"""Queues and assignment over the API: next account (the collector's hot path), reassignment,
handover (离职移交), queues, champion/challenger experiments."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import Field

from service.assignment import experiments, moves, queues, run, worklist
from service.auth import CurrentUser
from service.clock import lender_today
from service.db.models import Role
from service.domain.queues import QueueKind
from service.errors import NotFound, ValidationFailed
from service.portfolio.reads import visible_loan
from service.web.api.framework import STAFF, Api, In, Out, TextIn
from service.web.api.portfolio import RefPath
from service.web.api.schemas import Day, Instant, Items, Money, Ratio, Ref, ShareIn, Text
from service.web.keys import CLOCK, ENGINE, HOT_POOL, SETTINGS, STRATEGIES

api = Api("assignment")

Priority = Literal["callback_due", "broken_promise", "promise_due_today", "score"]


class NextAccountOut(Out):
    loan_ref: str
    borrower_ref: str
    borrower_name: str
    queue: str
    reason: Priority = Field(description="why this account now (the configured priority order)")
    days_past_due: int
    bucket: str
    outstanding: Money
    lease_expires_at: Instant


class NextAccount(Out):
    account: NextAccountOut | None = Field(description="null when nothing is left to work")


class Released(Out):
    released: int


class AssignmentRun(In):
    all: bool = Field(False, description="every open account, not only those whose segment changed")


class AssignmentReportOut(Out):
    considered: int
    moved: int
    unrouted: int
    arms: dict[str, int]
    seconds: float


class Reassignment(In):
    queue: Text
    collector: Text | None = None
    reason: Text


class ReassignmentOut(Out):
    loan_ref: str
    queue: str
    collector: str | None
    reason: str


class Move(Out):
    moved_at: Instant
    from_queue: str | None
    to_queue: str | None
    from_collector: str | None
    to_collector: str | None
    reason: str
    strategy: str | None
    arm: str | None
    actor: str
    note: str


class Handover(In):
    """To a successor (``to``) or back to a queue's pool (``to_queue``): exactly one."""

    leaver: Text = Field(alias="from")
    to: Text | None = None
    to_queue: Text | None = None


class HandoverOut(Out):
    leaver: str = Field(serialization_alias="from")
    to: str | None
    to_queue: str | None
    accounts: int
    promises: int
    callbacks: int


class QueueOut(Out):
    id: int
    name: str
    kind: QueueKind
    position: int
    collector_strategy: str
    active: bool
    routing: dict[str, Any]
    members: int
    accounts: int


class ExperimentOut(Out):
    key: str
    challenger: str
    share: Decimal
    active: bool
    segment: dict[str, Any]
    challenger_accounts: int
    champion_accounts: int


class NewExperiment(In):
    key: Annotated[str, Field(pattern=r"^[^:\s](?:[^:]{0,38}[^:\s])?$")] = Field(
        description="1 to 40 characters, no ':'"
    )
    segment: dict[str, Any] = Field(default_factory=dict, description="a routing definition")
    challenger: Text = Field(description="a routing or collector strategy's name")
    share: ShareIn = Field(description='the challenger\'s fraction of the segment, e.g. "0.2"')


class ExperimentKey(Out):
    key: str


class ExperimentPath(TextIn):
    key: Ref


class ResultsQuery(TextIn):
    start: Day = Field(alias="from")
    end: Day = Field(alias="to")


class Arm(Out):
    arm: Literal["champion", "challenger"]
    accounts: int
    overdue_accounts: int
    overdue_amount: Money
    collected: Money
    recovery_rate: Ratio | None
    cure_rate: Ratio | None
    roll_rate: Ratio | None


class ExperimentResults(Out):
    key: str
    start: dt.date = Field(serialization_alias="from")
    end: dt.date = Field(serialization_alias="to")
    arms: list[Arm]


@api.post(
    "/api/work/next",
    summary="Next account for the calling collector, leased to them",
    roles=(Role.collector,),
)
async def next_account(request: web.Request, user: CurrentUser) -> NextAccount:
    """Releases what the caller held, then leases the most urgent free account of their queues:
    callback due, broken promise, promise due today, then DPD × balance (order configurable)."""
    account = await worklist.next_account_now(
        request.app[ENGINE],
        user,
        request.app[SETTINGS],
        request.app[CLOCK].now(),
        request.app.get(HOT_POOL),
    )
    if account is None:
        return NextAccount(account=None)
    return NextAccount(account=NextAccountOut.model_validate(account.as_dict()))


@api.post("/api/work/release", summary="Let go of every account the caller holds")
async def release_lease(request: web.Request, user: CurrentUser) -> Released:
    async with request.app[ENGINE].begin() as conn:
        released = await worklist.release(conn, user.id)
    return Released(released=released)


@api.post(
    "/api/assignments",
    summary="Assign accounts to queues and collectors now",
    roles=STAFF,
    status=201,
)
async def run_assignment(
    request: web.Request, user: CurrentUser, body: AssignmentRun
) -> AssignmentReportOut:
    settings = request.app[SETTINGS]
    async with request.app[ENGINE].begin() as conn:
        report = await run.assign(
            conn,
            request.app[STRATEGIES],
            settings,
            lender_today(settings.lender_timezone, request.app[CLOCK].now()),
            everything=body.all,
            actor=user.username,
        )
    return AssignmentReportOut(
        considered=report.considered,
        moved=report.moved,
        unrouted=report.unrouted,
        arms=report.arms,
        seconds=round(report.seconds, 3),
    )


@api.post(
    "/api/loans/{ref}/assignment",
    summary="Move one account by hand, with a reason",
    roles=STAFF,
    status=201,
)
async def reassign_loan(
    request: web.Request, user: CurrentUser, path: RefPath, body: Reassignment
) -> ReassignmentOut:
    settings = request.app[SETTINGS]
    async with request.app[ENGINE].begin() as conn:
        result = await moves.reassign(
            conn,
            settings,
            user,
            path.ref,
            queue_name=body.queue,
            collector=body.collector,
            reason=body.reason,
            today=lender_today(settings.lender_timezone, request.app[CLOCK].now()),
        )
    return ReassignmentOut.model_validate(result)


@api.get("/api/loans/{ref}/assignments", summary="An account's assignment history, newest first")
async def loan_assignments(request: web.Request, user: CurrentUser, path: RefPath) -> Items[Move]:
    async with request.app[ENGINE].connect() as conn:
        loan = await visible_loan(conn, user, path.ref)
        items = await moves.history(conn, loan.id)
    return Items[Move](items=[Move.model_validate(item) for item in items])


@api.post(
    "/api/handovers",
    summary="离职移交: move a leaving collector's work, deactivate them",
    roles=STAFF,
    status=201,
    errors=(404,),
)
async def create_handover(request: web.Request, user: CurrentUser, body: Handover) -> HandoverOut:
    """Every open account, pending promise and scheduled callback of the leaver goes to the
    successor (who joins their queues) or to a queue's pool; the leaver is deactivated."""
    settings = request.app[SETTINGS]
    async with request.app[ENGINE].begin() as conn:
        result = await moves.handover(
            conn,
            settings,
            user.username,
            from_user=body.leaver,
            to_user=body.to,
            to_queue=body.to_queue,
            today=lender_today(settings.lender_timezone, request.app[CLOCK].now()),
            actor_id=user.id,
        )
    return HandoverOut.model_validate({**result, "leaver": result["from"]})


QueueName = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\s/](?:.*[^\s/])?$")]


class HandoverQuery(TextIn):
    leaver: Ref = Field(alias="from")
    to: Ref | None = None
    to_queue: QueueName | None = None


class QueueAccounts(Out):
    queue: str | None
    accounts: int


class HandoverPreviewOut(Out):
    leaver: str = Field(serialization_alias="from")
    to: str | None
    to_queue: str | None
    accounts: int
    by_queue: list[QueueAccounts]
    promises: int
    callbacks: int
    joins: list[str] = Field(description="the leaver's queues the successor would join")


@api.get(
    "/api/handovers/preview",
    summary="What a handover would move, changing nothing",
    roles=STAFF,
    errors=(404,),
)
async def preview_handover(request: web.Request, query: HandoverQuery) -> HandoverPreviewOut:
    async with request.app[ENGINE].connect() as conn:
        found = await moves.handover_preview(
            conn, from_user=query.leaver, to_user=query.to, to_queue=query.to_queue
        )
    return HandoverPreviewOut.model_validate({**found, "leaver": found["from"]})


@api.get("/api/queues", summary="Queues with their routing, members and open accounts", roles=STAFF)
async def list_queues(request: web.Request) -> Items[QueueOut]:
    async with request.app[ENGINE].connect() as conn:
        items = await queues.queue_overview(conn)
    return Items[QueueOut](items=[QueueOut.model_validate(item) for item in items])


@api.get("/api/experiments", summary="Champion/challenger experiments", roles=STAFF)
async def list_experiments(request: web.Request) -> Items[ExperimentOut]:
    async with request.app[ENGINE].connect() as conn:
        items = await experiments.experiment_overview(conn)
    return Items[ExperimentOut](items=[ExperimentOut.model_validate(item) for item in items])


@api.post("/api/experiments", summary="Start an experiment", roles=STAFF, status=201)
async def create_experiment(
    request: web.Request, user: CurrentUser, body: NewExperiment
) -> ExperimentKey:
    async with request.app[ENGINE].begin() as conn:
        await experiments.create_experiment(
            conn,
            request.app[STRATEGIES],
            key=body.key,
            segment=body.segment,
            challenger=body.challenger,
            share=body.share,
            actor=user.username,
        )
    return ExperimentKey(key=body.key)


@api.get("/api/experiments/{key}/results", summary="An experiment's results per arm", roles=STAFF)
async def experiment_results(
    request: web.Request, path: ExperimentPath, query: ResultsQuery
) -> ExperimentResults:
    """From the snapshots of ``from`` and ``to``: accounts, overdue at start, collected in
    between, recovery, cure (overdue → M0) and roll (to a later bucket) rates per arm."""
    if query.end < query.start:
        raise ValidationFailed("to is before from", details=[{"field": "to"}])
    labels = request.app[SETTINGS].cob_config().buckets.labels
    async with request.app[ENGINE].connect() as conn:
        items = await experiments.experiment_results(conn, path.key, query.start, query.end, labels)
    if not items:
        raise NotFound("no snapshot of this experiment's accounts on the from date")
    return ExperimentResults(
        key=path.key,
        start=query.start,
        end=query.end,
        arms=[Arm.model_validate(item) for item in items],
    )


Routing = dict[str, Any]


class NewQueue(In):
    name: QueueName
    kind: QueueKind = QueueKind.collector
    routing: Routing = Field(default_factory=dict, description="a routing definition")
    position: Annotated[int, Field(ge=0, le=100_000)] = 100
    collector_strategy: Text = "sticky"
    description: Annotated[str, Field(max_length=2000)] = ""


class QueueChange(In):
    routing: Routing | None = Field(None, description="a routing definition")
    position: Annotated[int, Field(ge=0, le=100_000)] | None = None
    collector_strategy: Text | None = None
    description: Annotated[str, Field(max_length=2000)] | None = None
    active: bool | None = None


class QueuePath(TextIn):
    name: QueueName


class MemberPath(TextIn):
    name: QueueName
    username: Ref


class NewMember(In):
    username: Text


class QueueMemberOut(Out):
    username: str
    display_name: str
    active: bool
    accounts: int = Field(description="open accounts of the queue the member holds")


def queue_out(overview: list[dict[str, Any]], name: str) -> QueueOut:
    (found,) = [item for item in overview if item["name"] == name]
    return QueueOut.model_validate(found)


@api.post("/api/queues", summary="Create a queue", roles=STAFF, status=201)
async def create_queue(request: web.Request, user: CurrentUser, body: NewQueue) -> QueueOut:
    async with request.app[ENGINE].begin() as conn:
        await queues.create_queue(
            conn, request.app[STRATEGIES], actor=user.username, **body.model_dump()
        )
        return queue_out(await queues.queue_overview(conn), body.name)


@api.post("/api/queues/{name}", summary="Change a queue (audited)", roles=STAFF, errors=(404,))
async def update_queue(
    request: web.Request, user: CurrentUser, path: QueuePath, body: QueueChange
) -> QueueOut:
    async with request.app[ENGINE].begin() as conn:
        await queues.update_queue(
            conn,
            request.app[STRATEGIES],
            path.name,
            user.username,
            body.model_dump(exclude_unset=True),
        )
        return queue_out(await queues.queue_overview(conn), path.name)


@api.get("/api/queues/{name}/members", summary="A queue's collectors", roles=STAFF)
async def list_members(request: web.Request, path: QueuePath) -> Items[QueueMemberOut]:
    async with request.app[ENGINE].connect() as conn:
        members = await queues.queue_members(conn, path.name)
    return Items[QueueMemberOut](items=[QueueMemberOut.model_validate(m) for m in members])


@api.post(
    "/api/queues/{name}/members",
    summary="Add a collector to a queue",
    roles=STAFF,
    status=201,
    errors=(404,),
)
async def add_member(
    request: web.Request, user: CurrentUser, path: QueuePath, body: NewMember
) -> Items[QueueMemberOut]:
    async with request.app[ENGINE].begin() as conn:
        await queues.add_member(conn, path.name, body.username, actor=user.username)
        members = await queues.queue_members(conn, path.name)
    return Items[QueueMemberOut](items=[QueueMemberOut.model_validate(m) for m in members])


@api.delete(
    "/api/queues/{name}/members/{username}",
    summary="Take a collector off a queue (refused while they hold its accounts)",
    roles=STAFF,
    status=204,
    responses={204: None},
    errors=(404, 409),
)
async def remove_member(
    request: web.Request, user: CurrentUser, path: MemberPath
) -> web.StreamResponse:
    async with request.app[ENGINE].begin() as conn:
        await queues.remove_member(conn, path.name, path.username, user.username)
    return web.Response(status=204)
