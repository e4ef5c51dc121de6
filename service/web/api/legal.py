"""The legal review's outcome over the API: a suit puts a legal-action hold on the loan, a
referral opens a write-off proposal task (service.casework.legal)."""

from __future__ import annotations

from aiohttp import web
from pydantic import Field

from service.auth import CurrentUser
from service.casework.legal import close_legal_review
from service.clock import lender_today
from service.domain.casework import LegalOutcome, TaskStatus
from service.portfolio.visibility import loan_visible
from service.web.api.framework import Api, In, Out, TextIn
from service.web.api.schemas import Id
from service.web.keys import CLOCK, ENGINE, SETTINGS

api = Api("legal")


class ReviewPath(TextIn):
    id: Id


class LegalReview(In):
    outcome: LegalOutcome = Field(
        description="file_suit (a legal_action hold stops automated dunning), negotiate, "
        "not_viable, refer_write_off (opens a write-off proposal task)"
    )
    note: str = Field("", max_length=2000, description="what was decided and why")


class LegalReviewOut(Out):
    id: int
    kind: str
    loan_ref: str
    status: TaskStatus
    outcome: LegalOutcome
    hold_ref: str | None = Field(description="the legal_action hold a suit put on the loan")
    write_off_task_id: int | None = Field(
        description="the write-off proposal task a referral opened"
    )


@api.post(
    "/api/tasks/{id}/legal-review",
    summary="Record a legal review's outcome and close the task",
    errors=(409,),
)
async def legal_review(
    request: web.Request, user: CurrentUser, path: ReviewPath, body: LegalReview
) -> LegalReviewOut:
    """On a legal_review task of an account the caller may see (a collector: their queues')."""
    settings = request.app[SETTINGS]
    today = lender_today(settings.lender_timezone, request.app[CLOCK].now())
    async with request.app[ENGINE].begin() as conn:
        closed = await close_legal_review(
            conn, user, path.id, body.outcome, body.note, loan_visible(user), today
        )
    return LegalReviewOut.model_validate(closed)
