"""The callee's side of an answered call: fetch the application's TwiML and walk its verbs as
Twilio does — Say, Play, Pause, Gather (with the script's digits), Redirect, Dial, Hangup — and
write what happened into the call's transcript.

A ``<Dial>`` places a second leg to its number (its outcome by the number's fault, script or the
seeded draw) and, with an ``action``, posts the leg's end to it (``DialCallStatus``,
``DialCallSid``, ``DialCallDuration``) and goes on with the TwiML that answers.

Time is simulated, not slept: a Pause of 5 seconds adds 5 to the call's duration at once."""

from __future__ import annotations

import dataclasses
import math
import re
import xml.etree.ElementTree as ET  # local TwiML; DOCTYPE and entities refused below
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal
from urllib.parse import urljoin

from service.devtools.fake_twilio.callbacks import Webhooks
from service.devtools.fake_twilio.store import Call

_DECLARATIONS = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
SECONDS_PER_WORD = 0.4  # a text-to-speech voice's pace, for the simulated duration
PLAY_SECONDS = 3.0


# A document to run: its <Response> and the URL it came from (relative URLs resolve against it).
Document = tuple[ET.Element, str]
# A <Dial>'s default ring time before it gives up (Twilio's ``timeout``).
DIAL_TIMEOUT = 30


@dataclasses.dataclass(frozen=True, slots=True)
class DialLeg:
    """How a leg a <Dial> placed ended: its sid, DialCallStatus, and seconds (rung + talked)."""

    sid: str
    status: str  # completed | busy | no-answer | failed
    duration: int  # talked, as DialCallDuration
    seconds: float  # what the leg adds to the calling leg's duration


# Places a dialled leg: (number, caller id, ring timeout) -> how it ended.
Dialer = Callable[[str, str | None, int], Awaitable[DialLeg]]


class TwimlError(ValueError):
    """A document that is not TwiML Twilio would run (Twilio's error 12100)."""


def parse_twiml(text: str) -> ET.Element:
    """The ``<Response>`` of a TwiML document; declarations (entity expansion) are refused."""
    if _DECLARATIONS.search(text):
        raise TwimlError("DOCTYPE and ENTITY declarations are not accepted")
    try:
        root = ET.fromstring(text)  # noqa: S314  # declarations refused above: no entity can expand
    except ET.ParseError as exc:
        raise TwimlError(f"not XML: {exc}") from None
    if root.tag != "Response":
        raise TwimlError(f"the root element is <{root.tag}>, not <Response>")
    return root


