"""The fake's resources: messages and calls with Twilio's SIDs and JSON shapes, indexed by
``To`` for the SDK's list filters, newest-first keyset paging, and the counts behind
``/_fake/stats``. Creating a resource is O(1); a list walks only the index it filters on."""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import email.utils
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from service.devtools.fake_twilio.config import API_VERSION

MESSAGE_FINAL = frozenset({"delivered", "undelivered", "failed", "received"})
CALL_FINAL = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})


def new_sid(prefix: str) -> str:
    """A Twilio SID: two letters and 32 hex digits."""
    return prefix + uuid.uuid4().hex


def rfc2822(moment: dt.datetime | None) -> str | None:
    """Twilio's date format, e.g. ``Thu, 30 Jul 2015 20:12:31 +0000``."""
    return None if moment is None else email.utils.format_datetime(moment.replace(microsecond=0))


_GSM7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = frozenset("^{}\\[~]|€")


def num_segments(body: str) -> int:
    """How many SMS segments the body takes: GSM-7 (160, or 153 when split) or UCS-2 (70/67)."""
    if all(c in _GSM7 or c in _GSM7_EXTENDED for c in body):
        units = len(body) + sum(c in _GSM7_EXTENDED for c in body)
        single, part = 160, 153
    else:
        units = len(body.encode("utf-16-le")) // 2
        single, part = 70, 67
    return 1 if units <= single else -(-units // part)


@dataclasses.dataclass(slots=True, eq=False)
class Message:
    seq: int
    sid: str
    account_sid: str
    to: str
    from_: str
    body: str
    direction: str
    status: str
    date_created: dt.datetime
    date_updated: dt.datetime
    # Set when the fake takes the message (at once): what ``DateSent`` filters read.
    date_sent: dt.datetime
    status_callback: str | None = None
    messaging_service_sid: str | None = None
    error_code: int | None = None
    error_message: str | None = None

    def resource(self) -> dict[str, Any]:
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": self.body,
            "date_created": rfc2822(self.date_created),
            "date_sent": rfc2822(self.date_sent),
            "date_updated": rfc2822(self.date_updated),
            "direction": self.direction,
            "error_code": self.error_code,
            "error_message": self.error_message,
            "from": self.from_ or None,
            "messaging_service_sid": self.messaging_service_sid,
            "num_media": "0",
            "num_segments": str(num_segments(self.body)),
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {"media": f"{uri}/Media.json", "feedback": f"{uri}/Feedback.json"},
            "to": self.to,
            "uri": f"{uri}.json",
        }


@dataclasses.dataclass(slots=True, eq=False)
class Call:
    seq: int
    sid: str
    account_sid: str
    to: str
    from_: str
    status: str
    date_created: dt.datetime
    date_updated: dt.datetime
    # Set when the fake places the call (at once): what ``StartTime`` filters read.
    start_time: dt.datetime
    url: str | None
    twiml: str | None
    method: str
    status_callback: str | None
    status_callback_method: str
    status_callback_events: frozenset[str]
    machine_detection: str | None
    end_time: dt.datetime | None = None
    duration: int | None = None
    answered_by: str | None = None
    # A leg a <Dial> placed: "outbound-dial", and the call whose script dialled it.
    direction: str = "outbound-api"
    parent_call_sid: str | None = None
    # The voice simulator's record: what was said, gathered, dialled (GET /_fake/calls/{Sid}).
    transcript: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def resource(self) -> dict[str, Any]:
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{self.sid}"
        return {
            "account_sid": self.account_sid,
            "annotation": None,
            "answered_by": self.answered_by,
            "api_version": API_VERSION,
            "caller_name": None,
            "date_created": rfc2822(self.date_created),
            "date_updated": rfc2822(self.date_updated),
            "direction": self.direction,
            "duration": None if self.duration is None else str(self.duration),
            "end_time": rfc2822(self.end_time),
            "forwarded_from": None,
            "from": self.from_,
            "from_formatted": self.from_,
            "group_sid": None,
            "parent_call_sid": self.parent_call_sid,
            "phone_number_sid": None,
            "price": None,
            "price_unit": "USD",
            "queue_time": "0",
            "sid": self.sid,
            "start_time": rfc2822(self.start_time),
            "status": self.status,
            "subresource_uris": {
                "notifications": f"{uri}/Notifications.json",
                "recordings": f"{uri}/Recordings.json",
                "events": f"{uri}/Events.json",
            },
            "to": self.to,
            "to_formatted": self.to,
            "trunk_sid": None,
            "uri": f"{uri}.json",
        }


class Listed(Protocol):
    seq: int
    to: str
    from_: str
    status: str


R = TypeVar("R", bound=Listed)


@dataclasses.dataclass(frozen=True, slots=True)
class Window:
    """A list's time filter: ``at_least <= moment <= at_most`` (either side open)."""

    at_least: dt.datetime | None = None
    at_most: dt.datetime | None = None

    def holds(self, moment: dt.datetime) -> bool:
        moment = moment.replace(microsecond=0)  # Twilio's dates have whole seconds
        if self.at_least is not None and moment < self.at_least:
            return False
        return self.at_most is None or moment <= self.at_most


