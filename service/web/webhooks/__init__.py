"""Provider callbacks (Twilio status, inbound SMS, the call's script and menu), each verifying
``X-Twilio-Signature`` (:mod:`.signature`) instead of a session: outside the JSON API and its
document, and exempt from the session and CSRF checks (service.web.middleware)."""

from __future__ import annotations

from aiohttp import web

from service.treatment.messages import WEBHOOK_PATHS
from service.web.webhooks import bridge, sms, status, voice


def setup(app: web.Application) -> None:
    app.router.add_post(WEBHOOK_PATHS["status"], status.status_callback)
    app.router.add_post(WEBHOOK_PATHS["sms"], sms.inbound_text)
    app.router.add_post(WEBHOOK_PATHS["voice"], voice.call_answered)
    app.router.add_post(WEBHOOK_PATHS["voice_menu"], voice.menu_keys)
    app.router.add_post(WEBHOOK_PATHS["voice_inbound"], voice.call_received)
    app.router.add_post(WEBHOOK_PATHS["bridge"], bridge.collector_answered)
    app.router.add_post(WEBHOOK_PATHS["bridge_dialed"], bridge.dial_ended)
