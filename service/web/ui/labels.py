"""How the pages name the members of a closed list (classification, roles, …): one table per
list, msgids in English, translated by the catalogs. The lists themselves are defined once, in
service.domain and the models; these are only their names on a page."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any

from babel.support import LazyProxy

from service.db.models import Role
from service.domain.compliance import Reason, Verdict
from service.domain.contact import ContactReason
from service.domain.delinquency import RiskClass
from service.web.ui.i18n import lazy_gettext as _l

LABELS: dict[type[enum.Enum], dict[Any, LazyProxy]] = {
    # 五级分类: the UI shows 正常/关注/次级/可疑/损失 in Chinese (DESIGN §5).
    RiskClass: {
        RiskClass.normal: _l("Normal"),
        RiskClass.special_mention: _l("Special mention"),
        RiskClass.substandard: _l("Substandard"),
        RiskClass.doubtful: _l("Doubtful"),
        RiskClass.loss: _l("Loss"),
    },
    Role: {
        Role.collector: _l("Collector"),
        Role.supervisor: _l("Supervisor"),
        Role.admin: _l("Administrator"),
    },
    # The compliance guard's verdicts and reasons (docs/compliance.md), as a collector reads
    # them beside a number: "blocked until 08:00 — quiet hours".
    Verdict: {
        Verdict.allow: _l("Allowed"),
        Verdict.block: _l("Blocked"),
        Verdict.defer: _l("Not now"),
        Verdict.review: _l("Needs review"),
    },
    Reason: {
        Reason.time_out_of_range: _l("time out of range"),
        Reason.zone_unknown: _l("time zone unknown"),
        Reason.zone_invalid: _l("time zone invalid"),
        Reason.no_common_window: _l("no hour allowed in all their possible time zones"),
        Reason.outside_window: _l("quiet hours"),
        Reason.outside_window_in_some_zone: _l("quiet hours in one of their possible time zones"),
        Reason.promise_pending: _l("promise to pay pending"),
        Reason.conversations_per_day: _l("daily conversation cap reached"),
        Reason.unanswered_per_number: _l("daily cap of unanswered calls to this number reached"),
        Reason.calls_per_day: _l("daily call cap reached"),
        Reason.conversation_in_last_7_days: _l("spoken with in the last 7 days"),
        Reason.calls_in_7_days: _l("7-day cap reached"),
        Reason.sms_per_day: _l("daily SMS cap reached"),
        Reason.sms_in_7_days: _l("7-day SMS cap reached"),
        Reason.no_number: _l("no number"),
        Reason.opted_out: _l("opted out"),
        Reason.sms_consent_missing: _l("no consent to texts"),
        Reason.sms_footer_missing: _l("the text lacks the opt-out footer"),
        Reason.voicemail_not_limited: _l("only the limited voicemail is allowed"),
        Reason.third_party_refused: _l("refused all contact"),
        Reason.third_party_unrelated: _l("not a contact of the debtor"),
        Reason.third_party_debtor_reachable: _l("emergency contact: debtor reachable"),
        Reason.third_party_no_disclosure: _l("emergency contact: never about the debt"),
        Reason.third_party_location_only: _l("third party: to locate the debtor only"),
        Reason.third_party_once: _l("third party already contacted once"),
        Reason.third_party_identity_unverified: _l("third party's identity not verified"),
        Reason.hold_dispute: _l("hold: dispute"),
        Reason.hold_deceased: _l("hold: deceased"),
        Reason.hold_bankruptcy: _l("hold: bankruptcy"),
        Reason.hold_legal_action: _l("hold: legal action"),
        Reason.hold_complaint: _l("hold: complaint"),
        Reason.hold_cease_in_writing: _l("hold: cease request in writing"),
        Reason.hold_attorney_represented: _l("hold: represented by an attorney"),
        Reason.hold_breathing_space: _l("hold: breathing space"),
        Reason.hold_mental_health_crisis: _l("hold: mental health crisis"),
        Reason.hold_vulnerability_review: _l("hold: vulnerability review"),
    },
    ContactReason: {
        ContactReason.number_invalid: _l("number invalid"),
        ContactReason.loan_closed: _l("loan closed"),
        ContactReason.paid_since_planned: _l("paid since it was planned"),
        ContactReason.template_error: _l("the message could not be written"),
    },
}
# Lists read back from SQL as plain strings: their names by the list and the stored value
# (a kind may span several lists: a contact's reasons are the guard's and the contact layer's).
BY_NAME: dict[str, type[enum.Enum] | tuple[type[enum.Enum], ...]] = {
    "classification": RiskClass,
    "role": Role,
    "verdict": Verdict,
    "reason": (Reason, ContactReason),
}


def label(value: Any, kind: str | None = None) -> str:
    """The page's name for ``value`` (an enum member, or a stored string with its list's
    ``kind``); the value itself when the list has no names (a new member is seen, not hidden)."""
    if value is None:
        return "—"
    if kind is not None:
        found = BY_NAME[kind]
        for enum_type in found if isinstance(found, tuple) else (found,):
            try:
                value = enum_type[value] if isinstance(value, str) else enum_type(value)
            except (KeyError, ValueError):
                continue
            break
        else:
            return str(value)
    names = LABELS.get(type(value))
    if names is None or value not in names:
        return str(getattr(value, "value", value))
    return str(names[value])


def reason_names(reasons: Iterable[str]) -> str:
    """A verdict's reasons as a page names them, in order ("quiet hours, opted out"); a code
    without a name shows as itself."""
    return ", ".join(label(reason, "reason") for reason in reasons)
