"""Outbound contact over the API: the compliance guard's verdict on one contact, and a loan's
letters (due notice, overdue notice) as HTML or PDF."""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import Field

from service.auth import CurrentUser
from service.contact.checks import check_contact
from service.domain.compliance import ProfileName, Verdict
from service.domain.contact import Channel, LetterKind
from service.portfolio.reads import visible_loan
from service.treatment.messages import letter_for
from service.web.api.framework import Api, In, Out, TextIn
from service.web.api.schemas import Instant, MomentIn, Ref
from service.web.keys import ENGINE, SETTINGS

api = Api("contact")


class ContactCheck(In):
    loan_ref: Ref
    party: Ref = Field(description='"debtor" or a contact_ref of the borrower')
    channel: Channel
    at: MomentIn = Field(description="the moment, with its offset")
    profile: ProfileName | None = Field(None, description="default: the lender's profile")


class DecisionOut(Out):
    verdict: Verdict
    reasons: list[str]
    next_allowed_at: Instant | None = Field(description="for a defer: the first allowed moment")


class LetterPath(TextIn):
    ref: Ref
    kind: LetterKind


class LetterQuery(TextIn):
    format: Literal["html", "pdf"] = "html"


@api.post(
    "/api/compliance/check",
    summary="The compliance guard's verdict on one contact",
    errors=(404,),
)
async def check(request: web.Request, user: CurrentUser, body: ContactCheck) -> DecisionOut:
    """``arrears check-contact`` over HTTP; a collector may ask only about their accounts."""
    async with request.app[ENGINE].connect() as conn:
        await visible_loan(conn, user, body.loan_ref)
        decision = await check_contact(
            conn,
            request.app[SETTINGS],
            loan_ref=body.loan_ref,
            party_ref=body.party,
            channel=body.channel,
            at=body.at,
            profile=body.profile,
        )
    return DecisionOut.model_validate(decision.as_dict())


@api.get(
    "/api/loans/{ref}/letters/{kind}",
    summary="A loan's due or overdue notice",
    produces={"text/html": "the letter", "application/pdf": "the letter as PDF (A4)"},
)
async def letter(
    request: web.Request, user: CurrentUser, path: LetterPath, query: LetterQuery
) -> web.StreamResponse:
    async with request.app[ENGINE].connect() as conn:
        await visible_loan(conn, user, path.ref)
        html, pdf = await letter_for(
            conn, request.app[SETTINGS], path.ref, path.kind, None, query.format
        )
    if pdf is not None:
        return web.Response(body=pdf, content_type="application/pdf")
    return web.Response(text=html, content_type="text/html")
