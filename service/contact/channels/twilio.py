"""SMS and calls through Twilio, with the official SDK and its async HTTP client.

``TWILIO_BASE_URL`` points the SDK at a Twilio-compatible server (``arrears fake-twilio``):
the HTTP client rewrites ``https://api.twilio.com`` to it. The client's aiohttp session is made
here, inside the running loop, with the timeout and the connection limit we choose — the SDK
would otherwise make one when it is constructed, which aiohttp warns about outside a loop.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
from typing import Any

import aiohttp
import structlog
from twilio.base import values
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from service.contact.channels.base import Accepted, Outgoing, PermanentError, TransientError
from service.settings import Settings

log = structlog.get_logger(__name__)

TWILIO_API = "https://api.twilio.com"
# Call progress events asked for in status callbacks.
CALL_EVENTS = ["initiated", "ringing", "answered", "completed"]


class _HttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]  # the SDK is untyped
    """The SDK's async client on our own session, sending to ``base_url`` instead of Twilio's.

    The credentials go in an ``Authorization`` header of our own: the SDK would wrap them in
    ``aiohttp.BasicAuth``, deprecated since aiohttp 3.14 (a warning per request)."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str | None) -> None:
        super().__init__(pool_connections=False)
        self.session = session
        self._base = base_url.rstrip("/") if base_url else None

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109  # the SDK's signature; ours is the session's
        allow_redirects: bool = False,
    ) -> Response:
        if self._base and url.startswith(TWILIO_API):
            # Next-page URLs come back absolute, on api.twilio.com, too.
            url = self._base + url[len(TWILIO_API) :]
        if auth is not None:
            basic = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
            headers = {**(headers or {}), "Authorization": f"Basic {basic}"}
        async with self.session.request(
            method.upper(),
            url,
            params=params,
            data=data,
            headers=headers,
            allow_redirects=allow_redirects,
        ) as response:
            text = await response.text()
            return Response(response.status, text, response.headers)

    async def close(self) -> None:
        await self.session.close()


class TwilioChannel:
    name = "twilio"
    bridges_calls = True

    def __init__(self, settings: Settings) -> None:
        # Settings refuses ARREARS_CHANNEL=twilio without them.
        assert settings.twilio_account_sid
        assert settings.twilio_auth_token
        session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=settings.send_timeout_seconds),
            connector=aiohttp.TCPConnector(limit=settings.send_concurrency),
        )
        self._http = _HttpClient(session, settings.twilio_base_url)
        self._client = Client(
            settings.twilio_account_sid, settings.twilio_auth_token, http_client=self._http
        )

    async def send(self, message: Outgoing) -> Accepted:
        try:
            if message.channel == "sms":
                sent = await self._client.messages.create_async(
                    to=message.to,
                    from_=message.sender,
                    body=message.body or "",
                    status_callback=message.status_callback or _unset(),
                )
            else:
                sent = await self._client.calls.create_async(
                    to=message.to,
                    from_=message.sender,
                    url=message.url or _unset(),
                    status_callback=message.status_callback or _unset(),
                    status_callback_event=CALL_EVENTS,
                    machine_detection="Enable" if message.detect_machine else _unset(),
                )
        except TwilioRestException as exc:
            raise _classified(exc) from None
        except (TimeoutError, aiohttp.ClientError, ConnectionError) as exc:
            # The request may have reached Twilio: reconcile before sending again.
            raise TransientError(_describe(exc), ambiguous=True) from None
        return Accepted(str(sent.sid), str(sent.status or "queued"))

    async def find(self, message: Outgoing, since: dt.datetime) -> list[str]:
        try:
            if message.channel == "sms":
                found = await self._client.messages.list_async(
                    to=message.to, from_=message.sender, date_sent_after=since
                )
                return [str(m.sid) for m in found if (m.body or "") == (message.body or "")]
            calls = await self._client.calls.list_async(
                to=message.to, from_=message.sender, start_time_after=since
            )
            return [str(c.sid) for c in calls]
        except TwilioRestException as exc:
            raise _classified(exc) from None
        except (TimeoutError, aiohttp.ClientError, ConnectionError) as exc:
            raise TransientError(_describe(exc), ambiguous=True) from None

    async def close(self) -> None:
        await self._http.close()


def _unset() -> Any:
    return values.unset


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return "timeout"
    return f"{type(exc).__name__}: {exc}"[:200]


def _classified(exc: TwilioRestException) -> TransientError | PermanentError:
    code = str(exc.code) if exc.code is not None else None
    reason = f"HTTP {exc.status}" + (f" code {code}" if code else "")
    if exc.status == 429 or exc.status >= 500:
        # A 5xx may come after Twilio took the message: treated as possibly sent.
        return TransientError(reason, code, ambiguous=exc.status >= 500)
    return PermanentError(reason, code)
