"""Treatment planning: the day's contacts, letters and tasks, decided and written to the outbox.

Runs inside close of business (:mod:`service.cob.nightly`), in its transaction: the decision and
the outbox row it makes commit together, so a crash plans nothing or everything. Each row has an
idempotency key (loan:step:day, or loan:step for one-off steps), so planning a day again
changes what has not been sent and duplicates nothing. Every contact passes the compliance
guard at its planned time; its decision is stored with its inputs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
import structlog
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from service.clock import utcnow
from service.db.models import (
    GuardDecision,
    Loan,
    OutboxMessage,
    OutboxStatus,
)
from service.domain.compliance import (
    PROMISE_REMINDER,
    PROMISE_REMINDER_TEMPLATES,
    Decision,
    PastAttempt,
    Profile,
    Request,
    Verdict,
    decision_inputs,
    guard,
)
from service.domain.contact import Channel
from service.settings import Settings
from service.treatment.accounts import PlanRow, accounts_on
from service.treatment.facts import (
    LoanFacts,
    facts_for,
    load_loan_facts,
    opted_out,
    profile_for,
)
from service.treatment.messages import (
    has_template,
    message_variables,
    render_voice,
    sms_text,
    voice_context,
)
from service.treatment.outbox import (
    UNSENT,
    existing_states,
    expire,
    outbox_key,
    task_row,
    withdraw_closed,
    withdraw_unplanned,
    write_outbox,
    write_tasks,
)
from service.treatment.plans import StoredPlan, active_plans, install_default_plan, plan_for
from strategies import Registry
from strategies.treatment import Step

log = structlog.get_logger(__name__)

CHUNK = 2000
SLICE = 20_000  # loans planned at a time


@dataclasses.dataclass(slots=True)
class PlanReport:
    day: dt.date
    accounts: int = 0
    without_plan: int = 0
    contacts: Counter[tuple[str, str]] = dataclasses.field(default_factory=Counter)
    steps: Counter[tuple[str, str, str]] = dataclasses.field(default_factory=Counter)
    reasons: Counter[tuple[str, str]] = dataclasses.field(default_factory=Counter)
    tasks: Counter[tuple[str, str]] = dataclasses.field(default_factory=Counter)
    already_sent: int = 0
    expired: int = 0  # earlier days' reminders never sent: a day's reminder is that day's
    withdrawn: int = 0  # the day's unsent rows a re-plan no longer makes
    lost_marked: int = 0  # accounts marked 失联 by this close of business
    lost_cleared: int = 0  # accounts reached again
    plans: list[str] = dataclasses.field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "plans": self.plans,
            "accounts": self.accounts,
            "without_plan": self.without_plan,
            "contacts": [
                {"channel": c, "status": s, "count": n}
                for (c, s), n in sorted(self.contacts.items())
            ],
            "steps": [
                {"step": k, "channel": c, "status": s, "count": n}
                for (k, c, s), n in sorted(self.steps.items())
            ],
            "reasons": [
                {"status": s, "reason": r, "count": n}
                for (s, r), n in sorted(self.reasons.items(), key=lambda i: (i[0][0], -i[1]))
            ],
            "tasks": [
                {"kind": k, "state": s, "count": n} for (k, s), n in sorted(self.tasks.items())
            ],
            "already_sent": self.already_sent,
            "expired": self.expired,
            "withdrawn": self.withdrawn,
            "lost_contact": {"marked": self.lost_marked, "cleared": self.lost_cleared},
        }


async def plan_day(
    conn: AsyncConnection,
    registry: Registry,
    settings: Settings,
    day: dt.date,
    lost_contact: tuple[int, int] = (0, 0),
) -> PlanReport:
    """Plan ``day`` from the positions COB computed for it, and write the outbox and tasks.

    ``lost_contact``: (marked, cleared) by the same close of business, for the report.
    """
    await install_default_plan(conn)
    stored = await active_plans(conn)
    plans = {plan.spec.portfolio: plan for plan in stored}
    report = PlanReport(day, plans=[f"{p.spec.name}@{p.version}" for p in stored])
    report.lost_marked, report.lost_cleared = lost_contact
    treatments = {plan.id: registry.create(plan.spec.strategy, "treatment") for plan in stored}
    report.expired = await expire(conn, day, ZoneInfo(settings.lender_timezone))
    report.withdrawn = await withdraw_closed(conn)
    first, last = (await conn.execute(select(func.min(Loan.id), func.max(Loan.id)))).one()
    # A slice of loans at a time: memory stays flat however large the portfolio.
    for low in range(first or 0, (last or -1) + 1, SLICE):
        rows = await accounts_on(conn, day, plans, low, low + SLICE)
        report.accounts += len(rows)
        contacts: list[tuple[PlanRow, StoredPlan, Step]] = []
        tasks: list[dict[str, Any]] = []
        created = utcnow()
        for row in rows:
            plan = plan_for(plans, row.account.product)
            if plan is None:
                report.without_plan += 1
                continue
            for step in treatments[plan.id].plan(row.account, plan.spec, day):
                if step.channel == "task":
                    tasks.append(task_row(row.account, plan, step, day, created))
                else:
                    contacts.append((row, plan, step))
        report.tasks.update(await write_tasks(conn, tasks))
        keys = await _plan_contacts(conn, settings, day, contacts, report)
        report.withdrawn += await withdraw_unplanned(conn, day, low, low + SLICE, set(keys))
    log.info(
        "plan.done",
        day=day.isoformat(),
        accounts=report.accounts,
        contacts=sum(report.contacts.values()),
        tasks=sum(report.tasks.values()),
    )
    return report


async def _plan_contacts(
    conn: AsyncConnection,
    settings: Settings,
    day: dt.date,
    contacts: list[tuple[PlanRow, StoredPlan, Step]],
    report: PlanReport,
) -> list[str]:
    """Decide and write the slice's contacts; returns their keys (what this run planned)."""
    lender = ZoneInfo(settings.lender_timezone)
    # As known at the day's close of business (a back-filled night never sees later calls) —
    # or now, when the day is re-planned while it runs (a night re-run in the afternoon sees
    # the morning's calls and opt-outs); what this run plans is added to the history below.
    now = utcnow()
    until = dt.datetime.combine(day, settings.cob_time, lender)
    if until <= now < dt.datetime.combine(day + dt.timedelta(days=1), settings.cob_time, lender):
        until = now
    loan_ids = sorted({row.account.loan_id for row, _, _ in contacts})
    facts = await load_loan_facts(conn, settings, loan_ids, until, on=day)
    # An opt-out in force at any moment of the day, wherever the debtor's day is, holds.
    since = dt.datetime.combine(day - dt.timedelta(days=1), dt.time(), lender)
    opted = await opted_out(conn, (f.debtor_phone for f in facts.values()), until, since)
    timed = []
    for row, plan, step in contacts:
        loan = facts[row.account.loan_id]
        zone = _zone(loan.zones, lender)
        timed.append((dt.datetime.combine(day, step.at, zone), zone, row, plan, step))
    # In time order, so that what is planned earlier in the day counts toward later caps.
    timed.sort(key=lambda item: (item[0], item[2].account.loan_id, item[4].key))
    keys = [outbox_key(row.account.loan_id, step, day) for _, _, row, _, step in timed]
    existing = await existing_states(
        conn, OutboxMessage.idempotency_key, OutboxMessage.status, keys
    )
    # The debtor's contacts planned in this run, across their loans: caps are per debtor.
    planned: dict[int, list[PastAttempt]] = defaultdict(list)
    outbox: list[dict[str, Any]] = []
    decisions: list[dict[str, Any]] = []
    for (at, zone, row, plan, step), key in zip(timed, keys, strict=True):
        loan = facts[row.account.loan_id]
        if existing.get(key, OutboxStatus.pending) not in UNSENT:
            report.already_sent += 1
            if step.channel in (Channel.sms, Channel.call):
                # Sent (or being sent) today: it counts toward the day's later caps.
                planned[loan.borrower_id].append(_planned(at, step, loan))
            continue
        profile = profile_for(settings.compliance_profile, loan.region)
        base = facts_for(
            loan,
            profile,
            settings,
            opted,
            plan_calls_per_day=plan.spec.calls_per_day,
            lost_contact_days=plan.spec.lost_contact_after_days,
        )
        if planned[loan.borrower_id]:
            history = tuple(sorted(base.history + tuple(planned[loan.borrower_id]), key=_when))
            base = dataclasses.replace(base, history=history)
        template = _template(step, profile.voicemail, row.locale)
        context = message_context(row, settings.lender_name)
        try:
            request = contact_request(
                step.channel, template, row.locale, at, context, profile, settings.public_base_url
            )
        except jinja2.TemplateError as exc:
            log.error("plan.template_error", step=step.key, template=template, error=str(exc))
            request = Request(step.channel, at, automated=True)
            decision = Decision(Verdict.block, ("template_error",))
        else:
            decision = guard(request, base)
        status, not_before = _status(decision, at, zone, day)
        if status is OutboxStatus.pending and step.channel in (Channel.sms, Channel.call):
            planned[loan.borrower_id].append(_planned(not_before, step, loan))
        report.contacts[(step.channel, status.value)] += 1
        report.steps[(step.key, step.channel, status.value)] += 1
        for reason in decision.reasons:
            report.reasons[(status.value, reason)] += 1
        outbox.append(
            {
                "idempotency_key": key,
                "loan_id": loan.loan_id,
                "plan_id": plan.id,
                "step": step.key,
                "channel": step.channel,
                "party": "debtor",
                "phone": base.phone if step.channel != "letter" else None,
                "template": template,
                "locale": row.locale,
                "context": json.dumps(context, ensure_ascii=False),
                "planned_for": day,
                "not_before": not_before,
                "status": status,
                "reasons": ",".join(decision.reasons)[:400],
                "next_allowed_at": decision.next_allowed_at,
                "tries": 0,
                "created_at": now,
                "updated_at": now,
            }
        )
        decisions.append(
            {
                "loan_id": loan.loan_id,
                "idempotency_key": key,
                "stage": "plan",
                "party": "debtor",
                "channel": step.channel,
                "contact_at": at,
                "verdict": decision.verdict.value,
                "reasons": ",".join(decision.reasons)[:400],
                "next_allowed_at": decision.next_allowed_at,
                "inputs": json.dumps(
                    {"step": step.key, "template": template, **decision_inputs(request, base)},
                    ensure_ascii=False,
                ),
                "decided_at": now,
            }
        )
    await write_outbox(conn, outbox)
    for start in range(0, len(decisions), CHUNK):
        await conn.execute(insert(GuardDecision), decisions[start : start + CHUNK])
    return keys


