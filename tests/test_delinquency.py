"""Delinquency rules: worked examples from the source policies, and properties for any history."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.domain.delinquency import (
    CN_BANK_2023,
    CN_CARD_2011,
    BucketScheme,
    CreditSteps,
    Installment,
    Payment,
    PenaltyPolicy,
    RiskClass,
    TierScheme,
    loan_position,
    validate_waterfall,
)
from service.errors import ConfigurationError

D = Decimal
START = dt.date(2026, 1, 1)


def monthly(count: int, principal: str = "1000.00", interest: str = "100.00") -> list[Installment]:
    return [
        Installment(seq, dt.date(2026, seq, 1), D(principal), D(interest))
        for seq in range(1, count + 1)
    ]


@pytest.mark.parametrize(
    ("dpd", "bucket", "risk"),
    [
        (0, "M0", RiskClass.normal),
        (1, "M1", RiskClass.special_mention),
        (30, "M1", RiskClass.special_mention),
        (31, "M2", RiskClass.special_mention),
        (90, "M3", RiskClass.special_mention),
        (91, "M4", RiskClass.substandard),
        (181, "M7+", RiskClass.substandard),
        (271, "M7+", RiskClass.doubtful),
        (361, "M7+", RiskClass.loss),
    ],
)
def test_buckets_and_bank_classification(dpd: int, bucket: str, risk: RiskClass) -> None:
    assert BucketScheme().bucket(dpd) == bucket
    assert CN_BANK_2023.classify(dpd) is risk


@pytest.mark.parametrize(
    ("dpd", "risk"),
    [(91, RiskClass.substandard), (120, RiskClass.substandard), (121, RiskClass.doubtful),
     (180, RiskClass.doubtful), (181, RiskClass.loss)],
)  # fmt: skip
def test_card_classification(dpd: int, risk: RiskClass) -> None:
    assert CN_CARD_2011.classify(dpd) is risk


def test_qualitative_flags_set_a_floor_never_a_ceiling() -> None:
    assert CN_BANK_2023.classify(0, ["restructured"]) is RiskClass.special_mention
    assert CN_BANK_2023.classify(10, ["bankruptcy"]) is RiskClass.substandard
    assert CN_BANK_2023.classify(400, ["restructured"]) is RiskClass.loss
    assert RiskClass.doubtful.label_zh == "可疑"


def test_amount_tiers_follow_the_source_policy_bands() -> None:
    tiers = TierScheme()
    amounts = ("100000", "100000.01", "300000", "1000000", "1000000.01")
    assert [tiers.tier(D(v)) for v in amounts] == ["S", "M", "M", "L", "XL"]


def test_ten_thousand_overdue_for_thirty_days_accrues_150() -> None:
    schedule = [Installment(1, dt.date(2026, 3, 1), D("9000.00"), D("1000.00"))]
    position = loan_position(schedule, [], dt.date(2026, 3, 31), daily_penalty_rate=D("0.0005"))
    assert position.days_past_due == 30
    assert position.overdue_amount == D("10000.00")
    assert position.penalty_accrued == D("150.00")


def test_the_cap_limits_a_7_2_percent_loan_to_24_percent_all_in() -> None:
    policy = PenaltyPolicy(daily_rate=D("0.0005"), annual_cap=D("0.24"))
    rate = policy.rate_for(D("0.072"))
    assert rate < D("0.0005")
    all_in = D("0.072") + rate * 365
    assert D("0.24") - D("1e-7") < all_in <= D("0.24")  # cut to 10 places, never rounded up
    # A loan already at the cap pays no penalty at all; one well below pays the full rate.
    assert policy.rate_for(D("0.24")) == 0
    assert policy.rate_for(D("0.05")) == D("0.0005")


def test_a_penalty_above_the_cap_is_refused_with_the_arithmetic() -> None:
    with pytest.raises(ConfigurationError, match=r"0.5 % a day is 182.5 % a year, above the 24 %"):
        PenaltyPolicy(daily_rate=D("0.005"))


def test_a_partial_payment_that_does_not_clear_the_oldest_leaves_dpd_unchanged() -> None:
    schedule = monthly(3)
    as_of = dt.date(2026, 3, 15)
    unpaid = loan_position(schedule, [], as_of, daily_penalty_rate=D(0))
    partial = loan_position(
        schedule, [Payment(dt.date(2026, 3, 10), D("600.00"))], as_of, daily_penalty_rate=D(0)
    )
    assert unpaid.days_past_due == partial.days_past_due == (as_of - dt.date(2026, 1, 1)).days
    assert partial.overdue_amount == unpaid.overdue_amount - D("600.00")


def test_clearing_the_oldest_moves_dpd_to_the_next_installment() -> None:
    schedule = monthly(3)
    paid = loan_position(
        schedule,
        [Payment(dt.date(2026, 2, 20), D("1100.00"))],
        dt.date(2026, 3, 15),
        daily_penalty_rate=D(0),
    )
    assert paid.days_past_due == (dt.date(2026, 3, 15) - dt.date(2026, 2, 1)).days


def test_the_waterfall_pays_penalty_then_interest_then_principal() -> None:
    schedule = [Installment(1, dt.date(2026, 3, 1), D("1000.00"), D("100.00"))]
    # 1,100 overdue for 10 days at 0.1 %/day = 11.00 penalty; 111.00 covers penalty and interest.
    position = loan_position(
        schedule, [Payment(dt.date(2026, 3, 11), D("111.00"))], dt.date(2026, 3, 11),
        daily_penalty_rate=D("0.001"),
    )  # fmt: skip
    assert position.penalty_accrued == D("11.00")
    assert (position.penalty_unpaid, position.overdue_interest) == (D(0), D(0))
    assert position.overdue_principal == D("1000.00")
    principal_first = validate_waterfall(["principal", "interest", "penalty"])
    custom = loan_position(
        schedule, [Payment(dt.date(2026, 3, 11), D("111.00"))], dt.date(2026, 3, 11),
        daily_penalty_rate=D("0.001"), waterfall=principal_first,
    )  # fmt: skip
    assert custom.overdue_principal == D("889.00")
    assert custom.penalty_unpaid == D("11.00")


def test_an_overpayment_is_kept_as_credit_and_settles_the_loan() -> None:
    position = loan_position(
        monthly(2), [Payment(dt.date(2026, 1, 1), D("2500.00"))], dt.date(2026, 4, 1),
        daily_penalty_rate=D("0.0005"),
    )  # fmt: skip
    assert position.credit == D("300.00")
    assert position.settled
    assert position.days_past_due == 0


def test_a_payment_after_the_as_of_date_is_ignored() -> None:
    position = loan_position(
        monthly(1), [Payment(dt.date(2026, 2, 1), D("1100.00"))], dt.date(2026, 1, 20),
        daily_penalty_rate=D(0),
    )  # fmt: skip
    assert position.days_past_due == 19
    assert position.paid_total == 0


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        BucketScheme((0, 30, 30))
    with pytest.raises(ConfigurationError):
        TierScheme((D(10), D(5)), ("A", "B", "C"))
    with pytest.raises(ConfigurationError):
        validate_waterfall(["penalty", "interest"])


# --- properties ----------------------------------------------------------------------------------

amounts = st.decimals(min_value=D("0.01"), max_value=D("5000"), places=2)


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[Installment], list[Payment], dt.date]:
    count = draw(st.integers(1, 8))
    schedule = [
        Installment(seq, START + dt.timedelta(days=30 * seq), draw(amounts), draw(amounts))
        for seq in range(1, count + 1)
    ]
    payments = [
        Payment(START + dt.timedelta(days=draw(st.integers(0, 400))), draw(amounts))
        for _ in range(draw(st.integers(0, 10)))
    ]
    as_of = START + dt.timedelta(days=draw(st.integers(0, 500)))
    return schedule, payments, as_of


rates = st.sampled_from([D(0), D("0.0005"), D("0.00046027")])


@settings(max_examples=300, deadline=None)
@given(histories(), rates)
def test_every_payment_is_accounted_for(
    history: tuple[list[Installment], list[Payment], dt.date], rate: Decimal
) -> None:
    schedule, payments, as_of = history
    position = loan_position(schedule, payments, as_of, daily_penalty_rate=rate)
    principal = sum((i.principal for i in schedule), D(0))
    interest = sum((i.interest for i in schedule), D(0))
    paid_principal = principal - position.principal_outstanding
    assert position.paid_total == sum((p.amount for p in payments if p.paid_on <= as_of), D(0))
    assert position.credit >= 0
    assert paid_principal >= 0
    assert position.penalty_unpaid >= 0
    assert position.penalty_accrued >= position.penalty_unpaid
    penalty_paid = position.penalty_accrued - position.penalty_unpaid
    interest_paid = position.paid_total - position.credit - paid_principal - penalty_paid
    assert 0 <= interest_paid <= interest


@settings(max_examples=300, deadline=None)
@given(histories(), rates)
def test_dpd_is_never_negative_and_never_older_than_the_first_due_date(
    history: tuple[list[Installment], list[Payment], dt.date], rate: Decimal
) -> None:
    schedule, payments, as_of = history
    position = loan_position(schedule, payments, as_of, daily_penalty_rate=rate)
    assert position.days_past_due >= 0
    assert position.days_past_due <= max(0, (as_of - schedule[0].due_on).days)
    assert (position.days_past_due == 0) == (position.overdue_amount == 0)


@settings(max_examples=200, deadline=None)
@given(histories())
def test_paying_more_never_makes_a_loan_later(
    history: tuple[list[Installment], list[Payment], dt.date],
) -> None:
    schedule, payments, as_of = history
    extra = Payment(START, D("100.00"))
    before = loan_position(schedule, payments, as_of, daily_penalty_rate=D("0.0005"))
    after = loan_position(schedule, [*payments, extra], as_of, daily_penalty_rate=D("0.0005"))
    assert after.days_past_due <= before.days_past_due
    assert after.overdue_amount <= before.overdue_amount


def test_good_payers_gain_credit_and_late_payers_lose_it() -> None:
    steps = CreditSteps()
    on_time = loan_position(
        monthly(3), [Payment(dt.date(2026, m, 1), D("1100.00")) for m in (1, 2, 3)],
        dt.date(2026, 4, 1), daily_penalty_rate=D("0.0005"),
    )  # fmt: skip
    late = loan_position(
        monthly(3), [Payment(dt.date(2026, 1, 20), D("1100.00"))],
        dt.date(2026, 4, 1), daily_penalty_rate=D("0.0005"),
    )  # fmt: skip
    assert (on_time.installments_on_time, on_time.installments_late) == (3, 0)
    assert (late.installments_on_time, late.installments_late) == (0, 3)
    assert steps.coefficient(3, 0) == D("1.030")
    assert steps.coefficient(0, 3) == D("0.850")
    assert steps.coefficient(0, 100) == D("0.500")
    assert steps.coefficient(100, 0) == D("1.500")
