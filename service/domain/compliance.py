"""The compliance guard: may this contact go out now? Pure rules over plain facts.

Every outbound attempt passes :func:`guard`, at planning and again right before sending. It
answers allow / block / defer (with the next instant it would be allowed) / review, with reason
codes, and never raises on odd facts: when it cannot decide (an unknown zone where the profile
forbids guessing, missing consent) it blocks and says why. Profiles are data
(``profiles.toml``); docs/compliance.md gives each rule's source.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from service.domain.dates import in_calendar

CALL, SMS, LETTER = "call", "sms", "letter"
# Days a defer looks ahead for an open window in every candidate zone.
SEARCH_DAYS = 60


class Verdict(enum.StrEnum):
    allow = "allow"
    block = "block"
    defer = "defer"
    review = "review"


class Reason(enum.StrEnum):
    """Every reason code the guard gives (docs/compliance.md), the closed list a page names:
    one ``hold_<kind>`` for each :class:`HoldKind` a profile may block on."""

    time_out_of_range = "time_out_of_range"
    zone_unknown = "zone_unknown"
    zone_invalid = "zone_invalid"
    no_common_window = "no_common_window"
    outside_window = "outside_window"
    outside_window_in_some_zone = "outside_window_in_some_zone"
    promise_pending = "promise_pending"
    conversations_per_day = "conversations_per_day"
    unanswered_per_number = "unanswered_per_number"
    calls_per_day = "calls_per_day"
    conversation_in_last_7_days = "conversation_in_last_7_days"
    calls_in_7_days = "calls_in_7_days"
    sms_per_day = "sms_per_day"
    sms_in_7_days = "sms_in_7_days"
    no_number = "no_number"
    opted_out = "opted_out"
    sms_consent_missing = "sms_consent_missing"
    sms_footer_missing = "sms_footer_missing"
    voicemail_not_limited = "voicemail_not_limited"
    third_party_refused = "third_party_refused"
    third_party_unrelated = "third_party_unrelated"
    third_party_debtor_reachable = "third_party_debtor_reachable"
    third_party_no_disclosure = "third_party_no_disclosure"
    third_party_location_only = "third_party_location_only"
    third_party_once = "third_party_once"
    third_party_identity_unverified = "third_party_identity_unverified"
    hold_dispute = "hold_dispute"
    hold_deceased = "hold_deceased"
    hold_bankruptcy = "hold_bankruptcy"
    hold_legal_action = "hold_legal_action"
    hold_complaint = "hold_complaint"
    hold_cease_in_writing = "hold_cease_in_writing"
    hold_attorney_represented = "hold_attorney_represented"
    hold_breathing_space = "hold_breathing_space"
    hold_mental_health_crisis = "hold_mental_health_crisis"
    hold_vulnerability_review = "hold_vulnerability_review"


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    reasons: tuple[str, ...] = ()
    next_allowed_at: dt.datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "reasons": list(self.reasons),
            "next_allowed_at": self.next_allowed_at.isoformat() if self.next_allowed_at else None,
        }


@dataclasses.dataclass(frozen=True, slots=True)
class Profile:
    name: str
    call_window: tuple[dt.time, dt.time]
    sms_window: tuple[dt.time, dt.time]
    unknown_zone: str  # "lender": use the lender's zone; "block"
    third_party: str  # which third-party rule set: cn, us, uk
    sms_footer: str
    opt_out_keywords: tuple[str, ...] = ()
    opt_in_keywords: tuple[str, ...] = ()
    help_keywords: tuple[str, ...] = ()
    # What an opt-out keyword in a text stops: the media (sms, call) of that number.
    keyword_opt_out_covers: tuple[str, ...] = ("sms",)
    blocking_holds: frozenset[str] = frozenset()
    conversations_per_day: int | None = None
    unanswered_per_day_per_number: int | None = None
    calls_per_day: int | None = None
    calls_per_7_days: int | None = None
    quiet_days_after_conversation: int | None = None
    sms_per_day: int | None = None
    sms_per_7_days: int | None = None
    voicemail: str | None = None  # "limited": only the limited-content message
    # Results that do not count toward calls_per_7_days (the call never reached the number).
    uncounted_call_results: frozenset[str] = frozenset()
    # "After 8 o'clock": the window's opening instant itself is outside it (US, 15 U.S.C. §1692c).
    window_opens_after: bool = False

    def window(self, channel: str) -> tuple[dt.time, dt.time]:
        return self.call_window if channel == CALL else self.sms_window

    def as_dict(self) -> dict[str, Any]:
        """The profile's effective values (overrides and caps applied), as stored with a
        decision so that it can be decided again."""
        return dict(_profile_values(self))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Profile:
        return _profile(values["name"], {k: v for k, v in values.items() if k != "name"})


@functools.lru_cache(maxsize=64)
def _profile_values(profile: Profile) -> Mapping[str, Any]:
    # Once per profile, not once per decision: a night stores tens of thousands of them.
    values: dict[str, Any] = {}
    for field in dataclasses.fields(profile):
        value = getattr(profile, field.name)
        if isinstance(value, tuple) and value and isinstance(value[0], dt.time):
            value = [moment.strftime("%H:%M") for moment in value]
        elif isinstance(value, frozenset | tuple):
            value = sorted(value) if isinstance(value, frozenset) else list(value)
        values[field.name] = value
    return values


class ProfileName(enum.StrEnum):
    """The compliance profiles (DESIGN.md §3); their values are in profiles.toml."""

    cn = "cn"
    us = "us"
    uk = "uk"


PROFILE_NAMES = tuple(name.value for name in ProfileName)


class HoldKind(enum.StrEnum):
    """What can stop contact (DESIGN.md §5, ``holds.csv``); each profile says which of them
    block it (``blocking_holds``)."""

    dispute = "dispute"
    deceased = "deceased"
    bankruptcy = "bankruptcy"
    legal_action = "legal_action"
    complaint = "complaint"
    cease_in_writing = "cease_in_writing"
    attorney_represented = "attorney_represented"
    breathing_space = "breathing_space"
    mental_health_crisis = "mental_health_crisis"
    vulnerability_review = "vulnerability_review"


class TimezoneSource(enum.StrEnum):
    """Where the debtor's zone comes from (DESIGN.md §3, "time-zone evidence")."""

    file = "file"  # the file's zone, which the phone number agrees with (or has no zone for)
    phone = "phone"  # no zone in the file: the phone number's
    ambiguous = "ambiguous"  # the evidence disagrees, or the number fits several zones
    unknown = "unknown"
    confirmed = "confirmed"  # the debtor confirmed it: wins over every other evidence