def newest_first(
    items: Sequence[R],
    moment: Callable[[R], dt.datetime],
    *,
    from_: str | None = None,
    status: str | None = None,
    window: Window = Window(),  # frozen, shared safely
    page_size: int = 50,
    skip: int = 0,
    before_seq: int | None = None,
) -> tuple[list[R], bool]:
    """One page of ``items`` (kept in creation order, moments never decreasing), newest first;
    and whether more follow. ``before_seq`` is the keyset cursor (the previous page's last)."""
    end = len(items) if before_seq is None else bisect.bisect_left(items, before_seq, key=_seq)
    page: list[R] = []
    for index in range(end - 1, -1, -1):
        item = items[index]
        when = moment(item)
        if window.at_least is not None and when.replace(microsecond=0) < window.at_least:
            break  # everything older is older still
        if (from_ is not None and item.from_ != from_) or (
            status is not None and item.status != status
        ):
            continue
        if not window.holds(when):
            continue
        if skip:
            skip -= 1
            continue
        if len(page) == page_size:
            return page, True
        page.append(item)
    return page, False


def _seq(item: Listed) -> int:
    return item.seq


class Store:
    """Every message and call since start (or the last reset), and the counts of them."""

    def __init__(self, account_sid: str) -> None:
        self.account_sid = account_sid
        self.messages: dict[str, Message] = {}
        self.message_order: list[Message] = []
        self.messages_by_to: defaultdict[str, list[Message]] = defaultdict(list)
        self.calls: dict[str, Call] = {}
        self.call_order: list[Call] = []
        self.calls_by_to: defaultdict[str, list[Call]] = defaultdict(list)
        self.message_status: Counter[str] = Counter()
        self.call_status: Counter[str] = Counter()
        self.inbound = 0
        # Outbound messages created per (to, body): the fault test's "each reminder exactly once".
        self.deliveries: dict[tuple[str, str], int] = {}
        self.duplicates: set[tuple[str, str]] = set()
        self._last_moment = dt.datetime.min.replace(tzinfo=dt.UTC)
        self._seq = 0

    def now(self) -> dt.datetime:
        """The wall clock, never going back: lists stop early on the creation order."""
        moment = max(dt.datetime.now(dt.UTC), self._last_moment)
        self._last_moment = moment
        return moment

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def add_message(
        self,
        *,
        to: str,
        from_: str,
        body: str,
        status_callback: str | None = None,
        messaging_service_sid: str | None = None,
        direction: str = "outbound-api",
    ) -> Message:
        now = self.now()
        inbound = direction == "inbound"
        message = Message(
            seq=self._next_seq(),
            sid=new_sid("SM"),
            account_sid=self.account_sid,
            to=to,
            from_=from_,
            body=body,
            direction=direction,
            status="received" if inbound else "queued",
            date_created=now,
            date_updated=now,
            date_sent=now,
            status_callback=status_callback,
            messaging_service_sid=messaging_service_sid,
        )
        self.messages[message.sid] = message
        self.message_order.append(message)
        self.messages_by_to[to].append(message)
        if inbound:
            self.inbound += 1
            return message
        self.message_status[message.status] += 1
        pair = (to, body)
        count = self.deliveries.get(pair, 0) + 1
        self.deliveries[pair] = count
        if count == 2:
            self.duplicates.add(pair)
        return message

    def set_message_status(
        self, message: Message, status: str, error_code: int | None = None
    ) -> None:
        self.message_status[message.status] -= 1
        self.message_status[status] += 1
        message.status = status
        message.date_updated = self.now()
        if error_code is not None:
            message.error_code = error_code
            message.error_message = ERROR_MESSAGES.get(error_code)

    def add_call(self, **fields: Any) -> Call:
        now = self.now()
        call = Call(
            seq=self._next_seq(),
            sid=new_sid("CA"),
            account_sid=self.account_sid,
            status="queued",
            date_created=now,
            date_updated=now,
            start_time=now,
            **fields,
        )
        self.calls[call.sid] = call
        self.call_order.append(call)
        self.calls_by_to[call.to].append(call)
        self.call_status["queued"] += 1
        return call

    def set_call_status(self, call: Call, status: str) -> None:
        self.call_status[call.status] -= 1
        self.call_status[status] += 1
        call.status = status
        call.date_updated = self.now()
        if status in CALL_FINAL:
            call.end_time = call.date_updated

    def counts(self) -> dict[str, Any]:
        return {
            "messages": {
                "created": sum(self.deliveries.values()),
                "inbound": self.inbound,
                "by_status": {k: v for k, v in sorted(self.message_status.items()) if v},
            },
            "calls": {
                "created": len(self.calls),
                "by_status": {k: v for k, v in sorted(self.call_status.items()) if v},
            },
            "deliveries": _nested(self.deliveries),
            "duplicates": [
                {"to": to, "body": body, "count": self.deliveries[(to, body)]}
                for to, body in sorted(self.duplicates)
            ],
        }


def _nested(pairs: dict[tuple[str, str], int]) -> dict[str, dict[str, int]]:
    nested: dict[str, dict[str, int]] = {}
    for (to, body), count in pairs.items():
        nested.setdefault(to, {})[body] = count
    return nested


# The delivery errors a fault can end a message with, in Twilio's words.
ERROR_MESSAGES = {
    30003: "Unreachable destination handset",
    30005: "Unknown destination handset",
}
