"""Promises to pay (PTP): their states and how payments keep them (DESIGN.md §1).

A promise is *kept* when what was paid toward it reaches the amount by its date plus the grace
days, *partially kept* when something but not all of it came by then, *broken* when nothing
did. The states move forward only: a settled promise never changes again, and a payment that
arrives later counts toward the next promise, not a settled one.

Several promises on one loan (the instalments of a promise, or of an arrangement) are kept in
date order: each payment goes to the earliest promise it can still count for — one made on or
before the day it was paid, not yet settled, whose deadline has not passed — and what is left
of it to the next. Pure and total: :func:`evaluate` never reads a clock or a database.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Iterable, Sequence
from decimal import Decimal

from service.domain.promises import MAX_AMOUNT, MAX_DAYS_AHEAD


class PromiseStatus(enum.StrEnum):
    proposed = "proposed"  # read from a reply ("PAY 500 FRI"): a collector confirms or drops it
    pending = "pending"
    kept = "kept"
    partially_kept = "partially_kept"
    broken = "broken"
    cancelled = "cancelled"  # dropped before its date (a rejected proposal, a defaulted plan)


# Settled: what payments did to it is final.
SETTLED = frozenset({PromiseStatus.kept, PromiseStatus.partially_kept, PromiseStatus.broken})
# Missed: the account goes back to collections and the plan's follow-up step starts.
MISSED = frozenset({PromiseStatus.partially_kept, PromiseStatus.broken})
# Where each state may go (forward only).
MOVES: dict[PromiseStatus, frozenset[PromiseStatus]] = {
    PromiseStatus.proposed: frozenset({PromiseStatus.pending, PromiseStatus.cancelled}),
    PromiseStatus.pending: frozenset({*SETTLED, PromiseStatus.cancelled}),
    PromiseStatus.kept: frozenset(),
    PromiseStatus.partially_kept: frozenset(),
    PromiseStatus.broken: frozenset(),
    PromiseStatus.cancelled: frozenset(),
}


@dataclasses.dataclass(frozen=True, slots=True)
class Terms:
    """A promise as it stands: ``made_on`` is the lender's date it was taken (a payment before
    it is not toward it); ``paid`` what counted toward it so far."""

    id: int
    amount: Decimal
    promised_on: dt.date
    made_on: dt.date
    status: PromiseStatus
    paid: Decimal = Decimal(0)


@dataclasses.dataclass(frozen=True, slots=True)
class Paid:
    """A payment on the loan (``order`` breaks ties of one day: the order they were stored)."""

    paid_on: dt.date
    amount: Decimal
    order: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    """A promise's state after the payments known on the day: ``settled_on`` is the day the
    payment completing it was made (kept), or the first day after its deadline (missed)."""

    id: int
    status: PromiseStatus
    paid: Decimal
    settled_on: dt.date | None


def terms_problems(amount: Decimal, promised_on: dt.date, today: dt.date) -> list[dict[str, str]]:
    """What is wrong with a promise a person takes (none: it can be taken) — a positive amount
    with two decimals at most, below the columns' bound, by a day from today to
    :data:`~service.domain.promises.MAX_DAYS_AHEAD` ahead: the bounds a reply's promise is read
    within too."""
    problems = []
    if amount <= 0 or amount > MAX_AMOUNT or amount != amount.quantize(Decimal("0.01")):
        problems.append({"field": "amount", "reason": "a positive amount with two decimals"})
    if not today <= promised_on <= today + dt.timedelta(days=MAX_DAYS_AHEAD):
        problems.append(
            {"field": "promised_on", "reason": f"from today to {MAX_DAYS_AHEAD} days ahead"}
        )
    return problems


def deadline(promised_on: dt.date, grace_days: int) -> dt.date:
    """The last day a payment keeps a promise of ``promised_on``."""
    return promised_on + dt.timedelta(days=grace_days)


def evaluate(
    promises: Iterable[Terms], payments: Iterable[Paid], as_of: dt.date, grace_days: int
) -> list[Outcome]:
    """Every open or settled promise of one loan after the payments made up to ``as_of``
    (later ones are not known yet), in date order. Proposed and cancelled promises are left
    out: payments are never counted toward them."""
    ordered = sorted(
        (p for p in promises if p.status is PromiseStatus.pending or p.status in SETTLED),
        key=lambda p: (p.promised_on, p.id),
    )
    left = [
        _Left(payment.paid_on, payment.amount)
        for payment in sorted(payments, key=lambda p: (p.paid_on, p.order))
        if payment.paid_on <= as_of and payment.amount > 0
    ]
    outcomes: list[Outcome] = []
    for promise in ordered:
        last = deadline(promise.promised_on, grace_days)
        if promise.status in SETTLED:
            # What it took stays taken (from the earliest payments it could count).
            _take(left, promise, last, promise.paid)
            outcomes.append(Outcome(promise.id, promise.status, promise.paid, None))
            continue
        paid, completed_on = _take(left, promise, last, promise.amount)
        if paid >= promise.amount:
            outcomes.append(Outcome(promise.id, PromiseStatus.kept, paid, completed_on))
        elif as_of > last:
            missed = PromiseStatus.partially_kept if paid > 0 else PromiseStatus.broken
            outcomes.append(Outcome(promise.id, missed, paid, last + dt.timedelta(days=1)))
        else:
            outcomes.append(Outcome(promise.id, PromiseStatus.pending, paid, None))
    return outcomes


@dataclasses.dataclass(slots=True)
class _Left:
    """What of a payment is not yet counted toward any promise."""

    paid_on: dt.date
    amount: Decimal


def _take(
    left: list[_Left], promise: Terms, last: dt.date, wanted: Decimal
) -> tuple[Decimal, dt.date | None]:
    """Take up to ``wanted`` from the payments made from the promise's day to its deadline,
    earliest first; returns what was taken and the day of the last payment it came from."""
    taken, on = Decimal(0), None
    for entry in left:
        if taken >= wanted:
            break
        if entry.paid_on < promise.made_on or entry.paid_on > last or entry.amount <= 0:
            continue
        share = min(entry.amount, wanted - taken)
        entry.amount -= share
        taken += share
        on = entry.paid_on
    return taken, on


def changed(before: Sequence[Terms], after: Sequence[Outcome]) -> list[Outcome]:
    """The outcomes that differ from what is stored (a state or what was paid toward it)."""
    stored = {p.id: (p.status, p.paid) for p in before}
    return [o for o in after if stored.get(o.id) != (o.status, o.paid)]
