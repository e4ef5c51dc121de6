"""The fake's aiohttp application: Twilio's REST API for Messages and Calls (what the real SDK
calls) under ``/2010-04-01/Accounts/{AccountSid}/``, and the control API under ``/_fake/``.

Creating a message is the hot path of the fault test and the benchmark: one form parse, a few
dictionary look-ups, one background task; nothing is logged above debug."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from service.devtools.fake_twilio.callbacks import Webhooks
from service.devtools.fake_twilio.config import API_VERSION, FakeTwilioConfig
from service.devtools.fake_twilio.control import add_control_routes
from service.devtools.fake_twilio.runtime import FAKE, FakeTwilio
from service.devtools.fake_twilio.store import Call, Message, Window, newest_first

API_PREFIX = f"/{API_VERSION}/Accounts/"

_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
# A sender may also be a short code or an alphanumeric sender ID.
_SENDER = re.compile(r"\+[1-9][0-9]{6,14}|[0-9]{5,6}|(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CALL_EVENTS = frozenset({"initiated", "ringing", "answered", "completed"})


def twilio_error(status: int, code: int, message: str) -> web.Response:
    """An error as Twilio answers it; the SDK raises ``TwilioRestException(status, code)``."""
    return web.json_response(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status=status,
    )


def _invalid_number(number: str) -> web.Response:
    return twilio_error(400, 21211, f"The 'To' number {number} is not a valid phone number.")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def twilio_api(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Basic auth on every REST call, the account in the path, and Twilio-shaped 404/405."""
    if not request.path.startswith(API_PREFIX):
        return await handler(request)
    fake = request.app[FAKE]
    if not _authorised(request.headers.get("Authorization", ""), fake.config):
        response = twilio_error(401, 20003, "Authenticate")
        response.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
        return response
    account = request.match_info.get("account")
    if account is not None and account != fake.config.account_sid:
        return twilio_error(404, 20404, f"The requested resource {request.path} was not found")
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return twilio_error(404, 20404, f"The requested resource {request.path} was not found")
    except web.HTTPMethodNotAllowed:
        return twilio_error(405, 20004, "Method not allowed")


def _authorised(header: str, config: FakeTwilioConfig) -> bool:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        given = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return False
    expected = f"{config.account_sid}:{config.auth_token}".encode()
    return hmac.compare_digest(given, expected)


# Messages.


async def create_message(request: web.Request) -> web.Response:
    fake = request.app[FAKE]
    form = await request.post()
    to = str(form.get("To", "")).strip()
    from_ = str(form.get("From", "")).strip()
    body = str(form.get("Body", ""))
    service_sid = str(form.get("MessagingServiceSid", "")) or None
    if not to:
        return twilio_error(400, 21604, "A 'To' phone number is required.")
    if not from_ and service_sid is None:
        return twilio_error(400, 21603, "A 'From' phone number is required.")
    if not body:
        return twilio_error(400, 21602, "Message body is required.")
    if not _E164.fullmatch(to):
        return _invalid_number(to)
    if from_ and not _SENDER.fullmatch(from_):
        return twilio_error(
            400,
            21212,
            f"The 'From' number {from_} is not a valid phone number, shortcode, "
            "or alphanumeric sender ID.",
        )
    faults = fake.faults
    fault = faults.numbers.get(to)
    if fault == "invalid":
        faults.injected["invalid"] += 1
        return _invalid_number(to)
    if fault == "stop":
        faults.injected["stop"] += 1
        return twilio_error(400, 21610, "Attempt to send to unsubscribed recipient")
    transient = faults.transient()
    if transient == "429":
        return twilio_error(429, 20429, "Too Many Requests")
    if transient == "500":
        return twilio_error(500, 20500, "An internal server error has occurred")
    message = fake.create_message(
        to=to,
        from_=from_,
        body=body,
        status_callback=str(form.get("StatusCallback", "")) or None,
        messaging_service_sid=service_sid,
    )
    if transient == "timeout":
        # The ambiguous case: the message exists, the answer comes too late for the client.
        await fake.hold(faults.timeout_seconds)
    return web.json_response(message.resource(), status=201)


