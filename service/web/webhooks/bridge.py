"""``POST /webhooks/twilio/bridge?call=ID`` (the script of a click-to-call's first leg, asked for
when the collector answers) and ``POST /webhooks/twilio/bridge/dialed?call=ID`` (the ``<Dial>``'s
action: how the debtor-side leg ended), both signed by Twilio (service.contact.bridge)."""

from __future__ import annotations

import structlog
from aiohttp import web

from service.contact import bridge
from service.web.keys import CLOCK, ENGINE, SETTINGS
from service.web.ui.contact_speech import bridge_twiml, hangup_twiml
from service.web.webhooks.signature import Refused, field, query_id, signed_form
from service.web.webhooks.sms import twiml

logger = structlog.get_logger(__name__)


async def collector_answered(request: web.Request) -> web.Response:
    try:
        await signed_form(request)
        call_id = query_id(request, "call")
    except Refused as refused:
        return refused.response()
    async with request.app[ENGINE].begin() as conn:
        script = await bridge.dial_script(
            conn, request.app[SETTINGS], call_id, request.app[CLOCK].now()
        )
    logger.info("webhook.bridge", call=call_id, dialled=script.dial is not None,
                refused=list(script.refused))  # fmt: skip
    return twiml(bridge_twiml(script))


async def dial_ended(request: web.Request) -> web.Response:
    try:
        form = await signed_form(request)
        call_id = query_id(request, "call")
        status = field(form, "DialCallStatus", most=16)
    except Refused as refused:
        return refused.response()
    sid = (form.get("DialCallSid") or "").strip()[:64] or None
    async with request.app[ENGINE].begin() as conn:
        changed = await bridge.dial_finished(conn, call_id, status=status, dialled_sid=sid)
    logger.info("webhook.bridge_dialed", call=call_id, status=status, changed=changed,
                duration=form.get("DialCallDuration"))  # fmt: skip
    return twiml(hangup_twiml())
