"""Arrangements: payment plans (the balance over N instalments) and settlement offers (a
discount on the balance, paid in one or more instalments) — their states, who must approve
them, and their instalments. Pure rules; service.contact.arrangements stores them.

Approval follows the source policies' tiers by amount (DESIGN.md §2: 10万 / 30万 / 100万 by
default, ``ARREARS_APPROVAL_TIERS``), applied to what the lender puts at stake — the balance a
payment plan reschedules, the discount a settlement gives up:

* up to the first tier a payment plan is the collector's to agree (it starts at once); a
  settlement always needs at least a supervisor, since it forgives part of the debt;
* up to the second tier a supervisor approves;
* up to the third an administrator approves;
* above the third tier it is not Arrears' to approve (the lender's credit committee decides,
  outside this system): it is refused with that reason.

Whoever proposed an arrangement never approves it (a CHECK in the database, too).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from decimal import ROUND_DOWN, Decimal


class ArrangementKind(enum.StrEnum):
    payment_plan = "payment_plan"
    settlement = "settlement"


class ArrangementStatus(enum.StrEnum):
    """proposed → active | rejected; active → kept | broken | cancelled. Forward only."""

    proposed = "proposed"
    active = "active"
    rejected = "rejected"
    kept = "kept"  # every instalment kept
    broken = "broken"  # an instalment missed: the account goes back to collections
    cancelled = "cancelled"


OPEN = frozenset({ArrangementStatus.proposed, ArrangementStatus.active})


class ApprovalLevel(enum.StrEnum):
    none = "none"
    supervisor = "supervisor"
    admin = "admin"


DEFAULT_TIERS = (Decimal(100_000), Decimal(300_000), Decimal(1_000_000))
MAX_INSTALMENTS = 60


class BeyondApproval(ValueError):
    """Above the top tier: not for Arrears to approve."""


def at_stake(kind: ArrangementKind, balance: Decimal, total: Decimal) -> Decimal:
    """What the lender puts at stake: the balance a plan reschedules, the discount a
    settlement gives up."""
    return balance if kind is ArrangementKind.payment_plan else max(balance - total, Decimal(0))


def approval_needed(
    kind: ArrangementKind, balance: Decimal, total: Decimal, tiers: Sequence[Decimal]
) -> ApprovalLevel:
    """Who must approve an arrangement (see the module's docstring); raises
    :class:`BeyondApproval` above the top tier."""
    first, second, third = tiers
    amount = at_stake(kind, balance, total)
    if amount > third:
        raise BeyondApproval(
            f"{amount:.2f} at stake is above {third:.2f}: the credit committee decides, not Arrears"
        )
    if amount > second:
        return ApprovalLevel.admin
    if amount > first or kind is ArrangementKind.settlement:
        return ApprovalLevel.supervisor
    return ApprovalLevel.none


def may_approve(level: ApprovalLevel, role: str) -> bool:
    """Whether a user of ``role`` may approve at ``level`` (an admin may approve anything)."""
    if level is ApprovalLevel.admin:
        return role == "admin"
    return role in ("supervisor", "admin")


def instalments(
    total: Decimal, count: int, first_on: dt.date, every_days: int
) -> list[tuple[dt.date, Decimal]]:
    """``total`` in ``count`` instalments ``every_days`` apart from ``first_on``: equal
    amounts rounded down to the cent, the remainder on the last one (they sum to ``total``)."""
    if count < 1 or count > MAX_INSTALMENTS:
        raise ValueError(f"an arrangement has 1 to {MAX_INSTALMENTS} instalments")
    if count > 1 and every_days < 1:
        raise ValueError("instalments are at least a day apart")
    share = (total / count).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
    amounts = [share] * (count - 1) + [total - share * (count - 1)]
    return [
        (first_on + dt.timedelta(days=every_days * n), amount) for n, amount in enumerate(amounts)
    ]


def status_from_instalments(statuses: Sequence[str]) -> ArrangementStatus:
    """An active arrangement's state from its instalments' (promise states): broken as soon as
    one is missed, kept when all are kept, active otherwise."""
    if any(s in ("broken", "partially_kept") for s in statuses):
        return ArrangementStatus.broken
    if statuses and all(s == "kept" for s in statuses):
        return ArrangementStatus.kept
    return ArrangementStatus.active
