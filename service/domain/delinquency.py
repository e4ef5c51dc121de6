"""Delinquency rules as pure functions: where a loan stands on a date.

Sources (DESIGN.md §1-§2): DPD from the oldest unpaid installment; buckets M0-M7+; amount tiers
S/M/L/XL; five-category classification (profiles ``cn_bank_2023`` after 《商业银行金融资产风险分类
办法》(2023) and ``cn_card_2011`` after 《商业银行信用卡业务监督管理办法》(2011)); daily penalty
interest (罚息) capped so the all-in annual cost stays within the profile cap.

Conventions, chosen so every figure can be recomputed from the schedule and the payments alone:

* an installment is *overdue* from the day after its due date; DPD = as-of − due date of the
  oldest installment whose principal or interest is still unpaid (0 when none is overdue);
* penalty for day *d* accrues on the principal and interest of every installment overdue on *d*
  and still unpaid at the end of day *d − 1*; a payment dated *d* is applied after day *d*'s
  accrual, so an installment paid one day late carries one day of penalty;
* payments are applied on their date, installment by installment from the oldest (future
  installments too: a prepayment), and within an installment in the waterfall's order (default
  penalty → interest → principal); what is left over is kept as credit;
* each day's penalty on an installment is rounded half-up to cents (unpaid × daily rate), so a
  stretch of *n* days accrues *n* equal daily amounts whether it is computed day by day, from one
  payment to the next, or in one step: the nightly COB and a full replay agree to the cent.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Iterable, Sequence
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from service.errors import ConfigurationError

CENT = Decimal("0.01")
ZERO = Decimal(0)
DAYS_PER_YEAR = 365


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


# --- schedule, payments, waterfall ---------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Installment:
    seq: int
    due_on: dt.date
    principal: Decimal
    interest: Decimal


@dataclasses.dataclass(frozen=True, slots=True)
class Payment:
    paid_on: dt.date
    amount: Decimal


class Component(enum.StrEnum):
    penalty = "penalty"
    interest = "interest"
    principal = "principal"


DEFAULT_WATERFALL: tuple[Component, ...] = (
    Component.penalty,
    Component.interest,
    Component.principal,
)


def validate_waterfall(order: Sequence[str]) -> tuple[Component, ...]:
    try:
        components = tuple(Component(name) for name in order)
    except ValueError:
        raise ConfigurationError(
            f"waterfall {list(order)} must order penalty, interest and principal"
        ) from None
    if sorted(components) != sorted(Component):
        raise ConfigurationError(
            f"waterfall {list(order)} must name penalty, interest and principal once each"
        )
    return components


# --- penalty interest ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class PenaltyPolicy:
    """Default daily penalty rate and the all-in annual cap (contract rate + penalty × 365)."""

    daily_rate: Decimal = Decimal("0.0005")  # 万分之五 a day
    annual_cap: Decimal = Decimal("0.24")  # licensed lenders' default ceiling

    def __post_init__(self) -> None:
        if self.daily_rate < 0 or self.annual_cap <= 0:
            raise ConfigurationError("penalty rate must not be negative and the cap positive")
        yearly = self.daily_rate * DAYS_PER_YEAR
        if yearly > self.annual_cap:
            raise ConfigurationError(
                f"a penalty of {_percent(self.daily_rate)} a day is {_percent(yearly)} a year, "
                f"above the {_percent(self.annual_cap)} annual cap; lower the rate or the cap "
                "must be raised by the profile"
            )

    def rate_for(self, annual_rate: Decimal, loan_daily_rate: Decimal | None = None) -> Decimal:
        """The daily rate charged on this loan: its own (or the default), within the cap."""
        wanted = self.daily_rate if loan_daily_rate is None else loan_daily_rate
        return capped_rate(annual_rate, wanted, self.annual_cap)


RATE_STEP = Decimal("1e-10")


def capped_rate(annual_rate: Decimal, wanted: Decimal, annual_cap: Decimal) -> Decimal:
    """The daily penalty rate within the cap, cut (never rounded up) to 10 decimal places."""
    headroom = ((annual_cap - annual_rate) / DAYS_PER_YEAR).quantize(RATE_STEP, ROUND_DOWN)
    return max(ZERO, min(wanted, headroom))


def _percent(rate: Decimal) -> str:
    text = f"{(rate * 100).normalize():f}"
    return f"{text} %"


# --- where a loan stands -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class LoanPosition:
    as_of: dt.date
    days_past_due: int
    oldest_unpaid_due_on: dt.date | None
    overdue_principal: Decimal
    overdue_interest: Decimal
    penalty_accrued: Decimal
    penalty_unpaid: Decimal
    principal_outstanding: Decimal
    paid_total: Decimal
    credit: Decimal
    overdue_installments: int
    # Installments past their due date, settled by it / not (the credit coefficient's inputs).
    installments_on_time: int = 0
    installments_late: int = 0

    @property
    def overdue_amount(self) -> Decimal:
        """Principal and interest past their due date and unpaid (penalty not included)."""
        return self.overdue_principal + self.overdue_interest

    @property
    def outstanding(self) -> Decimal:
        """What the borrower owes today: all unpaid principal, overdue interest, unpaid penalty."""
        return self.principal_outstanding + self.overdue_interest + self.penalty_unpaid

    @property
    def settled(self) -> bool:
        return (
            self.principal_outstanding == 0
            and self.overdue_interest == 0
            and (self.penalty_unpaid == 0)
        )


@dataclasses.dataclass(slots=True)
class _Open:
    installment: Installment
    principal: Decimal
    interest: Decimal
    penalty: Decimal = ZERO  # accrued
    penalty_paid: Decimal = ZERO
    settled_on: dt.date | None = None

    def paid_on_time(self) -> bool:
        if self.settled_on is None:
            return self.unpaid == 0  # nothing was ever owed
        return self.settled_on <= self.installment.due_on

    @property
    def unpaid(self) -> Decimal:
        return self.principal + self.interest

    def penalty_due(self) -> Decimal:
        return self.penalty - self.penalty_paid

    def take(self, component: Component, available: Decimal) -> Decimal:
        """Pay what ``available`` covers of one component; return what was used."""
        if component is Component.penalty:
            used = min(available, max(ZERO, self.penalty_due()))
            self.penalty_paid += used
        elif component is Component.interest:
            used = min(available, self.interest)
            self.interest -= used
        else:
            used = min(available, self.principal)
            self.principal -= used
        return used


def loan_position(
    schedule: Iterable[Installment],
    payments: Iterable[Payment],
    as_of: dt.date,
    *,
    daily_penalty_rate: Decimal,
    waterfall: Sequence[Component] = DEFAULT_WATERFALL,
) -> LoanPosition:
    """Replay the schedule and the payments up to ``as_of`` (payments after it are ignored)."""
    book = [_Open(i, i.principal, i.interest) for i in sorted(schedule, key=lambda i: i.seq)]
    by_day: dict[dt.date, Decimal] = {}
    for payment in payments:
        if payment.paid_on <= as_of:
            by_day[payment.paid_on] = by_day.get(payment.paid_on, ZERO) + payment.amount
    credit = ZERO
    accrued_to: dt.date | None = None
    for day in sorted(by_day):
        _accrue(book, accrued_to, day, daily_penalty_rate)
        accrued_to = day
        credit += _allocate(book, by_day[day], waterfall)
        for entry in book:
            if entry.settled_on is None and entry.unpaid == 0:
                entry.settled_on = day
    _accrue(book, accrued_to, as_of, daily_penalty_rate)
    overdue = [entry for entry in book if entry.installment.due_on < as_of]
    oldest = next((entry for entry in overdue if entry.unpaid > 0), None)
    return LoanPosition(
        as_of=as_of,
        days_past_due=(as_of - oldest.installment.due_on).days if oldest else 0,
        oldest_unpaid_due_on=oldest.installment.due_on if oldest else None,
        overdue_principal=sum((e.principal for e in overdue), ZERO),
        overdue_interest=sum((e.interest for e in overdue), ZERO),
        penalty_accrued=sum((e.penalty for e in book), ZERO),
        penalty_unpaid=sum((e.penalty_due() for e in book), ZERO),
        principal_outstanding=sum((e.principal for e in book), ZERO),
        paid_total=sum(by_day.values(), ZERO),
        credit=credit,
        overdue_installments=sum(1 for e in overdue if e.unpaid > 0),
        installments_on_time=sum(1 for e in overdue if e.paid_on_time()),
        installments_late=sum(1 for e in overdue if not e.paid_on_time()),
    )


@dataclasses.dataclass(frozen=True, slots=True)
class CreditSteps:
    """The borrower's credit coefficient: 1 plus ``up`` per installment paid by its due date,
    minus ``down`` per installment paid late or still overdue, kept within [floor, ceiling]."""

    up: Decimal = Decimal("0.01")
    down: Decimal = Decimal("0.05")
    floor: Decimal = Decimal("0.5")
    ceiling: Decimal = Decimal("1.5")

    def __post_init__(self) -> None:
        if self.up < 0 or self.down < 0 or not 0 <= self.floor <= 1 <= self.ceiling:
            raise ConfigurationError("credit steps must not be negative and floor <= 1 <= ceiling")

    def coefficient(self, on_time: int, late: int) -> Decimal:
        raw = 1 + self.up * on_time - self.down * late
        return min(self.ceiling, max(self.floor, raw)).quantize(Decimal("0.001"))


def _accrue(book: list[_Open], after: dt.date | None, through: dt.date, rate: Decimal) -> None:
    """Penalty for the days in (after, through] on each overdue installment's unpaid amount."""
    if rate == 0:
        return
    for entry in book:
        start = entry.installment.due_on if after is None else max(after, entry.installment.due_on)
        days = (through - start).days
        if days > 0 and entry.unpaid > 0:
            entry.penalty += daily_penalty(entry.unpaid, rate) * days