def _template(step: Step, voicemail: str | None, locale: str) -> str:
    """A call where the profile allows only the limited-content voicemail uses the step's
    ``_limited`` script; without one for the locale, the full script is what the guard judges
    (and blocks: ``voicemail_not_limited``)."""
    limited = f"{step.template}_limited"
    if step.channel == "call" and voicemail == "limited" and has_template("voice", limited, locale):
        return limited
    return step.template


def contact_request(
    channel: str,
    template: str,
    locale: str,
    at: dt.datetime,
    context: dict[str, Any],
    profile: Profile,
    public_base_url: str,
) -> Request:
    """The contact as the guard sees it, its content rendered as it would leave (a missing
    template raises): the planner asks at its planned time, the dispatcher right before it
    sends."""
    if channel == "letter":
        return Request("letter", at, automated=True)
    if channel == "sms":
        text = sms_text(template, locale, context, profile.sms_footer)
        purpose = PROMISE_REMINDER if template in PROMISE_REMINDER_TEMPLATES else "collection"
        return Request("sms", at, automated=True, purpose=purpose, text=text)
    render_voice(template, locale, voice_context(context, public_base_url, 0))
    limited = template.endswith("_limited")
    return Request("call", at, automated=True, voicemail="limited" if limited else "full")


def _when(attempt: PastAttempt) -> dt.datetime:
    return attempt.at


