"""Outbound contact over the API: the compliance guard's verdict on one contact, each number of
an account with its live state, a collector's text from a template (previewed, then sent through
the outbox), click-to-call (the collector's phone bridged to the debtor's), and a loan's letters
(due notice, overdue notice) as HTML or PDF."""

from __future__ import annotations

from typing import Annotated, Literal

from aiohttp import web
from pydantic import Field, StringConstraints

from service.auth import CurrentUser
from service.clock import lender_today
from service.contact import bridge, texting
from service.contact.channels import bridges_calls
from service.contact.checks import check_contact
from service.contact.reach import ContactRefused, as_dict, reach
from service.domain.compliance import ProfileName, Verdict
from service.domain.contact import Channel, LetterKind
from service.portfolio.reads import visible_loan
from service.portfolio.visibility import loan_visible
from service.treatment.messages import letter_for
from service.web.api.framework import Api, In, Out, Reply, TextIn
from service.web.api.portfolio import RefPath
from service.web.api.schemas import Instant, MomentIn, Ref
from service.web.keys import CLOCK, ENGINE, SETTINGS

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


# --- each number's state, a collector's text, click-to-call -------------------------------------

Phone = Annotated[
    str, StringConstraints(min_length=8, max_length=20, pattern=r"^\+[1-9][0-9]{6,14}$")
]
FormKey = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
]


class NumberOut(Out):
    party: str = Field(description='"debtor" or the contact_ref')
    party_kind: Literal["debtor", "guarantor", "emergency", "unrelated"]
    name: str | None = Field(description="a contact's name")
    relation: str = Field(description="a contact's relation to the debtor")
    phone: str | None = Field(
        description="the whole number (E.164); null for a third party not to be contacted at "
        "all (an emergency contact while the debtor is reachable, a refusal): see masked"
    )
    masked: str = Field(description="the number with all but its last 4 digits hidden")
    line: Literal["primary", "alt", "contact"]
    valid: bool = Field(description="false: marked invalid (not in service); never dialled")
    call: DecisionOut
    sms: DecisionOut


class Contactability(Out):
    loan_ref: str
    at: Instant = Field(description="the moment the guard was asked (the app's clock)")
    zone: str = Field(description="the debtor's zone (else the lender's): their clock")
    numbers: list[NumberOut]
    sms_templates: list[str] = Field(description="the texts a collector may send now")
    calls: bool = Field(description="click-to-call is available (Twilio, not the console)")


@api.get(
    "/api/loans/{ref}/contactability",
    summary="Each number of an account and whether it may be called or texted now",
    errors=(404,),
)
async def contactability(request: web.Request, user: CurrentUser, path: RefPath) -> Contactability:
    """The guard asked for every number of the borrower and of each contact, on both media,
    with the facts as they stand — the same facts dispatch gathers."""
    settings, now = request.app[SETTINGS], request.app[CLOCK].now()
    async with request.app[ENGINE].connect() as conn:
        found = await reach(conn, settings, loan_visible(user), path.ref, now)
        words = await texting.words(
            conn, settings, found.loan_id, lender_today(settings.lender_timezone, now)
        )
    return Contactability(
        loan_ref=found.loan_ref,
        at=found.at,
        zone=found.zone,
        numbers=[
            NumberOut.model_validate(as_dict(state, shown=state.reachable))
            for state in found.numbers
        ],
        sms_templates=list(words.templates),
        calls=bridges_calls(settings),
    )


class NewText(In):
    template: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description="one of the account's sms_templates (contactability)"
    )
    phone: Phone | None = Field(None, description="one of the debtor's numbers; default primary")
    preview: bool = Field(False, description="true: the text and the verdict, nothing sent")
    key: FormKey | None = Field(
        None, description="your key: the same key again sends once (default: a new text)"
    )


class TextOut(Out):
    template: str
    phone: str
    locale: str
    text: str = Field(description="exactly what leaves, the opt-out footer included")
    decision: DecisionOut = Field(description="the guard's verdict on sending it now")
    sent: bool
    outbox_id: int | None = Field(description="the outbox row that carries it")
    status: str | None = Field(description="the outbox row's status")


