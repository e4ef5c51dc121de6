"""The fake's control API, under ``/_fake/`` (not Twilio's; no auth, as the server binds
loopback by default): counts, faults, scripts of callees, inbound texts, call transcripts."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from service.devtools.fake_twilio.runtime import FAKE


def add_control_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/_fake/stats", stats)
    router.add_get("/_fake/faults", get_faults)
    router.add_post("/_fake/faults", set_faults)
    router.add_post("/_fake/scripts", set_scripts)
    router.add_post("/_fake/reset", reset)
    router.add_post("/_fake/inbound", inbound)
    router.add_get("/_fake/calls/{sid}", call_transcript)


async def stats(request: web.Request) -> web.Response:
    fake = request.app[FAKE]
    assert fake.webhooks is not None
    counts = fake.webhooks.counts
    return web.json_response(
        {
            **fake.store.counts(),
            "faults": dict(sorted(fake.faults.injected.items())),
            "callbacks": {"sent": counts.sent, "failed": counts.failed, "retried": counts.retried},
            "pending_tasks": len(fake.tasks),
        }
    )


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        payload = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text="the body is not JSON") from None
    if not isinstance(payload, dict):
        raise web.HTTPBadRequest(text="the body must be a JSON object")
    return payload


async def get_faults(request: web.Request) -> web.Response:
    return web.json_response(request.app[FAKE].faults.snapshot())


async def set_faults(request: web.Request) -> web.Response:
    faults = request.app[FAKE].faults
    try:
        faults.update(await _json_object(request))
    except ValueError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    return web.json_response(faults.snapshot())


async def set_scripts(request: web.Request) -> web.Response:
    faults = request.app[FAKE].faults
    try:
        faults.add_scripts(await _json_object(request))
    except ValueError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    return web.json_response(faults.scripts)


async def reset(request: web.Request) -> web.Response:
    await request.app[FAKE].reset()
    return web.json_response({"reset": True})


async def inbound(request: web.Request) -> web.Response:
    fake = request.app[FAKE]
    payload = await _json_object(request)
    missing = [name for name in ("From", "To", "Body") if not isinstance(payload.get(name), str)]
    if missing:
        raise web.HTTPBadRequest(text=f"missing text fields: {', '.join(missing)}")
    url = payload.get("Url") or fake.config.sms_url
    outcome = await fake.inbound(payload["From"], payload["To"], payload["Body"], url)
    return web.json_response(outcome)


async def call_transcript(request: web.Request) -> web.Response:
    call = request.app[FAKE].store.calls.get(request.match_info["sid"])
    if call is None:
        raise web.HTTPNotFound(text="no such call")
    return web.json_response(
        {
            "sid": call.sid,
            "to": call.to,
            "from": call.from_,
            "status": call.status,
            "answered_by": call.answered_by,
            "duration": call.duration,
            "events": call.transcript,
            "said": [e["text"] for e in call.transcript if e["verb"] == "Say"],
            "gathers": [e for e in call.transcript if e["verb"] == "Gather"],
            "dialed": [e["number"] for e in call.transcript if e["verb"] == "Dial"],
        }
    )