@dataclasses.dataclass(frozen=True, slots=True)
class ZoneEvidence:
    zone: str | None  # one zone when the evidence agrees on it
    candidates: tuple[str, ...]  # every zone the debtor may be in (the guard allows their overlap)
    source: TimezoneSource


def debtor_zone(file_zone: str | None, confirmed: bool, phone_zones: Sequence[str]) -> ZoneEvidence:
    """The debtor's zone from the evidence: the file's zone and the phone number's zones.

    A zone the debtor confirmed wins. The file's zone stands when the number has no zone or fits
    it; when they disagree (a Los Angeles zone on file, a New York area code) the zone is
    ambiguous, and only hours allowed in every candidate pass.
    """
    if file_zone and confirmed:
        return ZoneEvidence(file_zone, (file_zone,), TimezoneSource.confirmed)
    phone = tuple(dict.fromkeys(phone_zones))
    if file_zone:
        if not phone or file_zone in phone:
            return ZoneEvidence(file_zone, (file_zone,), TimezoneSource.file)
        return ZoneEvidence(None, (file_zone, *phone), TimezoneSource.ambiguous)
    if len(phone) == 1:
        return ZoneEvidence(phone[0], phone, TimezoneSource.phone)
    if phone:
        return ZoneEvidence(None, phone, TimezoneSource.ambiguous)
    return ZoneEvidence(None, (), TimezoneSource.unknown)