@api.post(
    "/api/loans/{ref}/sms",
    summary="Preview or send a text from a template to the debtor",
    status=201,
    responses={200: TextOut, 201: TextOut},
    errors=(404, 409, 422),
)
async def send_text(
    request: web.Request, user: CurrentUser, path: RefPath, body: NewText
) -> Reply[TextOut]:
    """``preview``: the exact text and the guard's verdict (200). Otherwise the text goes
    through the outbox and dispatch (which asks the guard again as it leaves) and is logged as
    yours (201; the same ``key`` again: 200 with the first row); refused with the guard's
    reasons (409) when it may not go now."""
    settings, now = request.app[SETTINGS], request.app[CLOCK].now()
    if body.preview:
        async with request.app[ENGINE].connect() as conn:
            preview = await texting.preview_sms(
                conn, settings, loan_visible(user), loan_ref=path.ref,
                template=body.template, phone=body.phone, at=now,
            )  # fmt: skip
        return Reply(_text_out(preview, None, None), 200)
    async with request.app[ENGINE].begin() as conn:
        sent = await texting.send_sms(
            conn, settings, loan_visible(user), loan_ref=path.ref, template=body.template,
            phone=body.phone, key=body.key or texting.new_key(), at=now,
            collector_id=user.id, actor=user.username,
        )  # fmt: skip
    if sent.outbox_id is None:
        raise ContactRefused("the guard does not allow this text now", sent.preview.decision)
    return Reply(_text_out(sent.preview, sent.outbox_id, sent.status), 201 if sent.new else 200)


def _text_out(preview: texting.Preview, outbox_id: int | None, status: str | None) -> TextOut:
    return TextOut(
        template=preview.template,
        phone=preview.phone,
        locale=preview.locale,
        text=preview.text,
        decision=DecisionOut.model_validate(preview.decision.as_dict()),
        sent=outbox_id is not None,
        outbox_id=outbox_id,
        status=status,
    )


class NewCall(In):
    party: Ref = Field("debtor", description='"debtor" or a contact_ref of the borrower')
    phone: Phone | None = Field(None, description="the debtor's number to dial; default primary")
    key: FormKey | None = Field(None, description="your key: the same key again rings once")


class CallOut(Out):
    call: int = Field(description="the call's id (its guard decision)")
    party: str
    phone: str = Field(description="the number that is dialled once you answer")
    your_phone: str = Field(description="your own phone, rung first (set on /me)")
    provider_ref: str | None = Field(description="the provider's id of the call to you")
    status: Literal["ringing_you", "started_before"]


@api.post(
    "/api/loans/{ref}/calls",
    summary="Click-to-call: ring your own phone, then connect it to the account's number",
    status=201,
    responses={200: CallOut, 201: CallOut},
    errors=(404, 409, 422),
)
async def start_call(
    request: web.Request, user: CurrentUser, path: RefPath, body: NewCall
) -> Reply[CallOut]:
    """The guard is asked about calling the number now (and again as it is dialled); Twilio
    rings your phone (users.phone, set on /me) and, when you answer, dials the number with the
    lender's caller id. The attempt is logged on the account as yours, with the dial's result.
    409: calls need Twilio (the console channel rings nothing), you have no phone on file, or
    the guard does not allow the call (its reasons in ``details``)."""
    started = await bridge.start_call(
        request.app[ENGINE], request.app[SETTINGS], loan_visible(user), loan_ref=path.ref,
        party=body.party, phone=body.phone, key=body.key, at=request.app[CLOCK].now(),
        collector_id=user.id, actor=user.username,
    )  # fmt: skip
    answer = CallOut(
        call=started.call_id,
        party=started.party,
        phone=started.phone,
        your_phone=started.collector_phone,
        provider_ref=started.provider_ref,
        status="ringing_you" if started.new else "started_before",
    )
    return Reply(answer, 201 if started.new else 200)
