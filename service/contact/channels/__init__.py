"""How a message leaves: one interface (:mod:`.base`), a console and a Twilio implementation,
picked once from the settings by :func:`open_channel`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

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
    "open_channel",
]


@contextlib.asynccontextmanager
async def open_channel(settings: Settings) -> AsyncIterator[ContactChannel]:
    """The channel the settings name (ARREARS_CHANNEL), opened inside the running loop and
    closed afterwards."""
    channel: ContactChannel
    if settings.channel == "twilio":
        from service.contact.channels.twilio import TwilioChannel  # the SDK only when used

        channel = TwilioChannel(settings)
    else:
        channel = ConsoleChannel(settings)
    try:
        yield channel
    finally:
        await channel.close()
