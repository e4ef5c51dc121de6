"""Requests the fake makes to the application, signed as Twilio signs them: status callbacks
(retried with a back-off, then dropped and counted), the inbound-SMS webhook and the voice
documents.

The signature is ``X-Twilio-Signature = RequestValidator(auth_token).compute_signature(url,
params)``, the SDK's own function, so an application that validates with the SDK accepts it."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Mapping
from urllib.parse import urlencode

import aiohttp
from twilio.request_validator import RequestValidator

log = logging.getLogger("arrears.fake_twilio")


@dataclasses.dataclass(slots=True)
class CallbackCounts:
    sent: int = 0
    failed: int = 0  # dropped after every try
    retried: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class Answer:
    status: int  # 0: no answer at all (refused, timed out)
    text: str
    url: str  # the URL asked, with the query of a GET


class Webhooks:
    """The one client session and signer of a fake server."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        auth_token: str,
        *,
        tries: int,
        backoff_seconds: float,
    ) -> None:
        self.session = session
        self.validator = RequestValidator(auth_token)
        self.tries = tries
        self.backoff_seconds = backoff_seconds
        self.counts = CallbackCounts()

    def sign(self, url: str, params: Mapping[str, str]) -> str:
        signature: str = self.validator.compute_signature(url, dict(params))
        return signature

    async def request(self, url: str, params: Mapping[str, str], method: str = "POST") -> Answer:
        """One signed request; a GET carries the parameters in its query (and signs the URL)."""
        headers = {"User-Agent": "TwilioProxy/1.1", "Accept": "*/*"}
        if method.upper() == "GET":
            target = f"{url}{'&' if '?' in url else '?'}{urlencode(params)}" if params else url
            headers["X-Twilio-Signature"] = self.sign(target, {})
            data: Mapping[str, str] | None = None
        else:
            target = url
            headers["X-Twilio-Signature"] = self.sign(url, params)
            data = params
        try:
            async with self.session.request(
                method.upper(), target, data=data, headers=headers
            ) as response:
                return Answer(response.status, await response.text(), target)
        except (aiohttp.ClientError, TimeoutError, UnicodeDecodeError) as exc:
            log.debug("fake_twilio.request_failed %s %s", target, exc)
            return Answer(0, "", target)

    async def status_callback(
        self, url: str, params: Mapping[str, str], method: str = "POST"
    ) -> bool:
        """Deliver one status callback: retried on refusal or a non-2xx answer, then dropped."""
        delay = self.backoff_seconds
        for attempt in range(self.tries):
            if attempt:
                self.counts.retried += 1
                await asyncio.sleep(delay)
                delay *= 2
            answer = await self.request(url, params, method)
            if 200 <= answer.status < 300:
                self.counts.sent += 1
                return True
        self.counts.failed += 1
        log.debug("fake_twilio.callback_dropped %s", url)
        return False
