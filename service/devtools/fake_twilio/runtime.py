"""The running fake: its store, faults and webhooks, and the background work of every resource
— a message's status steps, a call's progress and voice walk, an inbound text's webhook — each
a tracked task that cleanup cancels.

A resource's callbacks are sent by that resource's one task, one after the other, so the fake
never reorders them unless ``shuffle_callbacks`` asks it to."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import phonenumbers
from aiohttp import web

from service.devtools.fake_twilio.callbacks import Webhooks
from service.devtools.fake_twilio.config import API_VERSION, FakeTwilioConfig
from service.devtools.fake_twilio.faults import Faults
from service.devtools.fake_twilio.store import Call, Message, Store, rfc2822
from service.devtools.fake_twilio.voice import DialLeg, TwimlError, Walk, parse_twiml

log = logging.getLogger("arrears.fake_twilio")

# Twilio's default opt-out handling on a long code (Advanced Opt-Out off).
OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
OPT_IN = frozenset({"START", "YES", "UNSTOP"})

# A number fault's message steps after "queued": (status, error code).
_MESSAGE_STEPS: dict[str | None, tuple[tuple[str, int | None], ...]] = {
    None: (("sent", None), ("delivered", None)),
    "fail": (("failed", 30003),),
    "undeliverable": (("sent", None), ("undelivered", 30005)),
}


class FakeTwilio:
    """One fake server's state and background work (the app's ``FAKE``)."""

    def __init__(self, config: FakeTwilioConfig) -> None:
        self.config = config
        self.store = Store(config.account_sid)
        self.faults = Faults(config)
        self.webhooks: Webhooks | None = None  # set on startup, inside the running loop
        self.closing = asyncio.Event()
        self.tasks: set[asyncio.Task[None]] = set()

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("fake_twilio.task_failed", exc_info=task.exception())

    async def cancel_tasks(self) -> None:
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def reset(self) -> None:
        await self.cancel_tasks()
        self.store = Store(self.config.account_sid)
        self.faults.reset()
        if self.webhooks is not None:
            self.webhooks.counts = type(self.webhooks.counts)()

    async def hold(self, seconds: float) -> None:
        """Wait ``seconds``, or less when the server is closing (a held answer never holds a
        shutdown)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.closing.wait(), seconds)

    # Messages.

    def create_message(
        self,
        *,
        to: str,
        from_: str,
        body: str,
        status_callback: str | None,
        messaging_service_sid: str | None = None,
    ) -> Message:
        message = self.store.add_message(
            to=to,
            from_=from_,
            body=body,
            status_callback=status_callback,
            messaging_service_sid=messaging_service_sid,
        )
        fault = self.faults.on_number(to)
        if fault not in _MESSAGE_STEPS:
            fault = None
        elif fault is not None:
            self.faults.injected[fault] += 1
        self.spawn(self._message_steps(message, fault))
        return message

    async def _message_steps(self, message: Message, fault: str | None) -> None:
        pending: list[dict[str, str]] = []
        for status, error_code in _MESSAGE_STEPS[fault]:
            await asyncio.sleep(self.config.step_seconds)
            self.store.set_message_status(message, status, error_code)
            if message.status_callback and self.config.callbacks:
                pending.append(self._message_callback(message))
                if not self.faults.shuffle_callbacks:
                    await self._deliver(message.status_callback, pending.pop())
        if pending and message.status_callback:
            self.faults.shuffle_random.shuffle(pending)
            for params in pending:
                await self._deliver(message.status_callback, params)

    def _message_callback(self, message: Message) -> dict[str, str]:
        params = {
            "AccountSid": message.account_sid,
            "ApiVersion": API_VERSION,
            "From": message.from_,
            "MessageSid": message.sid,
            "MessageStatus": message.status,
            "SmsSid": message.sid,
            "SmsStatus": message.status,
            "To": message.to,
        }
        if message.error_code is not None:
            params["ErrorCode"] = str(message.error_code)
        if message.messaging_service_sid:
            params["MessagingServiceSid"] = message.messaging_service_sid
        return params

    async def _deliver(self, url: str, params: dict[str, str], method: str = "POST") -> None:
        assert self.webhooks is not None, "the fake's session is opened on startup"
        await self.webhooks.status_callback(url, params, method)

    # Inbound SMS.

    async def inbound(self, from_: str, to: str, body: str, url: str | None) -> dict[str, Any]:
        """Take a text from ``from_``, post the inbound webhook, send what its TwiML answers."""
        assert self.webhooks is not None, "the fake's session is opened on startup"
        message = self.store.add_message(to=to, from_=from_, body=body, direction="inbound")
        outcome: dict[str, Any] = {"sid": message.sid, "status": None, "messages": []}
        if url:
            answer = await self.webhooks.request(url, self._inbound_params(message))
            outcome["status"] = answer.status
            if 200 <= answer.status < 300 and answer.text.strip():
                try:
                    replies = list(parse_twiml(answer.text).iter("Message"))
                except TwimlError as exc:
                    outcome["error"] = str(exc)
                    replies = []
                for reply in replies:
                    text = reply.findtext("Body") if reply.find("Body") is not None else reply.text
                    created = self.create_message(
                        to=reply.get("to") or from_,
                        from_=reply.get("from") or to,
                        body=(text or "").strip(),
                        status_callback=reply.get("statusCallback") or reply.get("action"),
                    )
                    outcome["messages"].append(created.resource())
        keyword = body.strip().upper()
        if self.config.opt_out_keywords and keyword in OPT_OUT:
            self.faults.numbers[from_] = "stop"
        elif (
            self.config.opt_out_keywords
            and keyword in OPT_IN
            and self.faults.numbers.get(from_) == "stop"
        ):
            del self.faults.numbers[from_]
        return outcome

    def _inbound_params(self, message: Message) -> dict[str, str]:
        params = {
            "AccountSid": message.account_sid,
            "ApiVersion": API_VERSION,
            "Body": message.body,
            "From": message.from_,
            "MessageSid": message.sid,
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsMessageSid": message.sid,
            "SmsSid": message.sid,
            "SmsStatus": "received",
            "To": message.to,
        }
        for side, number in (("From", message.from_), ("To", message.to)):
            params[f"{side}Country"] = _country(number)
            params[f"{side}State"] = params[f"{side}City"] = params[f"{side}Zip"] = ""
        return params

    # Calls.

    def create_call(self, **fields: Any) -> Call:
        call = self.store.add_call(**fields)
        self.spawn(self._call_progress(call))
        return call

    async def _call_progress(self, call: Call) -> None:
        step = self.config.step_seconds
        pending: list[dict[str, str]] = []

        async def event(name: str) -> None:
            url = call.status_callback
            if url and self.config.callbacks and name in call.status_callback_events:
                pending.append(self._call_callback(call, len(pending)))
                if not self.faults.shuffle_callbacks:
                    await self._deliver(url, pending[-1], call.status_callback_method)

        outcome = self.faults.call_outcome(call.to)
        await event("initiated")
        await asyncio.sleep(step)
        if outcome == "failed":
            self.store.set_call_status(call, "failed")
        else:
            self.store.set_call_status(call, "ringing")
            await event("ringing")
            await asyncio.sleep(step)
            if outcome in ("busy", "no-answer"):
                self.store.set_call_status(call, outcome)
            else:
                await self._answer(call, outcome, event)
        call.duration = call.duration or 0
        await event("completed")
        if pending and call.status_callback and self.faults.shuffle_callbacks:
            self.faults.shuffle_random.shuffle(pending)
            for params in pending:
                await self._deliver(call.status_callback, params, call.status_callback_method)

    async def _answer(
        self, call: Call, outcome: str, event: Callable[[str], Awaitable[None]]
    ) -> None:
        assert self.webhooks is not None, "the fake's session is opened on startup"
        if outcome == "voicemail":
            # As Twilio's answering-machine detection reports it: DetectMessageEnd waits for
            # the beep; Enable answers as soon as it knows.
            call.answered_by = (
                "machine_start" if call.machine_detection == "Enable" else "machine_end_beep"
            )
        else:
            call.answered_by = "human"
        self.store.set_call_status(call, "in-progress")
        await event("answered")
        walk = Walk(
            webhooks=self.webhooks,
            call=call,
            params=self._call_params(call),
            digits=self.faults.digits(call.to) if outcome == "answered" else [],
            max_documents=self.config.max_documents,
            dial=lambda number, caller_id, timeout: self._dial_leg(
                call, number, caller_id, timeout
            ),
        )
        call.duration = await walk.run()
        self.store.set_call_status(call, "completed")

    async def _dial_leg(
        self, parent: Call, number: str, caller_id: str | None, ring_seconds: int
    ) -> DialLeg:
        """The leg a <Dial> of ``parent``'s script places to ``number``: a call of its own in
        the store (``outbound-dial``, its parent named), ended by the number's fault, script or
        the dial stream's draw. Time is simulated: a ring and a talk add seconds, none slept."""
        leg = self.store.add_call(
            to=number,
            from_=caller_id or parent.from_,
            url=None,
            twiml=None,
            method="POST",
            status_callback=None,
            status_callback_method="POST",
            status_callback_events=frozenset(),
            machine_detection=None,
            direction="outbound-dial",
            parent_call_sid=parent.sid,
        )
        outcome = self.faults.call_outcome(number, dialled=True)
        ring = 5.0
        if outcome in ("answered", "voicemail"):
            self.store.set_call_status(leg, "in-progress")
            leg.answered_by = "human" if outcome == "answered" else "machine_start"
            leg.duration = self.faults.talk_seconds(number)
            status = "completed"
        else:
            leg.duration = 0
            status = outcome
            if outcome == "no-answer":
                ring = float(ring_seconds)
        self.store.set_call_status(leg, status)
        return DialLeg(leg.sid, status, leg.duration, ring + leg.duration)

    def _call_params(self, call: Call) -> dict[str, str]:
        params = {
            "AccountSid": call.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": call.sid,
            "CallStatus": call.status,
            "Called": call.to,
            "Caller": call.from_,
            "Direction": "outbound-api",
            "From": call.from_,
            "To": call.to,
        }
        if call.answered_by:
            params["AnsweredBy"] = call.answered_by
        return params

    def _call_callback(self, call: Call, sequence: int) -> dict[str, str]:
        params = self._call_params(call)
        params["CallStatus"] = "initiated" if call.status == "queued" else call.status
        params["CallbackSource"] = "call-progress-events"
        params["SequenceNumber"] = str(sequence)
        params["Timestamp"] = rfc2822(call.date_updated) or ""
        if call.end_time is not None:
            params["CallDuration"] = str(call.duration or 0)
        return params


FAKE = web.AppKey("fake_twilio", FakeTwilio)


def _country(number: str) -> str:
    try:
        parsed = phonenumbers.parse(number)
    except phonenumbers.NumberParseException:
        return ""
    # Test numbers (+1 555 01xx) are no region's: then the country code's main region.
    region = phonenumbers.region_code_for_number(parsed) or (
        phonenumbers.region_code_for_country_code(parsed.country_code or 0)
    )
    return "" if region in (None, "ZZ") else str(region)
