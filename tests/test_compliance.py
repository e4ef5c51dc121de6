"""The compliance guard's rules, one worked example each, and properties over random histories."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.domain.compliance import (
    Decision,
    Facts,
    Party,
    PastAttempt,
    Request,
    Verdict,
    decision_inputs,
    guard,
    load_profile,
    replay,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
PHONE_CN = "+8613800138000"
PHONE_US = "+12125550100"
DEBTOR = Party("debtor", "debtor")


def at(
    zone: ZoneInfo, day: int, hour: int, minute: int = 0, month: int = 11, second: int = 0
) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, second, tzinfo=zone)


def cn_facts(**changes: object) -> Facts:
    facts = Facts(
        profile=load_profile("cn"),
        lender_zone="Asia/Shanghai",
        debtor_zones=("Asia/Shanghai",),
        party=DEBTOR,
        phone=PHONE_CN,
        sms_consent=True,
        debtor_numbers=(PHONE_CN,),
    )
    return dataclasses.replace(facts, **changes)  # type: ignore[arg-type]


def us_facts(**changes: object) -> Facts:
    facts = Facts(
        profile=load_profile("us"),
        lender_zone="America/New_York",
        debtor_zones=("America/New_York",),
        party=DEBTOR,
        phone=PHONE_US,
        sms_consent=True,
        debtor_numbers=(PHONE_US,),
    )
    return dataclasses.replace(facts, **changes)  # type: ignore[arg-type]


def call(
    when: dt.datetime,
    result: str,
    party: str = "debtor",
    phone: str = PHONE_US,
    direction: str = "outbound",
) -> PastAttempt:
    return PastAttempt(when, "call", direction, party, phone, result)


# --- windows ------------------------------------------------------------------------------------


def test_cn_a_call_at_22_05_is_deferred_to_08_00_next_morning() -> None:
    decision = guard(Request("call", at(SHANGHAI, 24, 22, 5)), cn_facts())
    assert decision == Decision(Verdict.defer, ("outside_window",), at(SHANGHAI, 25, 8))


def test_cn_inside_the_window_is_allowed() -> None:
    assert guard(Request("call", at(SHANGHAI, 24, 21, 59)), cn_facts()).verdict is Verdict.allow


def test_an_ambiguous_zone_allows_only_hours_open_in_every_candidate() -> None:
    # 08:30 in New York is 05:30 in Los Angeles: wait for 08:00 there (11:00 in New York).
    facts = us_facts(debtor_zones=("America/Los_Angeles", "America/New_York"))
    decision = guard(Request("call", at(NEW_YORK, 24, 8, 30)), facts)
    assert decision.verdict is Verdict.defer
    assert decision.reasons == ("outside_window_in_some_zone",)
    assert decision.next_allowed_at == at(NEW_YORK, 24, 11, second=1)


def test_an_unknown_zone_uses_the_lender_s_in_cn_and_blocks_in_us() -> None:
    assert guard(Request("call", at(SHANGHAI, 24, 10)), cn_facts(debtor_zones=())).verdict is (
        Verdict.allow
    )
    decision = guard(Request("call", at(NEW_YORK, 24, 10)), us_facts(debtor_zones=()))
    assert decision == Decision(Verdict.block, ("zone_unknown",))


# --- US frequency ---------------------------------------------------------------------------------


def test_us_seven_calls_on_seven_days_allow_one_on_the_eighth_day_but_not_a_second() -> None:
    history = tuple(call(at(NEW_YORK, day, 10), "no_answer") for day in range(1, 8))
    eighth = at(NEW_YORK, 8, 10)
    assert guard(Request("call", eighth), us_facts(history=history)).verdict is Verdict.allow

    history += (call(eighth, "no_answer"),)
    decision = guard(Request("call", at(NEW_YORK, 8, 15)), us_facts(history=history))
    assert decision.verdict is Verdict.defer
    assert decision.reasons == ("calls_in_7_days",)
    assert decision.next_allowed_at == at(NEW_YORK, 9, 8, second=1)


def test_us_a_busy_signal_does_not_count_toward_the_seven() -> None:
    history = (
        *(call(at(NEW_YORK, 10, 9 + n), "no_answer") for n in range(6)),
        call(at(NEW_YORK, 10, 16), "busy"),
        call(at(NEW_YORK, 10, 17), "not_in_service"),
    )
    decision = guard(Request("call", at(NEW_YORK, 10, 18)), us_facts(history=history))
    assert decision.verdict is Verdict.allow


def test_us_no_call_for_seven_days_after_a_conversation_its_day_being_day_one() -> None:
    history = (call(at(NEW_YORK, 10, 11), "conversation", direction="inbound"),)
    facts = us_facts(history=history)
    for day in range(10, 17):
        decision = guard(Request("call", at(NEW_YORK, day, 12)), facts)
        assert decision.reasons == ("conversation_in_last_7_days",), day
        assert decision.next_allowed_at == at(NEW_YORK, 17, 8, second=1)
    assert guard(Request("call", at(NEW_YORK, 17, 8, second=1)), facts).verdict is Verdict.allow


def test_a_state_override_allows_fewer_calls() -> None:
    facts = us_facts(
        profile=load_profile("us", "MA"),
        history=(
            call(at(NEW_YORK, 10, 10), "no_answer"),
            call(at(NEW_YORK, 11, 10), "busy"),
            call(at(NEW_YORK, 12, 10), "voicemail"),
        ),
    )
    assert guard(Request("call", at(NEW_YORK, 12, 15)), facts).reasons == ("calls_in_7_days",)


# --- CN frequency --------------------------------------------------------------------------------


def test_cn_a_fourth_effective_conversation_in_a_day_is_not_allowed() -> None:
    history = tuple(call(at(SHANGHAI, 24, 9 + n), "conversation", phone=PHONE_CN) for n in range(3))
    decision = guard(Request("call", at(SHANGHAI, 24, 15)), cn_facts(history=history))
    assert decision == Decision(Verdict.defer, ("conversations_per_day",), at(SHANGHAI, 25, 8))


def test_cn_six_unanswered_dials_to_a_number_stop_that_number_for_the_day() -> None:
    history = tuple(
        call(at(SHANGHAI, 24, 9, 10 * n), "no_answer", phone=PHONE_CN) for n in range(6)
    )
    assert guard(Request("call", at(SHANGHAI, 24, 14)), cn_facts(history=history)).reasons == (
        "unanswered_per_number",
    )
    other = cn_facts(history=history, phone="+8613900139000")
    assert guard(Request("call", at(SHANGHAI, 24, 14)), other).verdict is Verdict.allow


def test_sms_caps_per_profile() -> None:
    def sms(when: dt.datetime) -> PastAttempt:
        return PastAttempt(when, "sms", "outbound", "debtor", PHONE_CN, "delivered")

    two = (sms(at(SHANGHAI, 24, 9)), sms(at(SHANGHAI, 24, 10)))
    assert guard(Request("sms", at(SHANGHAI, 24, 11)), cn_facts(history=two)).reasons == (
        "sms_per_day",
    )
    week = tuple(
        PastAttempt(at(NEW_YORK, day, 9), "sms", "outbound", "debtor", PHONE_US, "delivered")
        for day in (20, 21, 22)
    )
    decision = guard(Request("sms", at(NEW_YORK, 24, 11)), us_facts(history=week))
    assert decision.reasons == ("sms_in_7_days",)
    assert decision.next_allowed_at == at(NEW_YORK, 27, 8, second=1)


# --- permissions, holds, third parties, content ------------------------------------------------


def test_opt_out_hold_and_missing_consent_block_with_their_reasons() -> None:
    facts = cn_facts(
        opted_out=frozenset({(PHONE_CN, "sms")}), holds=frozenset({"dispute"}), sms_consent=False
    )
    decision = guard(Request("sms", at(SHANGHAI, 24, 10)), facts)
    assert decision == Decision(Verdict.block, ("hold_dispute", "opted_out", "sms_consent_missing"))
    # The call channel is not opted out; the hold still stops it.
    assert guard(Request("call", at(SHANGHAI, 24, 10)), facts).reasons == ("hold_dispute",)


def test_a_pending_promise_suspends_automated_dunning_until_its_date_plus_grace() -> None:
    facts = cn_facts(promise_until=dt.date(2026, 11, 27))
    decision = guard(Request("sms", at(SHANGHAI, 24, 10)), facts)
    assert decision == Decision(Verdict.defer, ("promise_pending",), at(SHANGHAI, 28, 8))
    collector = Request("call", at(SHANGHAI, 24, 10), automated=False)
    assert guard(collector, facts).verdict is Verdict.allow


def test_cn_an_emergency_contact_is_blocked_while_the_debtor_is_reachable() -> None:
    emergency = Party("C1", "emergency")
    request = Request("call", at(SHANGHAI, 24, 10), automated=False, purpose="location")
    assert guard(request, cn_facts(party=emergency)).reasons == ("third_party_debtor_reachable",)
    assert guard(request, cn_facts(party=emergency, debtor_state="unreachable")).verdict is (
        Verdict.allow
    )
    collection = dataclasses.replace(request, purpose="collection")
    assert guard(collection, cn_facts(party=emergency, debtor_state="unreachable")).reasons == (
        "third_party_no_disclosure",
    )


def test_cn_a_refusal_blocks_that_person_forever_and_strangers_never_get_called() -> None:
    request = Request("call", at(SHANGHAI, 24, 10), purpose="location")
    refused = cn_facts(party=Party("C1", "emergency", refused=True), debtor_state="unreachable")
    assert guard(request, refused).reasons == ("third_party_refused",)
    stranger = cn_facts(party=Party("X", "unrelated"), debtor_state="deceased")
    assert guard(request, stranger).reasons == ("third_party_unrelated",)


def test_cn_a_guarantor_may_be_asked_to_pay() -> None:
    facts = cn_facts(party=Party("G1", "guarantor"))
    assert guard(Request("call", at(SHANGHAI, 24, 10)), facts).verdict is Verdict.allow


def test_us_third_parties_get_one_location_call() -> None:
    neighbour = Party("C2", "emergency")
    request = Request("call", at(NEW_YORK, 24, 10), purpose="location")
    assert guard(request, us_facts(party=neighbour)).verdict is Verdict.allow
    assert guard(request, us_facts(party=neighbour, location_contacts_with_party=1)).reasons == (
        "third_party_once",
    )
    debt_talk = dataclasses.replace(request, purpose="collection")
    assert guard(debt_talk, us_facts(party=neighbour)).reasons == ("third_party_location_only",)


def test_the_sms_footer_is_checked_after_rendering() -> None:
    good = Request("sms", at(SHANGHAI, 24, 10), text="您的账单已逾期，请尽快还款。回复TD退订")
    bad = Request("sms", at(SHANGHAI, 24, 10), text="您的账单已逾期，请尽快还款。")
    assert guard(good, cn_facts()).verdict is Verdict.allow
    assert guard(bad, cn_facts()).reasons == ("sms_footer_missing",)


def test_us_voicemail_only_in_its_limited_form() -> None:
    full = Request("call", at(NEW_YORK, 24, 10), voicemail="full")
    assert guard(full, us_facts()).reasons == ("voicemail_not_limited",)
    limited = dataclasses.replace(full, voicemail="limited")
    assert guard(limited, us_facts()).verdict is Verdict.allow


# --- properties ----------------------------------------------------------------------------------

ZONES = [
    "Asia/Shanghai",
    "America/New_York",
    "America/Los_Angeles",
    "America/Anchorage",
    "Europe/London",
    "Pacific/Honolulu",
]
RESULTS = ["busy", "not_in_service", "no_answer", "voicemail", "conversation", "delivered"]
START = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


@st.composite
def situations(draw: st.DrawFn) -> tuple[Request, Facts]:
    profile = draw(st.sampled_from(["cn", "us", "uk"]))
    zones = tuple(draw(st.lists(st.sampled_from(ZONES), min_size=0, max_size=3, unique=True)))
    minutes = st.integers(0, 60 * 24 * 30)
    history = tuple(
        PastAttempt(
            START + dt.timedelta(minutes=draw(minutes)),
            channel,
            draw(st.sampled_from(["outbound", "outbound", "inbound"])),
            draw(st.sampled_from(["debtor", "C1"])),
            draw(st.sampled_from([PHONE_CN, PHONE_US])),
            draw(st.sampled_from(RESULTS)),
        )
        for channel in draw(st.lists(st.sampled_from(["call", "sms"]), max_size=25))
    )
    facts = Facts(
        profile=load_profile(profile),
        lender_zone="Asia/Shanghai",
        debtor_zones=zones,
        party=DEBTOR,
        phone=draw(st.sampled_from([PHONE_CN, PHONE_US])),
        history=history,
        sms_consent=True,
    )
    request = Request(
        draw(st.sampled_from(["call", "sms"])),
        START + dt.timedelta(minutes=draw(minutes)),
    )
    return request, facts


@settings(max_examples=300, deadline=None)
@given(situations())
def test_the_guard_never_allows_outside_the_window_or_above_a_cap(
    situation: tuple[Request, Facts],
) -> None:
    request, facts = situation
    decision = guard(request, facts)
    assert decision == guard(request, facts)  # deterministic
    if decision.verdict is not Verdict.allow:
        if decision.verdict is Verdict.defer:
            assert decision.next_allowed_at is not None
            assert decision.next_allowed_at > request.at
        return
    profile = facts.profile
    zones = [ZoneInfo(z) for z in facts.debtor_zones] or [ZoneInfo(facts.lender_zone)]
    start, end = profile.window(request.channel)
    for zone in zones:
        local = request.at.astimezone(zone).time()
        assert start < local if profile.window_opens_after else start <= local
        assert local < end
    # With the allowed contact added, the day's and the week's counts stay within the caps.
    zone = zones[0]
    today = request.at.astimezone(zone).date()
    mine = [
        a
        for a in facts.history
        if a.party == "debtor"
        and a.at <= request.at
        and a.channel == request.channel
        and a.direction == "outbound"
    ]
    on = [a.at.astimezone(zone).date() for a in mine]
    week = [d for d in on if today - dt.timedelta(days=6) <= d <= today]
    if request.channel == "sms":
        if profile.sms_per_day is not None:
            assert on.count(today) + 1 <= profile.sms_per_day
        if profile.sms_per_7_days is not None:
            assert len(week) + 1 <= profile.sms_per_7_days
    else:
        if profile.calls_per_day is not None:
            assert on.count(today) + 1 <= profile.calls_per_day
        if profile.calls_per_7_days is not None:
            counted = [
                a.at.astimezone(zone).date()
                for a in mine
                if a.result not in profile.uncounted_call_results
            ]
            in_week = [d for d in counted if today - dt.timedelta(days=6) <= d <= today]
            assert len(in_week) + 1 <= profile.calls_per_7_days


@settings(max_examples=200, deadline=None)
@given(situations())
def test_a_deferred_contact_is_inside_the_window_at_its_next_allowed_time(
    situation: tuple[Request, Facts],
) -> None:
    request, facts = situation
    decision = guard(request, facts)
    if decision.verdict is not Verdict.defer:
        return
    assert decision.next_allowed_at is not None
    later = dataclasses.replace(request, at=decision.next_allowed_at)
    zones = [ZoneInfo(z) for z in facts.debtor_zones] or [ZoneInfo(facts.lender_zone)]
    start, end = facts.profile.window(request.channel)
    for zone in zones:
        local = later.at.astimezone(zone).time()
        opened = start < local if facts.profile.window_opens_after else start <= local
        assert opened
        assert local < end


def test_every_profile_loads_and_unknown_ones_are_refused() -> None:
    for name in ("cn", "us", "uk"):
        assert load_profile(name).name == name
    with pytest.raises(ValueError, match="unknown compliance profile"):
        load_profile("fr")


# --- several debts, letters -----------------------------------------------------------------------


def test_us_counts_calls_per_debt_and_cn_counts_conversations_per_debtor() -> None:
    other_debt = tuple(
        dataclasses.replace(call(at(NEW_YORK, day, 10), "no_answer"), debt="2")
        for day in range(18, 25)
    )
    request = Request("call", at(NEW_YORK, 24, 15))
    # Seven calls about another debt: this debt's 7-in-7 count is untouched.
    assert guard(request, us_facts(history=other_debt, debt="1")).verdict is Verdict.allow
    assert guard(request, us_facts(history=other_debt, debt="2")).reasons == ("calls_in_7_days",)

    talks = tuple(
        dataclasses.replace(
            call(at(SHANGHAI, 24, 9 + n), "conversation", phone=PHONE_CN), debt=str(n)
        )
        for n in range(3)
    )
    facts = cn_facts(history=talks, debt="9")
    assert guard(Request("call", at(SHANGHAI, 24, 15)), facts).reasons == ("conversations_per_day",)


def test_a_letter_has_no_window_but_holds_and_promises_apply() -> None:
    night = Request("letter", at(SHANGHAI, 24, 23, 30))
    assert guard(night, cn_facts(phone=None, sms_consent=False)).verdict is Verdict.allow
    assert guard(night, cn_facts(holds=frozenset({"dispute"}))).reasons == ("hold_dispute",)
    promised = guard(night, cn_facts(promise_until=dt.date(2026, 11, 27)))
    assert promised == Decision(
        Verdict.defer, ("promise_pending",), dt.datetime(2026, 11, 28, tzinfo=SHANGHAI)
    )


def test_a_letter_to_a_debtor_with_an_invalid_or_no_zone_is_decided_in_the_lender_s() -> None:
    night = Request("letter", at(SHANGHAI, 24, 23, 30))
    promise = dt.date(2026, 11, 27)
    for zones in ((), ("Mars/Olympus_Mons",), ("not a zone at all",), ("Asia/Tokyo", "Europe/X")):
        decision = guard(night, cn_facts(debtor_zones=zones, promise_until=promise))
        assert decision == Decision(
            Verdict.defer, ("promise_pending",), dt.datetime(2026, 11, 28, tzinfo=SHANGHAI)
        ), zones
    # No zone to count the day in at all: blocked, with the reason.
    nowhere = cn_facts(debtor_zones=("Mars/Olympus_Mons",), lender_zone="Nowhere/Land")
    assert guard(night, nowhere) == Decision(Verdict.block, ("zone_invalid",))
    assert guard(Request("call", night.at), nowhere).reasons == ("zone_invalid",)


@pytest.mark.parametrize("year", [1, 9999])
@pytest.mark.parametrize("channel", ["call", "sms", "letter"])
def test_a_moment_in_year_1_or_9999_is_blocked_not_raised(year: int, channel: str) -> None:
    edge = dt.datetime(year, 1, 1, 9, tzinfo=dt.UTC)
    if year == 9999:
        edge = dt.datetime(year, 12, 31, 9, tzinfo=dt.UTC)
    facts = cn_facts(promise_until=dt.date(2026, 11, 27), history=(call(edge, "no_answer"),))
    decision = guard(Request(channel, edge), facts)
    assert decision.verdict is Verdict.block
    assert decision.reasons == ("time_out_of_range",)


def test_the_us_window_opens_after_8_and_closes_at_9() -> None:
    facts = us_facts()
    eight = at(NEW_YORK, 24, 8)
    assert guard(Request("call", eight), facts) == Decision(
        Verdict.defer, ("outside_window",), at(NEW_YORK, 24, 8, second=1)
    )
    assert guard(Request("call", at(NEW_YORK, 24, 8, second=1)), facts).verdict is Verdict.allow
    assert guard(Request("sms", eight), facts).verdict is Verdict.defer
    just_before_nine = dt.datetime(2026, 11, 24, 20, 59, 59, tzinfo=NEW_YORK)
    assert guard(Request("call", just_before_nine), facts).verdict is Verdict.allow
    assert guard(Request("call", at(NEW_YORK, 24, 21)), facts).verdict is Verdict.defer
    # China's 08:00 is inside its window.
    assert guard(Request("call", at(SHANGHAI, 24, 8)), cn_facts()).verdict is Verdict.allow


OPT_OUTS = [(PHONE_CN, "sms"), (PHONE_US, "call"), (PHONE_CN, "call")]


@st.composite
def every_fact(draw: st.DrawFn) -> tuple[Request, Facts]:
    """A situation with every kind of fact the guard reads: parties, holds, promises,
    opt-outs, regional profiles, a plan's call cap, reachability, debts."""
    request, facts = draw(situations())
    party = draw(
        st.sampled_from(
            [DEBTOR, Party("C1", "emergency"), Party("C1", "guarantor", refused=True),
             Party("X", "unrelated")]
        )
    )  # fmt: skip
    profile = facts.profile
    if profile.name == "us" and draw(st.booleans()):
        profile = load_profile("us", "MA")
    cap = draw(st.none() | st.integers(1, 4))
    if cap is not None:
        profile = dataclasses.replace(profile, calls_per_day=cap)
    day = dt.date(2026, 11, 1) + dt.timedelta(days=draw(st.integers(0, 40)))
    facts = dataclasses.replace(
        facts,
        profile=profile,
        party=party,
        history=tuple(
            dataclasses.replace(a, debt=draw(st.sampled_from(["", "1", "2"])))
            for a in facts.history
        ),
        opted_out=frozenset(draw(st.sets(st.sampled_from(OPT_OUTS)))),
        holds=frozenset(draw(st.sets(st.sampled_from(["dispute", "deceased", "complaint"])))),
        promise_until=draw(st.none() | st.just(day)),
        debtor_state=draw(st.sampled_from([None, None, "reachable", "unreachable"])),
        location_contacts_with_party=draw(st.integers(0, 2)),
        debt=draw(st.sampled_from(["", "1", "2"])),
        debtor_numbers=draw(st.none() | st.sets(st.sampled_from([PHONE_CN, PHONE_US])).map(tuple)),
        lost_contact_days=draw(st.integers(1, 5)),
        lost_contact_on=draw(st.none() | st.just(day)),
    )
    request = dataclasses.replace(
        request,
        channel=draw(st.sampled_from(["call", "sms", "letter"])),
        automated=draw(st.booleans()),
        purpose=draw(st.sampled_from(["collection", "location"])),
        text=draw(st.none() | st.just(profile.sms_footer) | st.just("还款提醒")),
        voicemail=draw(st.sampled_from([None, "limited", "full"])),
    )
    return request, facts


