"""The real ``twilio`` SDK pointed at the local fake Twilio, and a recorder of the requests the
fake makes (status callbacks, webhooks, voice documents), for the tests that need them."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from service.devtools.fake_twilio import FakeTwilioConfig, create_fake_twilio

TWILIO_API = "https://api.twilio.com"
SID = "AC" + "1" * 32
TOKEN = "test-auth-token"


class BaseUrlTwilioHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]  # untyped SDK
    """The SDK's own async HTTP client, sending to ``base_url`` instead of api.twilio.com.

    Build it inside the running event loop (its ClientSession is made in ``__init__``) and
    ``await close()`` it. ``timeout`` applies to every request (the SDK passes none itself).
    The credentials go in an ``Authorization`` header of our own: the SDK would wrap them in
    ``aiohttp.BasicAuth``, deprecated since aiohttp 3.14 (a DeprecationWarning per request)."""

    def __init__(self, base_url: str, timeout: float | None = None) -> None:
        super().__init__(timeout=timeout)
        self.base_url = base_url.rstrip("/")

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109  # the SDK's own signature
        allow_redirects: bool = False,
    ) -> Response:
        if url.startswith(TWILIO_API):  # next_page_uri comes back absolute, on api.twilio.com
            url = self.base_url + url[len(TWILIO_API) :]
        if auth is not None:
            basic = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
            headers = {**(headers or {}), "Authorization": f"Basic {basic}"}
        response: Response = await super().request(
            method,
            url,
            params=params,
            data=data,
            headers=headers,
            auth=None,
            timeout=self.timeout if timeout is None else timeout,
            allow_redirects=allow_redirects,
        )
        return response


@dataclasses.dataclass
class Fake:
    """A running fake Twilio, an SDK client on it, and a session for its control API."""

    server: TestServer
    config: FakeTwilioConfig
    http: BaseUrlTwilioHttpClient
    twilio: Client
    control: aiohttp.ClientSession

    @property
    def base_url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    @property
    def api(self) -> str:
        return f"{self.base_url}/2010-04-01/Accounts/{self.config.account_sid}"

    async def get(self, path: str) -> Any:
        async with self.control.get(self.base_url + path) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async def post(self, path: str, payload: dict[str, Any]) -> Any:
        async with self.control.post(self.base_url + path, json=payload) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.get("/_fake/stats")
        return result


@contextlib.asynccontextmanager
async def running_fake(
    aiohttp_server: Any, *, sdk_timeout: float | None = None, **overrides: Any
) -> AsyncIterator[Fake]:
    config = FakeTwilioConfig(account_sid=SID, auth_token=TOKEN, **overrides)
    server: TestServer = await aiohttp_server(create_fake_twilio(config))
    base = str(server.make_url("")).rstrip("/")
    http = BaseUrlTwilioHttpClient(base, timeout=sdk_timeout)
    control = aiohttp.ClientSession()
    try:
        yield Fake(server, config, http, Client(SID, TOKEN, http_client=http), control)
    finally:
        await http.close()
        await control.close()


StartFake = Callable[..., Awaitable[Fake]]


@dataclasses.dataclass(frozen=True)
class Hit:
    """One request the fake made to the application."""

    method: str
    path: str
    url: str
    params: dict[str, str]
    signature: str

    def signed(self, token: str = TOKEN) -> bool:
        return bool(RequestValidator(token).validate(self.url, self.params, self.signature))


Answer = Callable[[Hit], web.Response | Awaitable[web.Response]]


class Recorder:
    """An application stand-in: records every request; answers by path (default 200 empty)."""

    def __init__(self) -> None:
        self.hits: list[Hit] = []
        self.answers: dict[str, Answer] = {}
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self._handle)
        self.server: TestServer | None = None

    def url(self, path: str) -> str:
        assert self.server is not None
        return str(self.server.make_url(path))

    def at(self, path: str) -> list[Hit]:
        return [hit for hit in self.hits if hit.path == path]

    async def _handle(self, request: web.Request) -> web.Response:
        form = await request.post()
        params = {k: str(v) for k, v in form.items()} if request.method == "POST" else {}
        hit = Hit(
            request.method,
            request.path,
            str(request.url),
            params,
            request.headers.get("X-Twilio-Signature", ""),
        )
        self.hits.append(hit)
        answer = self.answers.get(request.path)
        if answer is None:
            return web.Response(text="")
        result = answer(hit)
        return await result if asyncio.iscoroutine(result) else result  # type: ignore[return-value]


def twiml(body: str) -> web.Response:
    return web.Response(text=f"<Response>{body}</Response>", content_type="text/xml")


async def until(check: Callable[[], Any], seconds: float = 5.0) -> Any:
    """Poll ``check`` until it answers something truthy, or fail at the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        assert loop.time() < deadline, "condition not met before the deadline"
        await asyncio.sleep(0.01)
