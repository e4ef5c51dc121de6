"""The rules that decide whether promises were kept (service.domain.ptp) and who approves an
arrangement (service.domain.arrangements): pure, checked without a database."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.domain import ptp
from service.domain.arrangements import (
    ApprovalLevel,
    ArrangementKind,
    BeyondApproval,
    approval_needed,
    instalments,
    may_approve,
    status_from_instalments,
)
from service.domain.ptp import Paid, PromiseStatus, Terms

D = dt.date(2026, 12, 1)
TIERS = (Decimal(100_000), Decimal(300_000), Decimal(1_000_000))


def day(n: int) -> dt.date:
    return D + dt.timedelta(days=n)


def promise(id_: int, amount: str, on: int, made: int = 0) -> Terms:
    return Terms(id_, Decimal(amount), day(on), day(made), PromiseStatus.pending)


def states(outcomes: list[ptp.Outcome]) -> dict[int, tuple[str, str]]:
    return {o.id: (o.status.value, f"{o.paid:.2f}") for o in outcomes}


def test_kept_as_soon_as_paid_in_full_partly_or_broken_after_the_grace() -> None:
    promises = [promise(1, "500", 3), promise(2, "500", 3), promise(3, "500", 3)]
    # Before the date nothing is settled but what is paid in full.
    early = ptp.evaluate(promises[:1], [Paid(day(1), Decimal(500))], day(1), grace_days=2)
    assert states(early) == {1: ("kept", "500.00")}
    assert early[0].settled_on == day(1)
    # After date + grace: partly kept, broken.
    late = ptp.evaluate(promises[1:2], [Paid(day(5), Decimal(200))], day(6), grace_days=2)
    assert states(late) == {2: ("partially_kept", "200.00")}
    assert late[0].settled_on == day(6)  # the first day after date + grace
    assert states(ptp.evaluate(promises[2:], [], day(6), grace_days=2)) == {3: ("broken", "0.00")}
    # On the last day of the grace it is still open, with what came so far.
    open_ = ptp.evaluate(promises[1:2], [Paid(day(4), Decimal(200))], day(5), grace_days=2)
    assert states(open_) == {2: ("pending", "200.00")}


def test_instalments_are_kept_in_date_order_and_a_payment_counts_once() -> None:
    first, second = promise(1, "300", 2), promise(2, "300", 9)
    outcomes = ptp.evaluate([second, first], [Paid(day(1), Decimal(400))], day(3), grace_days=0)
    assert states(outcomes) == {1: ("kept", "300.00"), 2: ("pending", "100.00")}


def test_a_payment_before_the_promise_was_made_or_after_it_was_settled_is_not_toward_it() -> None:
    made_later = promise(1, "100", 5, made=3)
    assert states(ptp.evaluate([made_later], [Paid(day(2), Decimal(100))], day(4), 0)) == {
        1: ("pending", "0.00")
    }
    settled = Terms(1, Decimal(100), day(1), day(0), PromiseStatus.broken, Decimal(0))
    after = ptp.evaluate([settled], [Paid(day(4), Decimal(100))], day(5), 0)
    assert states(after) == {1: ("broken", "0.00")}  # forward only: never kept afterwards


def test_proposed_and_cancelled_promises_take_no_payment() -> None:
    proposed = Terms(1, Decimal(100), day(1), day(0), PromiseStatus.proposed)
    pending = promise(2, "100", 1)
    outcomes = ptp.evaluate([proposed, pending], [Paid(day(1), Decimal(100))], day(1), 0)
    assert states(outcomes) == {2: ("kept", "100.00")}


amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal(10_000), places=2)


@given(
    st.lists(st.tuples(amounts, st.integers(0, 20), st.integers(0, 10)), min_size=1, max_size=6),
    st.lists(st.tuples(st.integers(0, 30), amounts), max_size=8),
    st.integers(0, 40),
    st.integers(0, 5),
)
def test_what_promises_take_never_exceeds_what_was_paid_and_kept_means_in_full(
    terms: list[tuple[Decimal, int, int]],
    paid: list[tuple[int, Decimal]],
    as_of: int,
    grace: int,
) -> None:
    promises = [
        Terms(n, amount, day(made + ahead), day(made), PromiseStatus.pending)
        for n, (amount, ahead, made) in enumerate(terms)
    ]
    payments = [Paid(day(on), amount, n) for n, (on, amount) in enumerate(paid)]
    outcomes = ptp.evaluate(promises, payments, day(as_of), grace)
    known = sum((p.amount for p in payments if p.paid_on <= day(as_of)), Decimal(0))
    assert sum((o.paid for o in outcomes), Decimal(0)) <= known
    by_id = {p.id: p for p in promises}
    for outcome in outcomes:
        wanted = by_id[outcome.id].amount
        assert outcome.paid <= wanted
        assert (outcome.status is PromiseStatus.kept) == (outcome.paid == wanted)
        if outcome.status is PromiseStatus.broken:
            assert outcome.paid == 0
        # Evaluating again the next day never moves a settled promise back.
        settled = [
            Terms(o.id, by_id[o.id].amount, by_id[o.id].promised_on, by_id[o.id].made_on,
                  o.status, o.paid)
            for o in outcomes
        ]  # fmt: skip
        again = {o.id: o.status for o in ptp.evaluate(settled, payments, day(as_of + 1), grace)}
        for before in outcomes:
            if before.status in ptp.SETTLED:
                assert again[before.id] is before.status


def test_who_approves_an_arrangement_by_what_is_at_stake() -> None:
    plan, settlement = ArrangementKind.payment_plan, ArrangementKind.settlement
    assert approval_needed(plan, Decimal(50_000), Decimal(50_000), TIERS) is ApprovalLevel.none
    assert approval_needed(plan, Decimal(200_000), Decimal(200_000), TIERS) is (
        ApprovalLevel.supervisor
    )
    assert approval_needed(plan, Decimal(500_000), Decimal(500_000), TIERS) is ApprovalLevel.admin
    # A settlement forgives part of the debt: a supervisor at least; by the discount above.
    assert approval_needed(settlement, Decimal(5_000), Decimal(4_000), TIERS) is (
        ApprovalLevel.supervisor
    )
    assert approval_needed(settlement, Decimal(900_000), Decimal(400_000), TIERS) is (
        ApprovalLevel.admin
    )
    with pytest.raises(BeyondApproval, match="credit committee"):
        approval_needed(plan, Decimal(2_000_000), Decimal(2_000_000), TIERS)
    assert may_approve(ApprovalLevel.supervisor, "supervisor")
    assert not may_approve(ApprovalLevel.admin, "supervisor")
    assert not may_approve(ApprovalLevel.supervisor, "collector")


def test_instalments_sum_to_the_total_and_the_plan_follows_them() -> None:
    schedule = instalments(Decimal("1000.00"), 3, D, 30)
    assert [on for on, _ in schedule] == [D, day(30), day(60)]
    assert sum(amount for _, amount in schedule) == Decimal("1000.00")
    assert [amount for _, amount in schedule] == [
        Decimal("333.33"),
        Decimal("333.33"),
        Decimal("333.34"),
    ]
    assert status_from_instalments(["kept", "pending"]).value == "active"
    assert status_from_instalments(["kept", "partially_kept", "pending"]).value == "broken"
    assert status_from_instalments(["kept", "kept"]).value == "kept"