@functools.cache
def _profiles_data() -> dict[str, Any]:
    text = resources.files("service.domain").joinpath("profiles.toml").read_text("utf-8")
    return tomllib.loads(text)


def load_profile(name: str, region: str | None = None) -> Profile:
    """A profile, with its regional overrides for ``region`` (e.g. a US state) applied."""
    data = _profiles_data()
    if name not in data:
        raise ValueError(f"unknown compliance profile {name!r}; known: {', '.join(data)}")
    values = {k: v for k, v in data[name].items() if k != "regions"}
    values.update(data[name].get("regions", {}).get(region or "", {}))
    return _profile(name, values)


def _profile(name: str, values: Mapping[str, Any]) -> Profile:
    def window(pair: Sequence[str]) -> tuple[dt.time, dt.time]:
        return dt.time.fromisoformat(pair[0]), dt.time.fromisoformat(pair[1])

    fields = {f.name for f in dataclasses.fields(Profile)}
    unknown = set(values) - fields
    if unknown:
        raise ValueError(f"profile {name}: unknown keys {sorted(unknown)}")
    converted: dict[str, Any] = dict(values)
    converted["call_window"] = window(values["call_window"])
    converted["sms_window"] = window(values["sms_window"])
    for key in ("opt_out_keywords", "opt_in_keywords", "help_keywords"):
        converted[key] = tuple(values.get(key, ()))
    converted["keyword_opt_out_covers"] = tuple(values.get("keyword_opt_out_covers", ("sms",)))
    if not converted["keyword_opt_out_covers"] or not set(converted["keyword_opt_out_covers"]) <= {
        CALL,
        SMS,
    }:
        raise ValueError(f"profile {name}: keyword_opt_out_covers must name sms and/or call")
    for key in ("blocking_holds", "uncounted_call_results"):
        converted[key] = frozenset(values.get(key, ()))
    unknown_holds = converted["blocking_holds"] - set(HoldKind)
    if unknown_holds:
        raise ValueError(f"profile {name}: blocking_holds {sorted(unknown_holds)} are no HoldKind")
    return Profile(name=name, **converted)


# --- the facts -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class PastAttempt:
    """One earlier attempt on the debtor's debts (any party), as the contact log has it.

    Caps per debtor or per number count every debt; caps per debt (the US 7-in-7 rule and its
    conversation prong) count the attempts whose ``debt`` is the contacted one.
    """

    at: dt.datetime
    channel: str  # call | sms
    direction: str  # outbound | inbound
    party: str  # "debtor" or a contact_ref
    phone: str
    result: str  # busy, not_in_service, no_answer, voicemail, conversation, wrong_number, ...
    debt: str = ""  # which debt (loan) it was about; "" when the history is of one debt only


@dataclasses.dataclass(frozen=True, slots=True)
class Party:
    """Whom the contact is for: the debtor, or a third party and what they are to the debt."""

    ref: str  # "debtor" or a contact_ref
    kind: str  # debtor | guarantor (debt-related) | emergency (not debt-related) | unrelated
    refused: bool = False  # a third party who asked never to be contacted again

    @property
    def is_debtor(self) -> bool:
        return self.kind == "debtor"


