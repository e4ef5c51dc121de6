"""The outbox over the API: what was planned for the accounts the caller may see, what left
(the console channel's record of exactly what would have been sent), what came back, and a
letter ready to print."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated, Literal

from aiohttp import web
from pydantic import Field

from service.auth import CurrentUser
from service.contact.outbox_reads import list_outbox, show_outbox
from service.db.models import OutboxStatus
from service.errors import NotFound
from service.portfolio.visibility import loan_visible
from service.treatment.messages import letter_pdf
from service.web.api.framework import Api, Out, TextIn
from service.web.api.schemas import Id, Instant, Limit, Offset, Page, Ref
from service.web.keys import ENGINE

api = Api("outbox")


class OutboxQuery(TextIn):
    status: OutboxStatus | None = None
    loan_ref: Ref | None = None
    channel: Literal["sms", "call", "letter"] | None = None
    limit: Annotated[Limit, Field(le=500)] = 100
    offset: Offset = 0


class OutboxOut(Out):
    id: int
    loan_ref: str
    step: str
    channel: str
    phone: str | None
    template: str
    locale: str
    planned_for: dt.date
    not_before: Instant
    status: OutboxStatus
    reasons: list[str] = Field(description="the guard's reason codes, or why it was withdrawn")
    tries: int
    provider_ref: str | None = Field(description="the provider's id (a Twilio SID)")
    error_code: str | None = Field(description="the provider's error code, e.g. 21610")
    sent_at: Instant | None
    delivery: str | None = Field(description="the provider's last reported status")
    result: str | None = Field(description="the contact log's result of the attempt")


class OutboxDetail(OutboxOut):
    body: str | None = Field(description="exactly what was sent (an SMS's text, a letter)")
    sender: str | None
    last_error: str | None
    next_allowed_at: Instant | None
    claimed_at: Instant | None
    idempotency_key: str


class OutboxPath(TextIn):
    id: Id


class LetterQuery(TextIn):
    format: Literal["html", "pdf"] = "html"


@api.get("/api/outbox", summary="Outbox rows of the accounts the caller may see, newest first")
async def outbox(request: web.Request, user: CurrentUser, query: OutboxQuery) -> Page[OutboxOut]:
    async with request.app[ENGINE].connect() as conn:
        page = await list_outbox(
            conn,
            loan_visible(user),
            status=query.status,
            loan_ref=query.loan_ref,
            channel=query.channel,
            limit=query.limit,
            offset=query.offset,
        )
    return Page[OutboxOut](
        total=page["total"], items=[OutboxOut.model_validate(item) for item in page["items"]]
    )


@api.get("/api/outbox/{id}", summary="One outbox row: what left, to whom, what came back")
async def outbox_row(request: web.Request, user: CurrentUser, path: OutboxPath) -> OutboxDetail:
    async with request.app[ENGINE].connect() as conn:
        row = await show_outbox(conn, loan_visible(user), path.id)
    return OutboxDetail.model_validate(row)


@api.get(
    "/api/outbox/{id}/letter",
    summary="A letter ready to print",
    produces={"text/html": "the letter", "application/pdf": "the letter as PDF (A4)"},
)
async def outbox_letter(
    request: web.Request, user: CurrentUser, path: OutboxPath, query: LetterQuery
) -> web.StreamResponse:
    """The words rendered when the letter was released for print (not the loan's position
    today): what the debtor receives."""
    async with request.app[ENGINE].connect() as conn:
        row = await show_outbox(conn, loan_visible(user), path.id)
    if row["channel"] != "letter" or not row["body"]:
        raise NotFound(f"outbox row {path.id} is not a letter ready to print")
    if query.format == "pdf":
        pdf = await asyncio.to_thread(letter_pdf, row["body"])
        return web.Response(body=pdf, content_type="application/pdf")
    return web.Response(text=row["body"], content_type="text/html")
