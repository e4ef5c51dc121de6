"""Supervisor KPIs as arithmetic over counts and amounts (DESIGN.md §1): recovery, roll and cure
rates, promise-kept and contact rates are each a part over a whole."""

from __future__ import annotations

from decimal import Decimal

RATE_PLACES = Decimal("0.0001")


def ratio(part: Decimal, whole: Decimal) -> Decimal | None:
    """``part / whole`` to four places; None when there is no whole to divide by (no accounts
    in the bucket, nothing overdue): a rate of nothing is unknown, not zero."""
    return (part / whole).quantize(RATE_PLACES) if whole else None


def recovery_rate(collected: Decimal, overdue_at_start: Decimal) -> Decimal | None:
    """Recovery rate 回收率: amount collected in the period ÷ overdue balance at its start."""
    return ratio(collected, overdue_at_start)


def roll_rate(rolled: Decimal, in_bucket: Decimal) -> Decimal | None:
    """Roll rate 迁徙率: of what sat in bucket i at period-end t (accounts or balance), the
    share in bucket i+1 at t+1."""
    return ratio(rolled, in_bucket)


def cure_rate(cured: Decimal, in_bucket: Decimal) -> Decimal | None:
    """Cure rate: of the accounts in bucket i at t, the share current (M0) at t+1."""
    return ratio(cured, in_bucket)


def promise_kept_rate(kept: Decimal, falling_due: Decimal) -> Decimal | None:
    """PTP kept rate: promises kept by their date (+ grace) ÷ promises falling due (settled) in
    the period; amount-weighted with amounts paid ÷ amounts promised."""
    return ratio(kept, falling_due)


def contact_rate(connected: int, attempts: int) -> Decimal | None:
    """Contact rate: connected attempts ÷ attempts."""
    return ratio(Decimal(connected), Decimal(attempts))


def right_party_rate(right_party: int, attempts: int) -> Decimal | None:
    """RPC rate: right-party contacts ÷ attempts."""
    return ratio(Decimal(right_party), Decimal(attempts))
