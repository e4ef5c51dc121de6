"""How the contact panel reads the guard: each number's verdict on each medium as a collector
says it ("blocked until 08:00 — quiet hours", the time on the debtor's clock), who the number
belongs to, and whether the whole number is shown (service.contact.reach decides who may be
contacted; this only words it)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

from babel import dates
from babel.support import LazyProxy

from service.contact.reach import NumberState, Reach
from service.domain.compliance import Decision, Verdict
from service.domain.phones import mask
from service.web.ui import i18n
from service.web.ui.i18n import gettext as _
from service.web.ui.i18n import lazy_gettext as _l
from service.web.ui.labels import label, reason_names

CHIPS = {Verdict.allow: "good", Verdict.defer: "warn", Verdict.block: "bad", Verdict.review: "warn"}
PARTIES: dict[str, LazyProxy] = {
    "debtor": _l("Debtor"),
    "guarantor": _l("Guarantor"),
    "emergency": _l("Emergency contact"),
    "unrelated": _l("Other person"),
}
LINES: dict[str, LazyProxy] = {
    "primary": _l("primary number"),
    "alt": _l("other number"),
}
# The SMS templates a collector may send (service.contact.texting.OFFERED), by their page name.
TEMPLATES: dict[str, LazyProxy] = {
    "overdue": _l("Overdue notice"),
    "due_day": _l("Payment due today"),
    "pre_due": _l("Payment due soon"),
    "promise_reminder": _l("Promise reminder"),
    "promise_missed": _l("Missed promise follow-up"),
}


def template_name(template: str) -> str:
    found = TEMPLATES.get(template)
    return str(found) if found is not None else template


@dataclasses.dataclass(frozen=True, slots=True)
class Said:
    """A verdict as the panel shows it: a chip and the reasons after it."""

    verdict: str
    chip: str
    headline: str
    why: str

    @property
    def allowed(self) -> bool:
        return self.verdict == Verdict.allow.value


def _babel() -> str:
    return i18n.LOCALES[i18n.current_locale()]


def until(moment: dt.datetime, zone: str, now: dt.datetime) -> str:
    """When a deferred contact becomes allowed, on the debtor's clock: the time alone today,
    "tomorrow" and the time, else the date and the time."""
    place = ZoneInfo(zone)
    local, today = moment.astimezone(place), now.astimezone(place).date()
    clock = dates.format_time(local, "HH:mm", locale=_babel())
    if local.date() == today:
        return clock
    if local.date() == today + dt.timedelta(days=1):
        return _("tomorrow %(time)s", time=clock)
    return f"{dates.format_date(local.date(), 'medium', locale=_babel())} {clock}"


def said(decision: Decision, zone: str, now: dt.datetime) -> Said:
    """One verdict in words, in the current page's language."""
    why = reason_names(decision.reasons)
    if decision.verdict is Verdict.allow:
        headline = _("Allowed now")
    elif decision.verdict is Verdict.defer and decision.next_allowed_at is not None:
        headline = _("Blocked until %(time)s", time=until(decision.next_allowed_at, zone, now))
    else:
        headline = label(decision.verdict)
    return Said(decision.verdict.value, CHIPS[decision.verdict], headline, why)


@dataclasses.dataclass(frozen=True, slots=True)
class NumberRow:
    """One number of the panel."""

    state: NumberState
    who: str
    line: str  # the debtor's: primary or other number ("" for a contact)
    relation: str  # a contact's relation to the debtor, as the lender's file has it (data)
    number: str  # the whole number, or masked when the collector has no reason to see it
    shown: bool
    call: Said
    sms: Said


def rows(reach: Reach) -> list[NumberRow]:
    found = []
    for state in reach.numbers:
        found.append(
            NumberRow(
                state=state,
                who=str(PARTIES.get(state.party_kind, state.party_kind)),
                line=str(LINES[state.line]) if state.line in LINES else "",
                relation=state.relation,
                number=state.phone if state.reachable else mask(state.phone),
                shown=state.reachable,
                call=said(state.call, reach.zone, reach.at),
                sms=said(state.sms, reach.zone, reach.at),
            )
        )
    return found
