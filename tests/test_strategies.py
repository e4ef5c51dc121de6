"""Strategies as plugins: the registry, entry-point discovery, and the built-in choices."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from importlib.metadata import EntryPoint

import pytest

from service.assignment.experiments import ExperimentSpec, challenger_point
from service.assignment.run import strategies_for
from service.errors import ConfigurationError
from service.settings import Settings
from strategies import (
    Account,
    Collector,
    DuplicateStrategy,
    QueueSpec,
    Registry,
    Roster,
    StrategyError,
    load_registry,
)
from strategies.collectors import LanguageMatch, LeastLoaded, RoundRobin, Sticky
from strategies.routing import DEFAULT_QUEUES, RoutingTable, check_routing


def account(
    bucket: str = "M1",
    tier: str = "S",
    outstanding: str = "5000",
    lost: bool = False,
    locale: str = "zh-CN",
    collector_id: int | None = None,
    ref: str = "L1",
) -> Account:
    return Account(
        loan_id=1,
        loan_ref=ref,
        bucket=bucket,
        amount_tier=tier,
        days_past_due=10,
        outstanding=Decimal(outstanding),
        risk_class="special_mention",
        lost_contact=lost,
        locale=locale,
        region="CN",
        queue_id=None,
        collector_id=collector_id,
    )


def default_queues() -> list[QueueSpec]:
    return [
        QueueSpec(
            id=index,
            name=q["name"],
            kind=q["kind"],
            routing=q["routing"],
            collector_strategy="sticky",
            position=index * 10,
        )
        for index, q in enumerate(DEFAULT_QUEUES, start=1)
    ]


@pytest.mark.parametrize(
    ("facts", "queue"),
    [
        ({"bucket": "M0"}, "Automated reminders"),
        ({"bucket": "M1", "tier": "S"}, "M1 early"),
        ({"bucket": "M1", "tier": "M"}, "M1 early"),
        ({"bucket": "M1", "tier": "L"}, "M1 senior"),
        ({"bucket": "M1", "tier": "XL"}, "M1 senior"),
        ({"bucket": "M2"}, "M2-M3"),
        ({"bucket": "M3", "tier": "XL"}, "M2-M3"),
        ({"bucket": "M4"}, "Recovery and legal"),
        ({"bucket": "M7+"}, "Recovery and legal"),
        ({"bucket": "M2", "lost": True, "outstanding": "10000"}, "Field visits"),
        ({"bucket": "M5", "lost": True, "outstanding": "250000"}, "Field visits"),
        ({"bucket": "M2", "lost": True, "outstanding": "9999.99"}, "Agency"),
    ],
)
def test_the_default_routing_follows_the_source_policies(
    facts: dict[str, object], queue: str
) -> None:
    chosen = RoutingTable().route(account(**facts), default_queues())  # type: ignore[arg-type]
    assert chosen is not None
    assert chosen.name == queue


def test_a_routing_definition_with_an_unknown_key_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown routing keys"):
        check_routing({"bucket": ["M1"]})
    with pytest.raises(ValueError, match="list of names"):
        check_routing({"buckets": "M1"})


def _roster(*loads: tuple[int, int | None, str]) -> Roster:
    return Roster(
        [
            Collector(
                id=i + 1, username=f"c{i + 1}", languages=frozenset({lang}), capacity=cap, load=load
            )
            for i, (load, cap, lang) in enumerate(loads)
        ]
    )


QUEUE = default_queues()[5]


def _assign(roster: Roster, strategy: object, accounts: list[Account]) -> list[int | None]:
    """What the engine does: choose, then move the load."""
    chosen = []
    for item in accounts:
        member = strategy.choose(item, QUEUE, roster)  # type: ignore[attr-defined]
        if member is not None:
            member.load += 1
            roster.changed(member)
        chosen.append(member.id if member else None)
    return chosen


def test_least_loaded_fills_the_lightest_and_never_exceeds_capacity() -> None:
    roster = _roster((5, 6, "zh-CN"), (0, 2, "zh-CN"), (3, None, "zh-CN"))
    chosen = _assign(roster, LeastLoaded(), [account() for _ in range(8)])
    assert chosen[:2] == [2, 2]  # 0 → 1 → 2, then collector 2 is full
    assert [m.load for m in roster.members] == [6, 2, 8]
    assert all(m.capacity is None or m.load <= m.capacity for m in roster.members)


def test_everyone_full_leaves_the_account_in_the_pool() -> None:
    roster = _roster((1, 1, "zh-CN"), (2, 2, "zh-CN"))
    assert _assign(roster, LeastLoaded(), [account()]) == [None]
    assert _assign(roster, RoundRobin(), [account()]) == [None]


def test_round_robin_takes_members_in_turn_skipping_the_full() -> None:
    roster = _roster((0, None, "zh-CN"), (0, 1, "zh-CN"), (0, None, "zh-CN"))
    assert _assign(roster, RoundRobin(), [account() for _ in range(5)]) == [1, 2, 3, 1, 3]


def test_sticky_keeps_a_current_member_even_when_full_and_replaces_a_leaver() -> None:
    roster = _roster((9, 9, "zh-CN"), (0, None, "zh-CN"))
    assert Sticky().choose(account(collector_id=1), QUEUE, roster) is roster.by_id[1]
    # Collector 7 is no longer in the queue: the least loaded takes over.
    assert Sticky().choose(account(collector_id=7), QUEUE, roster) is roster.by_id[2]


def test_language_match_prefers_a_speaker_and_falls_back_to_anyone() -> None:
    roster = _roster((4, None, "zh-CN"), (9, None, "en"), (1, None, "zh-CN"))
    assert _assign(roster, LanguageMatch(), [account(locale="en-US")]) == [2]
    assert _assign(roster, LanguageMatch(), [account(locale="zh-CN")]) == [3]
    roster = _roster((4, None, "zh-CN"))
    assert _assign(roster, LanguageMatch(), [account(locale="en")]) == [1]


def test_the_registry_refuses_a_second_class_under_a_taken_name() -> None:
    registry = Registry()
    registry.register(LeastLoaded)
    registry.register(LeastLoaded)  # the same class again is not a clash

    class Other(LeastLoaded):
        pass

    with pytest.raises(DuplicateStrategy, match="'least_loaded' is already registered by"):
        registry.register(Other)

    class Odd:
        name = "odd"
        kind = "mystery"

    with pytest.raises(StrategyError, match="kind"):
        registry.register(Odd)


def test_built_ins_come_through_the_entry_point_group() -> None:
    registry = load_registry()
    assert set(registry.names("collector")) >= {
        "least_loaded",
        "round_robin",
        "sticky",
        "language_match",
    }
    assert "routing_table" in registry.names("routing")
    assert "package arrears" in registry.source("sticky")


def test_two_entry_points_with_one_name_are_refused() -> None:
    points = [
        EntryPoint("sticky", "strategies.collectors:Sticky", "arrears.strategies"),
        EntryPoint("sticky", "strategies.collectors:LeastLoaded", "arrears.strategies"),
    ]
    with pytest.raises(StrategyError, match="names a class whose strategy name"):
        load_registry(points)


def test_a_separately_installed_strategy_is_discovered(installed: Callable[[str], None]) -> None:
    installed("region_strategy")
    strategies = strategies_for(Settings(assignment_strategy="by_region"))
    assert "arrears-region-strategy" in strategies.source("by_region")


def test_a_separately_installed_duplicate_name_is_refused_with_both_sources(
    installed: Callable[[str], None],
) -> None:
    installed("duplicate_strategy")
    with pytest.raises(ConfigurationError) as caught:
        strategies_for(Settings())
    message = str(caught.value)
    assert "'least_loaded' is already registered" in message
    assert "arrears-duplicate-strategy" in message
    assert "package arrears" in message


def test_a_twenty_percent_share_lands_within_one_point_on_100k_and_is_stable() -> None:
    experiment = ExperimentSpec("m1-senior", {"buckets": ["M1"]}, "senior_first", Decimal("0.2"))
    refs = [f"L{n:07d}" for n in range(100_000)]
    arms = [experiment.arm(ref) for ref in refs]
    share = arms.count("m1-senior:challenger") / len(refs)
    assert 0.19 <= share <= 0.21
    assert arms == [experiment.arm(ref) for ref in refs]  # the next day: the same arms
    # Another experiment's key splits the same accounts independently.
    other = sum(
        challenger_point("other", ref) < 0.2
        for ref, arm in zip(refs, arms, strict=True)
        if arm.endswith("challenger")
    )
    assert 0.17 <= other / arms.count("m1-senior:challenger") <= 0.23
