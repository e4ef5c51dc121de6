"""``POST /webhooks/twilio/voice?outbox=ID`` (the answered call's script),
``POST /webhooks/twilio/voice/menu?outbox=ID&step=…`` (each keypress of its menu) and
``POST /webhooks/twilio/voice/inbound`` (a call to our number, the number's Voice URL): TwiML
from service.contact.ivr."""

from __future__ import annotations

import structlog
from aiohttp import web

from service.contact import ivr
from service.web.keys import CLOCK, ENGINE, SETTINGS
from service.web.webhooks.signature import Refused, query_id, signed_form
from service.web.webhooks.sms import twiml

logger = structlog.get_logger(__name__)


async def call_answered(request: web.Request) -> web.Response:
    try:
        form = await signed_form(request)
        outbox_id = query_id(request)
    except Refused as refused:
        return refused.response()
    answered_by = (form.get("AnsweredBy") or "").strip()[:32] or None
    async with request.app[ENGINE].connect() as conn:
        script = await ivr.opening(conn, request.app[SETTINGS], outbox_id, answered_by)
    logger.info("webhook.voice", outbox=outbox_id, answered_by=answered_by)
    return twiml(script)


async def menu_keys(request: web.Request) -> web.Response:
    try:
        form = await signed_form(request)
        outbox_id = query_id(request)
        try:
            state = ivr.MenuState.from_query(request.query)
        except ValueError:
            raise Refused(400, "the menu's query was not written by us") from None
    except Refused as refused:
        return refused.response()
    digits = (form.get("Digits") or "").strip()[:16]
    async with request.app[ENGINE].begin() as conn:
        script = await ivr.answer(
            conn, request.app[SETTINGS], request.app[CLOCK].now(), outbox_id, state, digits
        )
    logger.info("webhook.voice_menu", outbox=outbox_id, step=state.step)
    return twiml(script)


async def call_received(request: web.Request) -> web.Response:
    try:
        form = await signed_form(request)
    except Refused as refused:
        return refused.response()
    sid = (form.get("CallSid") or "").strip()
    caller = (form.get("From") or "").strip()
    if not (sid.isascii() and sid.isalnum() and 0 < len(sid) <= 64) or not caller:
        return Refused(400, "an inbound call needs its CallSid and From").response()
    async with request.app[ENGINE].begin() as conn:
        script = await ivr.receive_call(
            conn, request.app[SETTINGS], sid, caller[:20], request.app[CLOCK].now()
        )
    logger.info("webhook.voice_inbound", sid=sid)
    return twiml(script)
