"""Queue kinds: who works the accounts of a queue."""

from __future__ import annotations

import enum


class QueueKind(enum.StrEnum):
    collector = "collector"  # worked by collectors by phone
    field = "field"  # field visits (外访)
    legal = "legal"  # recovery and legal review
    agency = "agency"  # placed with an outside agency (委外); nobody here works it
    automated = "automated"  # automated reminders only


# Queues whose accounts people work, and so have a work list ("next account").
WORKED_KINDS = frozenset({QueueKind.collector, QueueKind.field, QueueKind.legal})