def daily_penalty(unpaid: Decimal, rate: Decimal) -> Decimal:
    """One day's penalty on an unpaid amount, in cents (half-up)."""
    return cents(unpaid * rate)


def _allocate(book: list[_Open], amount: Decimal, waterfall: Sequence[Component]) -> Decimal:
    """Apply ``amount`` oldest installment first, components in waterfall order; return credit."""
    left = amount
    for entry in book:
        for component in waterfall:
            if left <= 0:
                return ZERO
            left -= entry.take(component, left)
    return left


# --- buckets, tiers, classification --------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class BucketScheme:
    """DPD bands. ``upper`` are the inclusive upper DPD of M0, M1, ...; beyond the last: M{n}+."""

    upper: tuple[int, ...] = (0, 30, 60, 90, 120, 150, 180)

    def __post_init__(self) -> None:
        if not self.upper or self.upper[0] != 0:
            raise ConfigurationError("the first bucket (M0) must end at DPD 0")
        if any(b <= a for a, b in zip(self.upper, self.upper[1:], strict=False)):
            raise ConfigurationError(f"bucket edges {self.upper} must increase strictly")

    @property
    def labels(self) -> tuple[str, ...]:
        return (*(f"M{i}" for i in range(len(self.upper))), f"M{len(self.upper)}+")

    def bucket(self, days_past_due: int) -> str:
        for index, upper in enumerate(self.upper):
            if days_past_due <= upper:
                return f"M{index}"
        return f"M{len(self.upper)}+"


