"""Supervisor KPIs as arithmetic over counts and amounts (DESIGN.md §1): recovery, roll and cure
rates, promise-kept and contact rates are each a part over a whole."""

from __future__ import annotations

from decimal import Decimal

RATE_PLACES = Decimal("0.0001")


def ratio(part: Decimal, whole: Decimal) -> Decimal | None:
    """``part / whole`` to four places; None when there is no whole to divide by (no accounts
    in the bucket, nothing overdue): a rate of nothing is unknown, not zero."""
    return (part / whole).quantize(RATE_PLACES) if whole else None
