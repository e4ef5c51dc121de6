"""Close of business over the API (a job), and the accounts export of a close (DESIGN.md §5)."""

from __future__ import annotations

from typing import Literal

from aiohttp import web

from service.auth import CurrentUser
from service.db.models import JobKind
from service.portfolio.exports import account_rows
from service.web.api.framework import STAFF, Api, In, TextIn
from service.web.api.jobs import JobOut
from service.web.api.schemas import Day
from service.web.keys import ENGINE, JOBS
from workers.jobs import get_job, submit

api = Api("close of business")


class CobRequest(In):
    as_of: Day | None = None


class ExportQuery(TextIn):
    as_of: Day
    format: Literal["csv"] = "csv"


@api.post("/api/cob", summary="Run close of business for a date, as a job", roles=STAFF, status=202)
async def run_close_of_business(
    request: web.Request, user: CurrentUser, body: CobRequest
) -> JobOut:
    """Positions, lost contact, assignment, snapshots and the day's plan for ``as_of`` (default:
    the lender's today when the job runs). Answers at once with the job; its result is the
    close's report (loans, buckets, the plan's counts)."""
    params = {"as_of": body.as_of.isoformat() if body.as_of else None, "actor": user.username}
    job_id = await submit(
        request.app[ENGINE], request.app[JOBS], JobKind.close_of_business, params, user.username
    )
    return JobOut.of(await get_job(request.app[ENGINE], job_id))


@api.get(
    "/api/exports/accounts",
    summary="The accounts file of a close of business",
    roles=STAFF,
    produces={
        "text/csv": "one row per loan known on that date, closed ones with their status "
        "(DESIGN.md §5)"
    },
    errors=(404,),
)
async def export_accounts(request: web.Request, query: ExportQuery) -> web.StreamResponse:
    """The file of ``arrears export accounts`` (the same function): every loan disbursed by
    ``as_of``, with its status; 404 when no close of business ran for that date."""
    rows = account_rows(request.app[ENGINE], query.as_of)
    first = await anext(rows)  # raises NotFound before any byte is sent
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": (
                f'attachment; filename="accounts-{query.as_of.isoformat()}.csv"'
            ),
        }
    )
    await response.prepare(request)
    await response.write(first.encode())
    async for chunk in rows:
        await response.write(chunk.encode())
    await response.write_eof()
    return response
