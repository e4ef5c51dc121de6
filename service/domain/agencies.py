"""Agency placement (委外) rules: why a placement ends, and what the agency earns
(docs/agencies.md)."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import ROUND_HALF_UP, Decimal

# The outcome an agency_placement task is closed with when the account is placed.
PLACED = "placed"
CENT = Decimal("0.01")


class RecallReason(enum.StrEnum):
    """Why a placement ended: by hand, its recall date, or the account no longer needs one."""

    manual = "manual"
    recall_date = "recall_date"  # the planned recall date was reached
    cured = "cured"  # a payment after placement brought the overdue back to zero
    loan_closed = "loan_closed"  # the loan was paid off or closed


def recall_reason(
    *,
    loan_open: bool,
    overdue: Decimal,
    paid_since_placement: bool,
    recall_on: dt.date,
    as_of: dt.date,
) -> RecallReason | None:
    """Whether an active placement ends at the close of ``as_of``, and why — the first that
    holds: the loan closed, a payment since placement cured it, its recall date came. None:
    it stays placed. (An account that cured without a payment — a restructured schedule — is
    recalled by hand or on its date: nothing the agency collected cured it.)"""
    if not loan_open:
        return RecallReason.loan_closed
    if overdue <= 0 and paid_since_placement:
        return RecallReason.cured
    if recall_on <= as_of:
        return RecallReason.recall_date
    return None


def commission(collected: Decimal, rate: Decimal) -> Decimal:
    """What an agency earns on what it collected: collected × its rate, to the cent (half up)."""
    return (collected * rate).quantize(CENT, rounding=ROUND_HALF_UP)