@settings(max_examples=300, deadline=None)
@given(every_fact())
def test_a_decision_is_decided_again_from_its_stored_inputs_alone(
    situation: tuple[Request, Facts],
) -> None:
    request, facts = situation
    stored = json.loads(json.dumps(decision_inputs(request, facts)))
    assert replay(stored) == guard(request, facts)


def test_the_debtor_is_lost_live_only_after_the_days_of_calls_on_every_number() -> None:
    emergency = Party("C1", "emergency")
    request = Request("call", at(SHANGHAI, 24, 15), automated=False, purpose="location")
    dials = tuple(
        call(at(SHANGHAI, day, 10), "no_answer", phone=phone)
        for day in (21, 22, 23)
        for phone in (PHONE_CN, PHONE_US)
    )
    both = cn_facts(party=emergency, debtor_numbers=(PHONE_CN, PHONE_US), history=dials)
    assert guard(request, both).verdict is Verdict.allow  # three days, every number: lost
    # One call ten minutes ago on every number is not "the days of calls".
    fresh = (call(at(SHANGHAI, 24, 14, 50), "no_answer", phone=PHONE_CN),)
    assert guard(request, cn_facts(party=emergency, history=fresh)).reasons == (
        "third_party_debtor_reachable",
    )
    # Two days of calls when the plan says three: still reachable.
    short = cn_facts(party=emergency, history=dials[2:], debtor_numbers=(PHONE_CN, PHONE_US))
    assert guard(request, short).reasons == ("third_party_debtor_reachable",)
    # The debtor's numbers not known: never judged lost from them (fail closed) ...
    unknown = dataclasses.replace(both, debtor_numbers=None)
    assert guard(request, unknown).reasons == ("third_party_debtor_reachable",)
    # ... while no valid number left at all is lost.
    assert guard(request, dataclasses.replace(both, debtor_numbers=())).verdict is Verdict.allow


def test_a_plan_may_not_ask_more_days_of_calls_than_the_guard_keeps_history_for() -> None:
    from strategies.treatment import LOST_CONTACT_MAX_DAYS, builtin_plan, parse_plan

    plan = builtin_plan().as_dict()
    plan["lost_contact"] = {"after_days": LOST_CONTACT_MAX_DAYS + 1}
    with pytest.raises(ValueError, match="after_days is at most 13"):
        parse_plan(plan)
    plan["lost_contact"] = {"after_days": LOST_CONTACT_MAX_DAYS}
    assert parse_plan(plan).lost_contact_after_days == LOST_CONTACT_MAX_DAYS
