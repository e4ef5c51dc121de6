"""JSON API for queues and assignment: next account, reassignment, handover, experiments.

Every route here is described in :mod:`service.web.openapi`.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from aiohttp import web

from service.assignment import experiments, moves, queues, run, worklist
from service.clock import lender_today, utcnow
from service.db.models import Role
from service.errors import NotFound, ValidationFailed
from service.portfolio.reads import visible_loan
from service.web.api import STAFF, _date_param, require
from service.web.jsonio import json_response, read_json_object, text_field
from service.web.keys import ENGINE, HOT_POOL, SETTINGS, STRATEGIES


async def next_account(request: web.Request) -> web.Response:
    """Lease the caller the most urgent free account of their queues."""
    user = require(request, Role.collector)
    account = await worklist.next_account_now(
        request.app[ENGINE], user, request.app[SETTINGS], utcnow(), request.app.get(HOT_POOL)
    )
    return json_response({"account": account.as_dict() if account else None})


async def release_lease(request: web.Request) -> web.Response:
    user = require(request)
    async with request.app[ENGINE].begin() as conn:
        released = await worklist.release(conn, user.id)
    return json_response({"released": released})


async def run_assignment(request: web.Request) -> web.Response:
    user = require(request, *STAFF)
    body = await read_json_object(request)
    everything = body.get("all", False)
    if not isinstance(everything, bool):
        raise ValidationFailed("all must be true or false", details=[{"field": "all"}])
    settings = request.app[SETTINGS]
    async with request.app[ENGINE].begin() as conn:
        report = await run.assign(
            conn,
            request.app[STRATEGIES],
            settings,
            lender_today(settings.lender_timezone),
            everything=everything,
            actor=user.username,
        )
    return json_response(
        {
            "considered": report.considered,
            "moved": report.moved,
            "unrouted": report.unrouted,
            "arms": report.arms,
            "seconds": round(report.seconds, 3),
        },
        status=201,
    )


async def reassign_loan(request: web.Request) -> web.Response:
    """A supervisor moves one account by hand, with a reason."""
    user = require(request, *STAFF)
    body = await read_json_object(request)
    settings = request.app[SETTINGS]
    async with request.app[ENGINE].begin() as conn:
        result = await moves.reassign(
            conn,
            settings,
            user,
            request.match_info["ref"],
            queue_name=text_field(body, "queue") or "",
            collector=text_field(body, "collector", required=False),
            reason=text_field(body, "reason") or "",
            today=lender_today(settings.lender_timezone),
        )
    return json_response(result, status=201)


async def loan_assignments(request: web.Request) -> web.Response:
    """The account's assignment history, newest first."""
    user = require(request)
    async with request.app[ENGINE].connect() as conn:
        loan = await visible_loan(conn, user, request.match_info["ref"])
        items = await moves.history(conn, loan.id)
    return json_response({"items": items})


async def create_handover(request: web.Request) -> web.Response:
    user = require(request, *STAFF)
    body = await read_json_object(request)
    settings = request.app[SETTINGS]
    async with request.app[ENGINE].begin() as conn:
        result = await moves.handover(
            conn,
            settings,
            user.username,
            from_user=text_field(body, "from") or "",
            to_user=text_field(body, "to", required=False),
            to_queue=text_field(body, "to_queue", required=False),
            today=lender_today(settings.lender_timezone),
            actor_id=user.id,
        )
    return json_response(result, status=201)


async def list_queues(request: web.Request) -> web.Response:
    require(request, *STAFF)
    async with request.app[ENGINE].connect() as conn:
        items = await queues.queue_overview(conn)
    return json_response({"items": items})


async def list_experiments(request: web.Request) -> web.Response:
    require(request, *STAFF)
    async with request.app[ENGINE].connect() as conn:
        items = await experiments.experiment_overview(conn)
    return json_response({"items": items})


async def create_experiment(request: web.Request) -> web.Response:
    user = require(request, *STAFF)
    body = await read_json_object(request)
    segment = body.get("segment", {})
    if not isinstance(segment, dict):
        raise ValidationFailed("segment must be an object", details=[{"field": "segment"}])
    try:
        share = Decimal(str(body.get("share")))
    except InvalidOperation:
        raise ValidationFailed("share must be a fraction", details=[{"field": "share"}]) from None
    async with request.app[ENGINE].begin() as conn:
        await experiments.create_experiment(
            conn,
            request.app[STRATEGIES],
            key=text_field(body, "key") or "",
            segment=segment,
            challenger=text_field(body, "challenger") or "",
            share=share,
            actor=user.username,
        )
    return json_response({"key": body["key"]}, status=201)


async def experiment_results(request: web.Request) -> web.Response:
    require(request, *STAFF)
    start, end = _date_param(request, "from"), _date_param(request, "to")
    if start is None or end is None:
        raise ValidationFailed("from and to are required dates", details=[{"field": "from"}])
    if end < start:
        raise ValidationFailed("to is before from", details=[{"field": "to"}])
    labels = request.app[SETTINGS].cob_config().buckets.labels
    async with request.app[ENGINE].connect() as conn:
        items = await experiments.experiment_results(
            conn, request.match_info["key"], start, end, labels
        )
    if not items:
        raise NotFound("no snapshot of this experiment's accounts on the from date")
    return json_response(
        {"key": request.match_info["key"], "from": start, "to": end, "arms": items}
    )


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/work/next", next_account)
    r.add_post("/api/work/release", release_lease)
    r.add_post("/api/assignments", run_assignment)
    r.add_post("/api/loans/{ref}/assignment", reassign_loan)
    r.add_get("/api/loans/{ref}/assignments", loan_assignments)
    r.add_post("/api/handovers", create_handover)
    r.add_get("/api/queues", list_queues)
    r.add_get("/api/experiments", list_experiments)
    r.add_post("/api/experiments", create_experiment)
    r.add_get("/api/experiments/{key}/results", experiment_results)