@dataclasses.dataclass(frozen=True, slots=True)
class Facts:
    """Everything the guard decides from, loaded by the caller (see service.compliance)."""

    profile: Profile
    lender_zone: str
    debtor_zones: tuple[str, ...]  # () unknown; one: known; several: ambiguous
    party: Party
    phone: str | None
    history: tuple[PastAttempt, ...] = ()
    sms_consent: bool = False
    opted_out: frozenset[tuple[str, str]] = frozenset()  # (phone, channel)
    holds: frozenset[str] = frozenset()
    promise_until: dt.date | None = None  # a pending promise's date plus grace
    # The debtor's state, for third-party rules: reachable | unreachable | deceased |
    # incapacitated (given, or judged by :func:`debtor_state`).
    debtor_state: str | None = None  # None: judged here, from the holds and the contact log
    location_contacts_with_party: int = 0  # earlier location contacts with this person, any debt
    debt: str = ""  # the debt (loan) this contact is about; "" counts every attempt as this debt
    # What reachability (失联) is judged from: the debtor's known, valid numbers (None: not
    # known, so never judged lost from them; (): none left); the days of attempts on every one
    # of them without a conversation that make a debtor lost; the day the last close of
    # business found them lost (None: it did not).
    debtor_numbers: tuple[str, ...] | None = None
    lost_contact_days: int = 3
    lost_contact_on: dt.date | None = None


# The purpose of a reminder of the debtor's own promise, and the template that is one.
PROMISE_REMINDER = "promise_reminder"
PROMISE_REMINDER_TEMPLATES = frozenset({"promise_reminder"})


@dataclasses.dataclass(frozen=True, slots=True)
class Request:
    channel: str  # call | sms | letter
    at: dt.datetime  # aware
    automated: bool = True
    # collection | location (third parties: where is the debtor) | promise_reminder (the debtor's
    # own promise recalled the day before: not dunning, so a pending promise does not defer it)
    purpose: str = "collection"
    text: str | None = None  # the rendered SMS, when there is one to check
    voicemail: str | None = None  # limited | full: what a call may leave on a machine


# --- the guard -----------------------------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class _Outcome:
    blocks: list[str] = dataclasses.field(default_factory=list)
    reviews: list[str] = dataclasses.field(default_factory=list)
    defers: list[tuple[str, dt.datetime]] = dataclasses.field(default_factory=list)

    def decision(self) -> Decision:
        if self.blocks:
            return Decision(Verdict.block, tuple(self.blocks + self.reviews))
        if self.reviews:
            return Decision(Verdict.review, tuple(self.reviews))
        if self.defers:
            reasons = tuple(reason for reason, _ in self.defers)
            return Decision(Verdict.defer, reasons, max(at for _, at in self.defers))
        return Decision(Verdict.allow)


def guard(request: Request, facts: Facts) -> Decision:
    """The verdict on one contact, with every reason that applies (deterministic). It never
    raises on odd facts: a moment outside the calendar (service.domain.dates) is blocked, with
    the reason."""
    if request.at.tzinfo is None:
        raise ValueError("the contact's time must be aware")
    outcome = _Outcome()
    try:
        if not in_calendar(request.at.astimezone(dt.UTC).date()):
            return Decision(Verdict.block, ("time_out_of_range",))
        if request.channel == LETTER:
            return _letter(request, facts, outcome)
        zones = _zones(facts, outcome)
        _parties(request, facts, outcome)
        _permissions(request, facts, outcome)
        if zones:
            try:
                _timed_rules(request, facts, zones, outcome)
            except _NoCommonWindow:
                outcome.blocks.append("no_common_window")
        _content(request, facts, outcome)
    except OverflowError:  # a history item or promise at the calendar's edge
        return Decision(Verdict.block, ("time_out_of_range",))
    return outcome.decision()


def _letter(request: Request, facts: Facts, outcome: _Outcome) -> Decision:
    """A letter: no window, caps, number or consent; holds and third-party rules apply, and a
    pending promise suspends an automated one until the day after its date plus grace."""
    _parties(request, facts, outcome)
    # A letter's day is the debtor's when their zone is known, else the lender's.
    names = [*(facts.debtor_zones if len(facts.debtor_zones) == 1 else ()), facts.lender_zone]
    zone = next((zone for zone in map(_zone_or_none, names) if zone is not None), None)
    if zone is None:
        outcome.blocks.append("zone_invalid")
        return outcome.decision()
    promise = facts.promise_until
    if promise is not None and request.automated and _local_date(request.at, zone) <= promise:
        resume = dt.datetime.combine(promise + dt.timedelta(days=1), dt.time(), zone)
        outcome.defers.append(("promise_pending", resume))
    return outcome.decision()


