"""``POST /webhooks/twilio/sms``: a text a debtor sent to our number. Keywords (opt-out,
opt-in, help) are answered with one message as TwiML; every other reply lands on the account's
timeline (service.contact.inbound)."""

from __future__ import annotations

import structlog
from aiohttp import web
from twilio.twiml.messaging_response import MessagingResponse

from service.contact.inbound import InboundText, receive_text
from service.web.keys import CLOCK, ENGINE, SETTINGS
from service.web.webhooks.signature import Refused, field, signed_form

logger = structlog.get_logger(__name__)


def twiml(text: str) -> web.Response:
    return web.Response(text=text, content_type="text/xml", charset="utf-8")


async def inbound_text(request: web.Request) -> web.Response:
    try:
        form = await signed_form(request)
        text = InboundText(
            sid=field(form, "MessageSid", "SmsSid", most=48),
            sender=field(form, "From", most=20),
            to=field(form, "To", most=32),
            body=form.get("Body", ""),
        )
    except Refused as refused:
        return refused.response()
    async with request.app[ENGINE].begin() as conn:
        answer = await receive_text(conn, request.app[SETTINGS], text, request.app[CLOCK].now())
    logger.info("webhook.sms", sid=text.sid, from_=text.sender, kind=answer.kind)
    reply = MessagingResponse()
    if answer.message:
        reply.message(answer.message)
    return twiml(str(reply))