async def fetch_message(request: web.Request) -> web.Response:
    message = request.app[FAKE].store.messages.get(request.match_info["sid"])
    if message is None:
        raise web.HTTPNotFound
    return web.json_response(message.resource())


async def list_messages(request: web.Request) -> web.Response:
    store = request.app[FAKE].store
    query = request.query
    to = query.get("To")
    items = store.messages_by_to.get(to, []) if to else store.message_order
    return _page(request, "messages", items, store.messages, _sent_at, "DateSent")


def _sent_at(message: Message) -> dt.datetime:
    return message.date_sent


# Calls.


async def create_call(request: web.Request) -> web.Response:
    fake = request.app[FAKE]
    form = await request.post()
    to = str(form.get("To", "")).strip()
    from_ = str(form.get("From", "")).strip()
    url = str(form.get("Url", "")) or None
    twiml = str(form.get("Twiml", "")) or None
    if not to:
        return twilio_error(400, 21201, "No 'To' number is specified")
    if not from_:
        return twilio_error(400, 21213, "No 'From' number is specified")
    if url is None and twiml is None:
        return twilio_error(400, 21205, "Url parameter is required.")
    if not _E164.fullmatch(to) or fake.faults.numbers.get(to) == "invalid":
        if fake.faults.numbers.get(to) == "invalid":
            fake.faults.injected["invalid"] += 1
        return _invalid_number(to)
    if not _E164.fullmatch(from_):
        return twilio_error(400, 21212, f"The 'From' number {from_} is not a valid phone number.")
    transient = fake.faults.transient()
    if transient == "429":
        return twilio_error(429, 20429, "Too Many Requests")
    if transient == "500":
        return twilio_error(500, 20500, "An internal server error has occurred")
    # The SDK sends one StatusCallbackEvent field per event; a space-separated list is also
    # accepted. Without any, Twilio reports only the end of the call.
    events = {e for value in form.getall("StatusCallbackEvent", []) for e in str(value).split()}
    call = fake.create_call(
        to=to,
        from_=from_,
        url=url,
        twiml=twiml,
        method=str(form.get("Method", "POST")).upper() or "POST",
        status_callback=str(form.get("StatusCallback", "")) or None,
        status_callback_method=str(form.get("StatusCallbackMethod", "POST")).upper() or "POST",
        status_callback_events=frozenset(events & _CALL_EVENTS or {"completed"}),
        machine_detection=str(form.get("MachineDetection", "")) or None,
    )
    if transient == "timeout":
        await fake.hold(fake.faults.timeout_seconds)
    return web.json_response(call.resource(), status=201)


async def fetch_call(request: web.Request) -> web.Response:
    call = request.app[FAKE].store.calls.get(request.match_info["sid"])
    if call is None:
        raise web.HTTPNotFound
    return web.json_response(call.resource())


async def list_calls(request: web.Request) -> web.Response:
    store = request.app[FAKE].store
    to = request.query.get("To")
    items = store.calls_by_to.get(to, []) if to else store.call_order
    return _page(request, "calls", items, store.calls, _started_at, "StartTime")


def _started_at(call: Call) -> dt.datetime:
    return call.start_time