def _zone_or_none(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory's name
        return None


def _timed_rules(
    request: Request, facts: Facts, zones: Sequence[ZoneInfo], outcome: _Outcome
) -> None:
    """Window, pending promise and frequency caps: everything that can say "later"."""
    profile = facts.profile
    day_zone = zones[0]  # days are counted in one zone: the first candidate
    _window(request, profile, zones, outcome)
    promise = facts.promise_until
    if (
        promise is not None
        and request.automated
        and request.purpose != PROMISE_REMINDER
        and _local_date(request.at, day_zone) <= promise
    ):
        resume = promise + dt.timedelta(days=1)
        outcome.defers.append(
            ("promise_pending", _window_start(resume, profile, request.channel, zones))
        )
    if request.channel == CALL:
        _call_caps(request, facts, zones, day_zone, outcome)
    else:
        _sms_caps(request, facts, zones, day_zone, outcome)


def _zones(facts: Facts, outcome: _Outcome) -> tuple[ZoneInfo, ...]:
    if not facts.debtor_zones and facts.profile.unknown_zone != "lender":
        outcome.blocks.append("zone_unknown")
        return ()
    zones = tuple(_zone_or_none(name) for name in facts.debtor_zones or [facts.lender_zone])
    if None in zones:
        outcome.blocks.append("zone_invalid")
        return ()
    return tuple(zone for zone in zones if zone is not None)


def _parties(request: Request, facts: Facts, outcome: _Outcome) -> None:
    party, rules = facts.party, facts.profile.third_party
    holds = facts.holds & facts.profile.blocking_holds
    if not party.is_debtor:
        # A debtor's death is what lets some third parties be asked to help; it does not
        # stop that contact.
        holds -= {"deceased"}
    outcome.blocks.extend(f"hold_{hold}" for hold in sorted(holds))
    if party.is_debtor:
        return
    if party.refused:
        outcome.blocks.append("third_party_refused")
    if party.kind == "unrelated":
        outcome.blocks.append("third_party_unrelated")
        return
    if rules == "cn":
        if party.kind == "emergency":
            if debtor_state(facts, request.at) == "reachable":
                outcome.blocks.append("third_party_debtor_reachable")
            if request.purpose != "location":
                outcome.blocks.append("third_party_no_disclosure")
    elif rules == "us":
        # A guarantor is a consumer on the debt; anyone else: location information only, once.
        if party.kind != "guarantor":
            if request.purpose != "location":
                outcome.blocks.append("third_party_location_only")
            if facts.location_contacts_with_party >= 1:
                outcome.blocks.append("third_party_once")
    elif party.kind != "guarantor" and request.purpose != "location":
        outcome.reviews.append("third_party_identity_unverified")


def _permissions(request: Request, facts: Facts, outcome: _Outcome) -> None:
    if facts.phone is None:
        outcome.blocks.append("no_number")
        return
    if (facts.phone, request.channel) in facts.opted_out:
        outcome.blocks.append("opted_out")
    if request.channel == SMS and not facts.sms_consent:
        outcome.blocks.append("sms_consent_missing")


def _content(request: Request, facts: Facts, outcome: _Outcome) -> None:
    profile = facts.profile
    if (
        request.channel == SMS
        and request.text is not None
        and (profile.sms_footer not in request.text)
    ):
        outcome.blocks.append("sms_footer_missing")
    if request.channel == CALL and profile.voicemail == "limited" and request.voicemail == "full":
        outcome.blocks.append("voicemail_not_limited")


# --- time ---------------------------------------------------------------------------------------


class _NoCommonWindow(Exception):
    pass


def _local_date(moment: dt.datetime, zone: ZoneInfo) -> dt.date:
    return moment.astimezone(zone).date()


# A window that opens "after" its hour first allows the next whole second.
_AFTER = dt.timedelta(seconds=1)


@dataclasses.dataclass(frozen=True, slots=True)
class _Window:
    start: dt.time
    end: dt.time
    opens_after: bool  # the start instant itself is outside (US: "after 8 o'clock")

    def inside(self, moment: dt.datetime, zone: ZoneInfo) -> bool:
        local = moment.astimezone(zone).time()
        opened = self.start < local if self.opens_after else self.start <= local
        return opened and local < self.end

    def opening(self, day: dt.date, zone: ZoneInfo) -> dt.datetime:
        first = dt.datetime.combine(day, self.start, zone)
        return (first + _AFTER if self.opens_after else first).astimezone(dt.UTC)


def _window_of(profile: Profile, channel: str) -> _Window:
    start, end = profile.window(channel)
    return _Window(start, end, profile.window_opens_after)


def _window(
    request: Request, profile: Profile, zones: Sequence[ZoneInfo], outcome: _Outcome
) -> None:
    window = _window_of(profile, request.channel)
    if all(window.inside(request.at, zone) for zone in zones):
        return
    reason = "outside_window" if len(zones) == 1 else "outside_window_in_some_zone"
    outcome.defers.append((reason, _next_open(request.at, window, zones)))


def _next_open(moment: dt.datetime, window: _Window, zones: Sequence[ZoneInfo]) -> dt.datetime:
    """The first instant at or after ``moment`` inside the window in every zone."""
    # Candidates: each zone's window openings from the day before onwards; the answer is one
    # of them (or ``moment`` itself), whichever is first inside every zone's window.
    candidates = sorted(
        {
            window.opening(day, zone)
            for zone in zones
            for offset in range(-1, SEARCH_DAYS)
            for day in [_local_date(moment, zone) + dt.timedelta(days=offset)]
        }
    )
    for candidate in candidates:
        if candidate >= moment and all(window.inside(candidate, zone) for zone in zones):
            return candidate
    # The candidate zones' windows never overlap (zones half a world apart): no hour is safe.
    raise _NoCommonWindow


def _window_start(
    day: dt.date, profile: Profile, channel: str, zones: Sequence[ZoneInfo]
) -> dt.datetime:
    """The first allowed instant of ``day`` (in the first zone) or after it."""
    window = _window_of(profile, channel)
    return _next_open(window.opening(day, zones[0]), window, zones)


# --- frequency ----------------------------------------------------------------------------------


def _days(attempts: Iterable[PastAttempt], zone: ZoneInfo) -> list[dt.date]:
    return sorted(_local_date(a.at, zone) for a in attempts)


def _call_caps(
    request: Request,
    facts: Facts,
    zones: Sequence[ZoneInfo],
    zone: ZoneInfo,
    outcome: _Outcome,
) -> None:
    profile, party = facts.profile, facts.party
    today = _local_date(request.at, zone)
    before = [a for a in facts.history if a.channel == CALL and a.at <= request.at]
    person = [a for a in before if a.party == party.ref]

    def tomorrow() -> dt.datetime:
        return _window_start(today + dt.timedelta(days=1), profile, CALL, zones)

    if profile.conversations_per_day is not None and party.is_debtor:
        talks = [a for a in person if a.result == "conversation"]
        if _days(talks, zone).count(today) >= profile.conversations_per_day:
            outcome.defers.append(("conversations_per_day", tomorrow()))
    if profile.unanswered_per_day_per_number is not None:
        dials = [
            a
            for a in before
            if a.direction == "outbound" and a.phone == facts.phone and a.result != "conversation"
        ]
        if _days(dials, zone).count(today) >= profile.unanswered_per_day_per_number:
            outcome.defers.append(("unanswered_per_number", tomorrow()))
    outbound = [a for a in person if a.direction == "outbound"]
    daily = profile.calls_per_day
    if daily is not None and _days(outbound, zone).count(today) >= daily:
        outcome.defers.append(("calls_per_day", tomorrow()))
    # The US rules are per person per debt.
    this_debt = [a for a in person if not facts.debt or not a.debt or a.debt == facts.debt]
    if profile.quiet_days_after_conversation is not None:
        # Inbound conversations count too; the conversation's own day is day 1.
        talked = _days((a for a in this_debt if a.result == "conversation"), zone)
        if talked and (today - talked[-1]).days < profile.quiet_days_after_conversation:
            resume = talked[-1] + dt.timedelta(days=profile.quiet_days_after_conversation)
            outcome.defers.append(
                ("conversation_in_last_7_days", _window_start(resume, profile, CALL, zones))
            )
    if profile.calls_per_7_days is not None:
        counted = [
            a
            for a in this_debt
            if a.direction == "outbound" and a.result not in profile.uncounted_call_results
        ]
        days = _days(counted, zone)
        limit = profile.calls_per_7_days
        if _in_7_days(days, today) >= limit:
            later = today + dt.timedelta(days=1)
            while _in_7_days(days, later) >= limit:
                later += dt.timedelta(days=1)
            outcome.defers.append(("calls_in_7_days", _window_start(later, profile, CALL, zones)))


def _sms_caps(
    request: Request,
    facts: Facts,
    zones: Sequence[ZoneInfo],
    zone: ZoneInfo,
    outcome: _Outcome,
) -> None:
    profile = facts.profile
    today = _local_date(request.at, zone)
    sent = _days(
        (
            a
            for a in facts.history
            if a.channel == SMS
            and a.direction == "outbound"
            and a.party == facts.party.ref
            and a.at <= request.at
        ),
        zone,
    )
    if profile.sms_per_day is not None and sent.count(today) >= profile.sms_per_day:
        tomorrow = today + dt.timedelta(days=1)
        outcome.defers.append(("sms_per_day", _window_start(tomorrow, profile, SMS, zones)))
    if profile.sms_per_7_days is not None and _in_7_days(sent, today) >= profile.sms_per_7_days:
        later = today + dt.timedelta(days=1)
        while _in_7_days(sent, later) >= profile.sms_per_7_days:
            later += dt.timedelta(days=1)
        outcome.defers.append(("sms_in_7_days", _window_start(later, profile, SMS, zones)))


def _in_7_days(days: Sequence[dt.date], last: dt.date) -> int:
    """How many of ``days`` fall in the seven consecutive days ending ``last``."""
    first = last - dt.timedelta(days=6)
    return sum(1 for day in days if first <= day <= last)


# --- reachability (失联) --------------------------------------------------------------------------

# Holds that are states of the debtor for the third-party rules, not only reasons to stop.
STATE_HOLDS = ("deceased",)


def debtor_state(facts: Facts, at: dt.datetime) -> str:
    """The debtor's state at ``at`` for the third-party rules: given, or judged from the holds
    and the contact log as it stands (DESIGN.md §3, "reachability is live").

    A conversation with the debtor since the lost-contact episode began (or in the last days)
    makes them reachable at once. Found lost by the last close of business and not reached since:
    unreachable. Otherwise lost only when, in the last ``lost_contact_days`` whole days and
    today, the debtor was called on at least that many different days and every known number
    was dialled, without a conversation — or no valid number is left. Numbers not known: not
    judged lost (it fails closed: a third party is not called on a guess).
    """
    if facts.debtor_state is not None:
        return facts.debtor_state
    state = next((hold for hold in STATE_HOLDS if hold in facts.holds), None)
    if state is not None:
        return state
    zone = _zone_or_none(facts.lender_zone) or ZoneInfo("UTC")
    today = _local_date(at, zone)
    window = dt.datetime.combine(
        today - dt.timedelta(days=facts.lost_contact_days), dt.time(), zone
    )
    since = window
    if facts.lost_contact_on is not None:
        since = min(window, dt.datetime.combine(facts.lost_contact_on, dt.time(), zone))
    debtor = [a for a in facts.history if a.party == "debtor" and a.at <= at]
    if any(a.result == "conversation" and a.at >= since for a in debtor):
        return "reachable"
    if facts.lost_contact_on is not None or facts.debtor_numbers == ():
        return "unreachable"
    if facts.debtor_numbers is None:
        return "reachable"
    calls = [
        a for a in debtor if a.channel == CALL and a.direction == "outbound" and a.at >= window
    ]
    days = {_local_date(a.at, zone) for a in calls}
    tried = set(facts.debtor_numbers) <= {a.phone for a in calls}
    return "unreachable" if tried and len(days) >= facts.lost_contact_days else "reachable"


# --- decisions kept, and decided again ------------------------------------------------------------


def decision_inputs(request: Request, facts: Facts) -> dict[str, Any]:
    """Everything a decision was made from, as JSON: enough to decide it again with
    :func:`replay` (the profile's effective values, every history item with its debt)."""
    return {
        "request": {
            "channel": request.channel,
            "at": request.at.isoformat(),
            "automated": request.automated,
            "purpose": request.purpose,
            "text": request.text,
            "voicemail": request.voicemail,
        },
        "profile": facts.profile.as_dict(),
        "lender_zone": facts.lender_zone,
        "debtor_zones": list(facts.debtor_zones),
        "party": dataclasses.asdict(facts.party),
        "phone": facts.phone,
        "sms_consent": facts.sms_consent,
        "opted_out": sorted(list(pair) for pair in facts.opted_out),
        "holds": sorted(facts.holds),
        "promise_until": facts.promise_until.isoformat() if facts.promise_until else None,
        "debtor_state": facts.debtor_state,
        "location_contacts_with_party": facts.location_contacts_with_party,
        "debt": facts.debt,
        "debtor_numbers": None if facts.debtor_numbers is None else list(facts.debtor_numbers),
        "lost_contact_days": facts.lost_contact_days,
        "lost_contact_on": facts.lost_contact_on.isoformat() if facts.lost_contact_on else None,
        "history": [
            [a.at.isoformat(), a.channel, a.direction, a.party, a.phone, a.result, a.debt]
            for a in facts.history
        ],
    }


def replay(inputs: Mapping[str, Any]) -> Decision:
    """The decision :func:`decision_inputs` describes, decided again from the inputs alone."""
    asked = inputs["request"]
    request = Request(
        channel=asked["channel"],
        at=dt.datetime.fromisoformat(asked["at"]),
        automated=asked["automated"],
        purpose=asked["purpose"],
        text=asked["text"],
        voicemail=asked["voicemail"],
    )
    if not isinstance(inputs.get("profile"), Mapping):
        raise ValueError("a decision stored before its inputs were complete cannot be replayed")
    promise, lost = inputs["promise_until"], inputs["lost_contact_on"]
    numbers = inputs["debtor_numbers"]
    facts = Facts(
        profile=Profile.from_dict(inputs["profile"]),
        lender_zone=inputs["lender_zone"],
        debtor_zones=tuple(inputs["debtor_zones"]),
        party=Party(**inputs["party"]),
        phone=inputs["phone"],
        history=tuple(
            PastAttempt(dt.datetime.fromisoformat(at), *rest) for at, *rest in inputs["history"]
        ),
        sms_consent=inputs["sms_consent"],
        opted_out=frozenset((phone, medium) for phone, medium in inputs["opted_out"]),
        holds=frozenset(inputs["holds"]),
        promise_until=dt.date.fromisoformat(promise) if promise else None,
        debtor_state=inputs["debtor_state"],
        location_contacts_with_party=inputs["location_contacts_with_party"],
        debt=inputs["debt"],
        debtor_numbers=None if numbers is None else tuple(numbers),
        lost_contact_days=inputs["lost_contact_days"],
        lost_contact_on=dt.date.fromisoformat(lost) if lost else None,
    )
    return guard(request, facts)