@dataclasses.dataclass(frozen=True, slots=True)
class TierScheme:
    """Bands of outstanding principal: ``upper`` inclusive bounds of all tiers but the last."""

    upper: tuple[Decimal, ...] = (Decimal(100_000), Decimal(300_000), Decimal(1_000_000))
    labels: tuple[str, ...] = ("S", "M", "L", "XL")

    def __post_init__(self) -> None:
        if len(self.labels) != len(self.upper) + 1:
            raise ConfigurationError("amount tiers need one more label than bounds")
        if any(b <= a for a, b in zip(self.upper, self.upper[1:], strict=False)):
            raise ConfigurationError(f"amount tier bounds {self.upper} must increase strictly")

    def tier(self, amount: Decimal) -> str:
        for label, upper in zip(self.labels, self.upper, strict=False):
            if amount <= upper:
                return label
        return self.labels[-1]


class RiskClass(enum.IntEnum):
    """Five-category classification (五级分类), ordered from best to worst."""

    normal = 0  # 正常
    special_mention = 1  # 关注
    substandard = 2  # 次级
    doubtful = 3  # 可疑
    loss = 4  # 损失

    @property
    def label_zh(self) -> str:
        return ("正常", "关注", "次级", "可疑", "损失")[self.value]


@dataclasses.dataclass(frozen=True, slots=True)
class ClassificationProfile:
    """DPD at which a loan becomes at least 关注, 次级, 可疑 and 损失."""

    name: str
    edges: tuple[int, int, int, int]

    def classify(self, days_past_due: int, flags: Iterable[str] = ()) -> RiskClass:
        by_days = RiskClass.normal
        for risk, edge in zip(list(RiskClass)[1:], self.edges, strict=True):
            if days_past_due >= edge:
                by_days = risk
        by_flags = max((FLAG_FLOORS[flag] for flag in flags), default=RiskClass.normal)
        return max(by_days, by_flags)


# 《商业银行金融资产风险分类办法》(2023): overdue at all → at least 关注; > 90 days → 次级;
# > 270 → 可疑; > 360 → 损失.
CN_BANK_2023 = ClassificationProfile("cn_bank_2023", (1, 91, 271, 361))
# 《商业银行信用卡业务监督管理办法》(2011) art. 70: overdue 91-120 days 次级, 121-180 可疑,
# over 180 损失.
CN_CARD_2011 = ClassificationProfile("cn_card_2011", (1, 91, 121, 181))
CLASSIFICATION_PROFILES = {p.name: p for p in (CN_BANK_2023, CN_CARD_2011)}

# Qualitative floors: a restructured loan is at least 关注 (2023 rules, art. 11: restructured
# assets are classified at least 关注); bankruptcy, fraud and a deceased borrower without estate
# are at least 次级 (the debtor's capacity to repay is clearly impaired).
FLAG_FLOORS: dict[str, RiskClass] = {
    "restructured": RiskClass.special_mention,
    "bankruptcy": RiskClass.substandard,
    "fraud": RiskClass.substandard,
    "deceased": RiskClass.substandard,
}


# --- the rules of one portfolio ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class CobConfig:
    """Every rule close of business applies, built from the settings (``Settings.cob_config``)."""

    buckets: BucketScheme = dataclasses.field(default_factory=BucketScheme)
    tiers: TierScheme = dataclasses.field(default_factory=TierScheme)
    classification: ClassificationProfile = CN_BANK_2023
    penalty: PenaltyPolicy = dataclasses.field(default_factory=PenaltyPolicy)
    waterfall: tuple[Component, ...] = DEFAULT_WATERFALL
    credit: CreditSteps = dataclasses.field(default_factory=CreditSteps)