@dataclasses.dataclass(slots=True)
class Walk:
    """One call's walk through its documents."""

    webhooks: Webhooks
    call: Call
    params: Mapping[str, str]  # what every request of this call carries
    digits: list[str]  # the script's entries, one per Gather, consumed in order
    max_documents: int
    dial: Dialer | None = None  # None: a Dial only records its number
    seconds: float = 0.0
    documents: int = 0

    def note(self, **event: Any) -> None:
        self.call.transcript.append(event)

    async def run(self) -> int:
        """Walk the call to its end; the call's simulated duration in whole seconds."""
        if self.call.twiml is not None:
            document: Document | None = self._parsed(self.call.twiml, self.call.url)
        else:
            document = await self._fetch(self.call.url or "", self.call.method, {})
        while document is not None:
            document = await self._perform(*document)
        return max(1, math.ceil(self.seconds))

    def _parsed(self, text: str, url: str | None) -> Document | None:
        self.documents += 1
        if self.documents > self.max_documents:
            self.note(verb="error", code=11000, message=f"more than {self.max_documents} documents")
            return None
        try:
            return parse_twiml(text), url or ""
        except TwimlError as exc:
            self.note(verb="error", code=12100, message=str(exc), url=url)
            return None

    async def _fetch(self, url: str, method: str, extra: Mapping[str, str]) -> Document | None:
        answer = await self.webhooks.request(url, {**self.params, **extra}, method)
        if not 200 <= answer.status < 300:
            # Twilio's 11200: the application did not answer; the caller hears an error, hangs up.
            self.note(verb="error", code=11200, url=url, status=answer.status)
            return None
        return self._parsed(answer.text, url)

    async def _perform(self, root: ET.Element, url: str) -> Document | None:
        """Run one document's verbs; the next document, or None when the call ends."""
        for verb in root:
            tag = verb.tag
            if tag in ("Say", "Play", "Pause"):
                self._media(verb)
            elif tag == "Gather":
                for nested in verb:
                    if nested.tag in ("Say", "Play", "Pause"):
                        self._media(nested)
                following = await self._gather(verb, url)
                if following is not False:
                    return following
            elif tag == "Redirect":
                target = urljoin(url, (verb.text or "").strip()) or url
                self.note(verb="Redirect", url=target)
                return await self._fetch(target, verb.get("method", "POST"), {})
            elif tag == "Dial":
                return await self._dial(verb, url)
            elif tag in ("Hangup", "Reject"):
                self.note(verb=tag)
                return None
            else:
                self.note(verb=tag, ignored=True)
        return None

    async def _dial(self, verb: ET.Element, url: str) -> Document | None:
        """Place the legs (one after another until one is answered; Twilio rings them at once
        and keeps the first to answer), then post the action; without one the call ends (the
        fake does not go on with the verbs after a <Dial>)."""
        numbers = [n.text.strip() for n in verb if n.text] or [(verb.text or "").strip()]
        caller_id = verb.get("callerId")
        timeout_text = verb.get("timeout", "")
        timeout = int(timeout_text) if timeout_text.isdigit() else DIAL_TIMEOUT
        leg: DialLeg | None = None
        for number in numbers:
            if self.dial is None:
                self.note(verb="Dial", number=number)
                continue
            leg = await self.dial(number, caller_id, timeout)
            self.seconds += leg.seconds
            self.note(
                verb="Dial", number=number, caller_id=caller_id, sid=leg.sid, status=leg.status,
                duration=leg.duration,
            )  # fmt: skip
            if leg.status == "completed":
                break
        action = verb.get("action")
        if not action or leg is None:
            return None
        target = urljoin(url, action)
        ended = {"DialCallStatus": leg.status, "DialCallSid": leg.sid,
                 "DialCallDuration": str(leg.duration)}  # fmt: skip
        self.note(verb="DialAction", url=target, status=leg.status)
        return await self._fetch(target, verb.get("method", "POST"), ended)

    def _media(self, verb: ET.Element) -> None:
        if verb.tag == "Say":
            text = " ".join((verb.text or "").split())
            loops = max(1, int(verb.get("loop", "1") or 1))
            self.seconds += loops * SECONDS_PER_WORD * len(text.split())
            self.note(verb="Say", text=text, language=verb.get("language"))
        elif verb.tag == "Play":
            self.seconds += PLAY_SECONDS
            self.note(verb="Play", url=(verb.text or "").strip())
        else:
            self.seconds += float(verb.get("length", "1"))
            self.note(verb="Pause", length=float(verb.get("length", "1")))

    async def _gather(self, verb: ET.Element, url: str) -> Document | Literal[False] | None:
        """Key in the script's next entry; the action's document, None, or False to carry on
        with the verb after the Gather (no input, as Twilio does without actionOnEmptyResult)."""
        finish = verb.get("finishOnKey", "#")
        action = urljoin(url, verb.get("action", "")) if verb.get("action") else url
        method = verb.get("method", "POST")
        on_empty = verb.get("actionOnEmptyResult", "false").lower() == "true"
        keyed = self.digits.pop(0) if self.digits else ""
        finished_on = ""
        if finish and finish in keyed:
            keyed, finished_on = keyed.split(finish, 1)[0], finish
        limit = verb.get("numDigits")
        if limit and limit.isdigit():
            keyed = keyed[: int(limit)]
        self.seconds += len(keyed) * 0.5 or float(verb.get("timeout", "5") or 5)
        if not keyed and not on_empty:
            self.note(verb="Gather", digits=None, action=action)
            return False
        self.note(verb="Gather", digits=keyed, action=action)
        return await self._fetch(action, method, {"Digits": keyed, "FinishedOnKey": finished_on})
