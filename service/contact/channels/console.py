"""The embedded default: nothing leaves the machine. Each message is logged (the number masked;
not its words, which name the debtor and the debt) and the dispatcher stores exactly what would
have been sent on its outbox row (``arrears outbox show``). A console SMS counts as delivered;
a console call as unanswered."""

from __future__ import annotations

import datetime as dt
import uuid

import structlog

from service.contact.channels.base import Accepted, Outgoing
from service.domain.contact import AttemptResult
from service.settings import Settings

log = structlog.get_logger(__name__)


class ConsoleChannel:
    name = "console"
    # Click-to-call needs a telephone network: nothing rings here, and pretending a call
    # happened would log a contact that never was.
    bridges_calls = False

    def __init__(self, settings: Settings) -> None:
        self._lender = settings.lender_name

    async def send(self, message: Outgoing) -> Accepted:
        ref = f"CO{uuid.uuid4().hex}"
        if message.channel == "sms":
            log.info(
                "contact.console_sms",
                outbox_id=message.outbox_id,
                to=message.to,
                sender=message.sender,
                characters=len(message.body or ""),
                provider_ref=ref,
            )
            return Accepted(ref, "delivered", AttemptResult.delivered)
        log.info(
            "contact.console_call",
            outbox_id=message.outbox_id,
            to=message.to,
            sender=message.sender,
            script=message.url,
            provider_ref=ref,
        )
        return Accepted(ref, "no-answer", AttemptResult.no_answer)

    async def find(self, message: Outgoing, since: dt.datetime) -> list[str]:
        # Nothing left the machine: sending again duplicates nothing anyone receives.
        return []

    async def close(self) -> None:
        return None