def _page(
    request: web.Request,
    key: str,
    items: Any,
    by_sid: Any,
    moment: Any,
    date_field: str,
) -> web.Response:
    """One page of a list as Twilio answers it, with the filters of the query applied."""
    query = request.query
    try:
        window = _window(query, date_field)
        page_size = min(max(int(query.get("PageSize", "50")), 1), 1000)
        page_number = max(int(query.get("Page", "0")), 0)
    except ValueError as exc:
        return twilio_error(400, 20001, f"Invalid parameter: {exc}")
    token = query.get("PageToken")
    before_seq = None
    if token:
        anchor = by_sid.get(token[2:])
        if anchor is None:
            return twilio_error(400, 20001, f"Invalid PageToken {token}")
        before_seq = anchor.seq
    page, more = newest_first(
        items,
        moment,
        from_=query.get("From"),
        status=query.get("Status"),
        window=window,
        page_size=page_size,
        skip=0 if token else page_number * page_size,
        before_seq=before_seq,
    )
    filters = {k: v for k, v in query.items() if k not in ("PageSize", "Page", "PageToken")}
    path = request.path

    def uri(number: int, token: str | None = None) -> str:
        params = {**filters, "PageSize": str(page_size), "Page": str(number)}
        if token:
            params["PageToken"] = token
        return f"{path}?{urlencode(params)}"

    start = page_number * page_size
    return web.json_response(
        {
            key: [item.resource() for item in page],
            "end": start + max(len(page) - 1, 0),
            "first_page_uri": uri(0),
            "next_page_uri": uri(page_number + 1, f"PA{page[-1].sid}") if more else None,
            "page": page_number,
            "page_size": page_size,
            "previous_page_uri": uri(page_number - 1) if page_number else None,
            "start": start,
            "uri": uri(page_number, token),
        }
    )


def _window(query: Any, name: str) -> Window:
    """``Name``, ``Name<`` (on or before) and ``Name>`` (on or after): a day (YYYY-MM-DD, all of
    it) or a moment (ISO 8601, as the SDK sends a datetime: ``2026-12-05T10:00:00Z``)."""
    at_least: dt.datetime | None = None
    at_most: dt.datetime | None = None
    for suffix in ("", ">", "<"):
        raw = query.get(name + suffix)
        if raw is None:
            continue
        first, last = _moments(raw, f"{name}{suffix}")
        if not suffix:
            # The plain filter is by day: the SDK sends a date as its midnight, ``...T00:00:00Z``.
            first, last = _moments(first.date().isoformat(), name)
        if suffix in ("", ">"):
            at_least = first if at_least is None else max(at_least, first)
        if suffix in ("", "<"):
            at_most = last if at_most is None else min(at_most, last)
    return Window(at_least, at_most)


def _moments(raw: str, name: str) -> tuple[dt.datetime, dt.datetime]:
    """The first and last whole second that ``raw`` names."""
    if _DATE.fullmatch(raw):
        day = dt.date.fromisoformat(raw)
        first = dt.datetime.combine(day, dt.time(), dt.UTC)
        return first, first + dt.timedelta(days=1, seconds=-1)
    try:
        moment = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a date or an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)  # Twilio's dates are GMT
    moment = moment.astimezone(dt.UTC).replace(microsecond=0)
    return moment, moment


def create_fake_twilio(config: FakeTwilioConfig) -> web.Application:
    """The fake Twilio as an aiohttp application: ``web.run_app`` it or hand it to a test."""
    app = web.Application(middlewares=[twilio_api])
    app[FAKE] = FakeTwilio(config)
    app.cleanup_ctx.append(_webhooks)
    app.on_shutdown.append(_release_held)
    account = f"{API_PREFIX}{{account}}"
    app.router.add_post(f"{account}/Messages.json", create_message)
    app.router.add_get(f"{account}/Messages.json", list_messages)
    app.router.add_get(f"{account}/Messages/{{sid}}.json", fetch_message)
    app.router.add_post(f"{account}/Calls.json", create_call)
    app.router.add_get(f"{account}/Calls.json", list_calls)
    app.router.add_get(f"{account}/Calls/{{sid}}.json", fetch_call)
    add_control_routes(app.router)
    return app


async def _webhooks(app: web.Application) -> AsyncIterator[None]:
    """The client session every callback and webhook goes through, opened inside the loop."""
    fake = app[FAKE]
    config = fake.config
    session = aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=config.callback_timeout_seconds),
        connector=aiohttp.TCPConnector(limit=100),
    )
    fake.webhooks = Webhooks(
        session,
        config.auth_token,
        tries=config.callback_tries,
        backoff_seconds=config.callback_backoff_seconds,
    )
    try:
        yield
    finally:
        fake.closing.set()
        await fake.cancel_tasks()
        await session.close()


async def _release_held(app: web.Application) -> None:
    app[FAKE].closing.set()