def _planned(at: dt.datetime, step: Step, loan: LoanFacts) -> PastAttempt:
    """A contact of the day, planned or sent, as history for the day's later decisions."""
    return PastAttempt(
        at, step.channel, "outbound", "debtor", loan.debtor_phone or "", "planned",
        debt=str(loan.loan_id),
    )  # fmt: skip


def _zone(zones: Iterable[str], lender: ZoneInfo) -> ZoneInfo:
    """The zone a step's local time is read in: the debtor's first candidate, else the lender's
    (the guard still blocks an unknown zone where the profile says so)."""
    for name in zones:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            break
    return lender


def message_context(row: PlanRow, lender: str) -> dict[str, Any]:
    """The variables an SMS, call script or letter of the plan is rendered with (stored with
    the outbox row: the dispatcher renders the same words; the footer is the sender's)."""
    return message_variables(
        lender=lender,
        name=row.name,
        loan_ref=row.account.loan_ref,
        dpd=row.account.days_past_due,
        currency=row.currency,
        overdue_amount=row.overdue_amount,
        due_on=row.due_on,
        amount_due=row.amount_due,
        promise_on=row.promise.promised_on if row.promise else None,
        promise_amount=row.promise.amount if row.promise else None,
        promise_paid=row.promise.paid if row.promise else None,
    )


def _status(
    decision: Decision, at: dt.datetime, zone: ZoneInfo, day: dt.date
) -> tuple[OutboxStatus, dt.datetime]:
    if decision.verdict is Verdict.allow:
        return OutboxStatus.pending, at
    if decision.verdict is Verdict.defer and decision.next_allowed_at is not None:
        later = decision.next_allowed_at
        if later.astimezone(zone).date() == day:
            return OutboxStatus.pending, later  # later the same day: still today's contact
        return OutboxStatus.deferred, later
    if decision.verdict is Verdict.review:
        return OutboxStatus.review, at
    return OutboxStatus.blocked, at
