"""The channel interface and its errors, the one place where a failure is decided transient
(try again later) or permanent (record and stop)::

    ChannelError
    ├── TransientError   429, 5xx, timeouts, connection resets; ``ambiguous`` when the provider
    │                    may have accepted the message before the failure (reconcile first)
    └── PermanentError   the provider refused this message for good (``code``: e.g. 21610
                         the number opted out, 21211 not a valid number)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Protocol

from service.domain.contact import AttemptResult


class ChannelError(Exception):
    def __init__(self, reason: str, code: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class TransientError(ChannelError):
    def __init__(self, reason: str, code: str | None = None, *, ambiguous: bool = False) -> None:
        super().__init__(reason, code)
        self.ambiguous = ambiguous


class PermanentError(ChannelError):
    pass


@dataclasses.dataclass(frozen=True, slots=True)
class Outgoing:
    """One message or call as it leaves."""

    outbox_id: int
    channel: str  # sms | call
    to: str
    sender: str
    body: str | None = None  # an SMS's text
    url: str | None = None  # a call: where its script (TwiML) is fetched
    status_callback: str | None = None
    # A call to a debtor asks who answered (a machine hears the limited script); a call that
    # rings our own collector to bridge them does not wait for that.
    detect_machine: bool = True


@dataclasses.dataclass(frozen=True, slots=True)
class Accepted:
    """The provider took it: its id, and the status it reported. ``result``: the contact log's
    result when the channel already knows it (the console's), else None (a callback tells)."""

    provider_ref: str
    status: str
    result: AttemptResult | None = None


class ContactChannel(Protocol):
    name: str

    async def send(self, message: Outgoing) -> Accepted:
        """Hand the message over; raises TransientError or PermanentError."""
        ...

    async def find(self, message: Outgoing, since: dt.datetime) -> list[str]:
        """The ids of copies of ``message`` the provider accepted since ``since`` (what a
        crash or a timeout may have left sent without our knowing), newest first."""
        ...

    async def close(self) -> None: ...
