"""``POST /webhooks/twilio/status?outbox=ID``: what Twilio reports about a text or a call we
made, applied forward only (repeats and late arrivals change nothing). An unknown sid is
answered 204 too: nothing to do, and Twilio must not retry it forever."""

from __future__ import annotations

import structlog
from aiohttp import web

from service.contact.inbound import StatusReport, apply_status
from service.web.keys import CLOCK, ENGINE
from service.web.webhooks.signature import Refused, field, signed_form

logger = structlog.get_logger(__name__)


async def status_callback(request: web.Request) -> web.Response:
    try:
        form = await signed_form(request)
        report = StatusReport(
            sid=field(form, "MessageSid", "CallSid", "SmsSid"),
            status=field(form, "MessageStatus", "CallStatus", "SmsStatus", most=16),
            error_code=_optional(form.get("ErrorCode"), 16),
            answered_by=_optional(form.get("AnsweredBy"), 32),
        )
    except Refused as refused:
        return refused.response()
    async with request.app[ENGINE].begin() as conn:
        outcome = await apply_status(conn, report, request.app[CLOCK].now())
    logger.info(
        "webhook.status",
        sid=report.sid,
        status=report.status,
        error_code=report.error_code,
        outcome=outcome,
        outbox=request.query.get("outbox"),
        duration=form.get("CallDuration"),
    )
    return web.Response(status=204)


def _optional(value: str | None, most: int) -> str | None:
    if value is None or not value.strip():
        return None
    if len(value) > most:
        raise Refused(400, "a field is too long")
    return value.strip()
