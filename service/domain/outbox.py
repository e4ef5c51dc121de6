"""The life of an outbox row and of what the provider reports back: the closed lists of states
and the only moves between them. Pure; the dispatcher's conditional updates are written from
:data:`MOVES`, so a row never goes back from a final state and two workers never hold one row.

::

    pending ──claim──▶ queued ──take──▶ sending ──▶ sent
       ▲  │              │                 │  └───▶ failed        (permanent, or retries spent)
       │  │              │                 └──────▶ pending       (transient: later, tries + 1)
       │  │              └─(job lost)─▶ pending
       │  └──▶ blocked | review | deferred | cancelled   (the guard, or the loan, at send time)
       └── deferred (the next plan or a defer's time)
"""

from __future__ import annotations

import enum


class OutboxStatus(enum.StrEnum):
    pending = "pending"  # allowed: waiting for its time and a worker
    queued = "queued"  # claimed for a job (``claim`` names the claim)
    sending = "sending"  # taken by a worker: handed to the channel, the outcome not yet stored
    sent = "sent"  # the channel accepted it (delivery is reported on the attempt)
    failed = "failed"  # not sent, for good: a permanent error, or the retries spent
    blocked = "blocked"  # the guard said no: kept with the reasons, never sent
    deferred = "deferred"  # not today (promise, caps, window): the next plan decides again
    review = "review"  # a person must look before it goes
    cancelled = "cancelled"


# The step of a text a collector sends from the account page (not a plan's step): decided by
# the guard as a person's contact (not automated dunning), to the number the collector chose,
# and logged as theirs.
COLLECTOR_SMS_STEP = "collector_sms"

FINAL = frozenset({OutboxStatus.sent, OutboxStatus.failed, OutboxStatus.cancelled})

# to-state -> the states it may be reached from.
MOVES: dict[OutboxStatus, frozenset[OutboxStatus]] = {
    OutboxStatus.queued: frozenset({OutboxStatus.pending}),
    OutboxStatus.sending: frozenset({OutboxStatus.queued}),
    OutboxStatus.sent: frozenset({OutboxStatus.sending}),
    OutboxStatus.failed: frozenset({OutboxStatus.sending, OutboxStatus.queued}),
    # A retry later, a job lost with its queue, or a defer's time not yet come.
    OutboxStatus.pending: frozenset(
        {OutboxStatus.queued, OutboxStatus.sending, OutboxStatus.deferred}
    ),
    OutboxStatus.blocked: frozenset({OutboxStatus.pending, OutboxStatus.queued}),
    OutboxStatus.review: frozenset({OutboxStatus.pending, OutboxStatus.queued}),
    OutboxStatus.deferred: frozenset({OutboxStatus.pending, OutboxStatus.queued}),
    OutboxStatus.cancelled: frozenset(
        {
            OutboxStatus.pending,
            OutboxStatus.queued,
            OutboxStatus.blocked,
            OutboxStatus.deferred,
            OutboxStatus.review,
        }
    ),
}


def may_move(before: OutboxStatus, after: OutboxStatus) -> bool:
    return before in MOVES.get(after, frozenset())


# What the provider reports, in the order it can happen: a report never moves an attempt back
# (status callbacks repeat and arrive out of order). Same rank: the first final word stands.
MESSAGE_STATUS_RANK: dict[str, int] = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
    "read": 5,
    "canceled": 4,
}
CALL_STATUS_RANK: dict[str, int] = {
    "queued": 1,
    "initiated": 2,
    "ringing": 3,
    "in-progress": 4,
    "completed": 5,
    "busy": 5,
    "no-answer": 5,
    "failed": 5,
    "canceled": 5,
}
FINAL_RANK = {"sms": 4, "call": 5}


def status_rank(channel: str, status: str) -> int | None:
    """The rank of a provider status on a channel; None for a status we do not know."""
    ranks = MESSAGE_STATUS_RANK if channel == "sms" else CALL_STATUS_RANK
    return ranks.get(status)


def advances(channel: str, stored: str | None, reported: str) -> bool:
    """Whether ``reported`` moves an attempt whose provider status is ``stored`` forward."""
    new = status_rank(channel, reported)
    if new is None:
        return False
    if stored is None:
        return True
    old = status_rank(channel, stored)
    if old is None:
        return True
    if old >= FINAL_RANK.get(channel, 5):
        # A final word stands ("read" after "delivered" is still news for SMS).
        return channel == "sms" and stored == "delivered" and reported == "read"
    return new > old
