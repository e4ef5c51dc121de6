"""How a message leaves: one interface (:mod:`.base`), a console and a Twilio implementation,
picked once from the settings by :func:`open_channel`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from service.contact.channels.base import (
    Accepted,
    ChannelError,
    ContactChannel,
    Outgoing,
    PermanentError,
    TransientError,
)
from service.contact.channels.console import ConsoleChannel
from service.settings import Settings

__all__ = [
    "Accepted",
    "ChannelError",
    "ContactChannel",
    "Outgoing",
    "PermanentError",
    "TransientError",
    "bridges_calls",
    "open_channel",
]


def _channel_class(settings: Settings) -> type[ConsoleChannel] | Any:
    """The channel class the settings name (ARREARS_CHANNEL): the one place it is picked."""
    if settings.channel == "twilio":
        from service.contact.channels.twilio import TwilioChannel  # the SDK only when used

        return TwilioChannel
    return ConsoleChannel


def bridges_calls(settings: Settings) -> bool:
    """Whether the channel these settings name can ring a collector's phone and connect it to
    a debtor's (click-to-call), asked without opening it."""
    return bool(_channel_class(settings).bridges_calls)


@contextlib.asynccontextmanager
async def open_channel(settings: Settings) -> AsyncIterator[ContactChannel]:
    """The channel the settings name (ARREARS_CHANNEL), opened inside the running loop and
    closed afterwards."""
    channel: ContactChannel = _channel_class(settings)(settings)
    try:
        yield channel
    finally:
        await channel.close()
