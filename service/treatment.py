"""Treatment planning: the day's contacts, letters and tasks, decided and written to the outbox.

Runs inside close of business (``service.cob``), in its transaction: the decision and the
outbox row it makes commit together, so a crash plans nothing or everything. Each row has an
idempotency key (loan:step:day, or loan:step for one-off steps), so planning a day again
changes what has not been sent and duplicates nothing. Every contact passes the compliance
guard at its planned time; its decision is stored with its inputs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
import structlog
from sqlalchemy import and_, case, func, insert, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from service import audit
from service.assignment import Assignment
from service.compliance import (
    facts_as_inputs,
    facts_for,
    load_loan_facts,
    opted_out,
    profile_for,
)
from service.db import utcnow
from service.domain.compliance import Decision, PastAttempt, Profile, Request, Verdict, guard
from service.errors import Conflict, NotFound, ValidationFailed
from service.models import (
    Attempt,
    AttemptResult,
    Borrower,
    Channel,
    Direction,
    GuardDecision,
    Installment,
    Loan,
    LoanStatus,
    OutboxMessage,
    OutboxStatus,
    PhoneKind,
    PhoneNumber,
    PhoneStatus,
    Task,
    TaskStatus,
)
from service.plans import StoredPlan, active_plans, install_default_plan, plan_for, product_filter
from service.rendering import has_template, render_sms, render_voice
from strategies.treatment import Step, TreatmentAccount

log = structlog.get_logger(__name__)

# Rows that planning may still change: nothing has left for them.
UNSENT = (OutboxStatus.pending, OutboxStatus.blocked, OutboxStatus.deferred, OutboxStatus.review)
CHUNK = 2000
SLICE = 20_000  # loans planned at a time


# --- lost contact (失联) -------------------------------------------------------------------------


async def mark_lost_contact(
    conn: AsyncConnection, day: dt.date, lender_zone: str
) -> tuple[int, int]:
    """Mark 失联 where the plan's days of calls never reached the debtor; clear it once they do.

    Lost: overdue for at least calls.from_dpd + lost_contact.after_days, no conversation with the
    debtor (about any of their loans) in the last after_days whole days, and either calls to the
    debtor in that time or no number left to call. Reached: a conversation with the debtor since
    the day contact was lost, the loan back to current, or closed.
    """
    await install_default_plan(conn)
    plans = {stored.spec.portfolio: stored for stored in await active_plans(conn)}
    marked = cleared = 0
    zone = ZoneInfo(lender_zone)
    for portfolio, stored in plans.items():
        spec = stored.spec
        # The last after_days whole days (COB runs in the small hours of its day).
        since = dt.datetime.combine(
            day - dt.timedelta(days=spec.lost_contact_after_days), dt.time(), zone
        ).astimezone(dt.UTC)
        talked = _debtor_attempts(
            Attempt.result == AttemptResult.conversation, Attempt.occurred_at >= since
        )
        called = _debtor_attempts(
            Attempt.channel == Channel.call,
            Attempt.direction == Direction.outbound,
            Attempt.occurred_at >= since,
        )
        reached_since_lost = _debtor_attempts(
            Attempt.result == AttemptResult.conversation,
            Attempt.occurred_at >= Loan.lost_contact_on,
        )
        no_number = ~(
            select(PhoneNumber.id)
            .where(
                PhoneNumber.borrower_id == Loan.borrower_id,
                PhoneNumber.status == PhoneStatus.active,
                PhoneNumber.kind != PhoneKind.former,
            )
            .exists()
        )
        products = product_filter(plans, portfolio)
        result = await conn.execute(
            update(Loan)
            .where(
                Loan.status == LoanStatus.open,
                Loan.lost_contact_on.is_(None),
                Loan.days_past_due >= spec.calls_from_dpd + spec.lost_contact_after_days,
                products,
                ~talked,
                or_(called, no_number),
            )
            .values(lost_contact_on=day)
        )
        marked += result.rowcount
        result = await conn.execute(
            update(Loan)
            .where(
                Loan.lost_contact_on.is_not(None),
                products,
                or_(Loan.status != LoanStatus.open, Loan.days_past_due == 0, reached_since_lost),
            )
            .values(lost_contact_on=None)
        )
        cleared += result.rowcount
    return marked, cleared


def _debtor_attempts(*conditions: Any) -> Any:
    """EXISTS: an attempt with the debtor themself (not a third party), about any of their
    loans, meeting ``conditions`` (correlated to the loan being updated)."""
    other = aliased(Loan)
    return (
        select(Attempt.id)
        .join(other, other.id == Attempt.loan_id)
        .where(other.borrower_id == Loan.borrower_id, Attempt.contact_id.is_(None), *conditions)
        .exists()
    )


# --- planning ------------------------------------------------------------------------------------


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


@dataclasses.dataclass(slots=True)
class _Row:
    """One open loan on the planning day, with what the SMS text and the facts need."""

    account: TreatmentAccount
    name: str
    locale: str
    currency: str
    overdue_amount: Decimal
    due_on: dt.date | None
    amount_due: Decimal | None


async def plan_day(
    conn: AsyncConnection,
    strategies: Assignment,
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
    treatments = {
        plan.id: strategies.registry.create(plan.spec.strategy, "treatment") for plan in stored
    }
    report.expired = await _expire(conn, day, ZoneInfo(strategies.settings.lender_timezone))
    report.withdrawn = await _withdraw_closed(conn)
    first, last = (await conn.execute(select(func.min(Loan.id), func.max(Loan.id)))).one()
    # A slice of loans at a time: memory stays flat however large the portfolio.
    for low in range(first or 0, (last or -1) + 1, SLICE):
        rows = await _accounts(conn, day, plans, low, low + SLICE)
        report.accounts += len(rows)
        contacts: list[tuple[_Row, StoredPlan, Step]] = []
        tasks: list[dict[str, Any]] = []
        created = utcnow()
        for row in rows:
            plan = plan_for(plans, row.account.product)
            if plan is None:
                report.without_plan += 1
                continue
            for step in treatments[plan.id].plan(row.account, plan.spec, day):
                if step.channel == "task":
                    tasks.append(_task(row.account, plan, step, day, created))
                else:
                    contacts.append((row, plan, step))
        await _write_tasks(conn, tasks, report)
        keys = await _plan_contacts(conn, strategies, day, contacts, report)
        report.withdrawn += await _withdraw(conn, day, low, low + SLICE, set(keys))
    log.info(
        "plan.done",
        day=day.isoformat(),
        accounts=report.accounts,
        contacts=sum(report.contacts.values()),
        tasks=sum(report.tasks.values()),
    )
    return report


async def _accounts(
    conn: AsyncConnection, day: dt.date, plans: dict[str, StoredPlan], low: int, high: int
) -> list[_Row]:
    """The open loans with ids in [low, high) that some step could apply to on ``day``."""
    steps = [step for plan in plans.values() for step in plan.spec.steps]
    horizon = max([int(s.when.get("days_before_due", 0)) for s in steps] or [0])
    maturity_days = sorted(
        {int(s.when["days_before_maturity"]) for s in steps if "days_before_maturity" in s.when}
    )
    due: dict[int, tuple[dt.date, Decimal]] = {}
    unpaid = (
        Installment.principal_due
        + Installment.interest_due
        - Installment.principal_paid
        - Installment.interest_paid
    )
    for loan_id, due_on, amount in await conn.execute(
        select(Installment.loan_id, Installment.due_on, func.sum(unpaid))
        .where(
            Installment.loan_id >= low,
            Installment.loan_id < high,
            Installment.settled_on.is_(None),
            Installment.due_on.between(day, day + dt.timedelta(days=horizon)),
        )
        .group_by(Installment.loan_id, Installment.due_on)
    ):
        if loan_id not in due or due_on < due[loan_id][0]:
            due[loan_id] = (due_on, Decimal(amount))
    # Field visits of the current lost-contact episode that were closed (and how many failed).
    visits: dict[int, tuple[int, int]] = {
        loan_id: (int(failed or 0), int(closed))
        for loan_id, failed, closed in await conn.execute(
            select(
                Task.loan_id,
                func.sum(case((Task.status == TaskStatus.failed, 1), else_=0)),
                func.count(),
            )
            .join(Loan, Loan.id == Task.loan_id)
            .where(
                Task.loan_id >= low,
                Task.loan_id < high,
                Task.kind == "field_visit",
                Task.status != TaskStatus.open,
                Task.due_on >= Loan.lost_contact_on,
            )
            .group_by(Task.loan_id)
        )
    }
    wanted = or_(
        Loan.days_past_due > 0,
        Loan.lost_contact_on.is_not(None),
        Loan.risk_class == "loss",
        and_(Loan.maturity_on < day, Loan.outstanding > 0),
        Loan.maturity_on.in_([day + dt.timedelta(days=n) for n in maturity_days]),
    )
    query = (
        select(
            Loan.id,
            Loan.loan_ref,
            Loan.product,
            Loan.bucket,
            Loan.amount_tier,
            Loan.days_past_due,
            Loan.outstanding,
            Loan.risk_class,
            Loan.lost_contact_on,
            Loan.maturity_on,
            Loan.currency,
            Loan.overdue_amount,
            Borrower.name,
            Borrower.locale,
        )
        .join(Borrower, Borrower.id == Loan.borrower_id)
        # Positions of another day are not this day's: such loans wait for their COB.
        .where(
            Loan.id >= low,
            Loan.id < high,
            Loan.status == LoanStatus.open,
            Loan.state_as_of == day,
        )
    )
    rows: list[_Row] = []
    soon = sorted(due)
    seen: set[int] = set()
    for where in [wanted] + [Loan.id.in_(soon[i : i + CHUNK]) for i in range(0, len(soon), CHUNK)]:
        for r in await conn.execute(query.where(where).order_by(Loan.id)):
            if r.id in seen:
                continue
            seen.add(r.id)
            next_due = due.get(r.id)
            account = TreatmentAccount(
                loan_id=r.id,
                loan_ref=r.loan_ref,
                product=r.product,
                bucket=r.bucket,
                amount_tier=r.amount_tier,
                days_past_due=r.days_past_due,
                outstanding=r.outstanding,
                risk_class=r.risk_class,
                lost_contact=r.lost_contact_on is not None,
                days_to_due=(next_due[0] - day).days if next_due else None,
                days_to_maturity=(r.maturity_on - day).days,
                failed_visits=visits.get(r.id, (0, 0))[0],
                lost_since=r.lost_contact_on,
                closed_visits=visits.get(r.id, (0, 0))[1],
            )
            rows.append(
                _Row(
                    account,
                    r.name,
                    r.locale,
                    r.currency,
                    r.overdue_amount,
                    next_due[0] if next_due else None,
                    next_due[1] if next_due else None,
                )
            )
    rows.sort(key=lambda row: row.account.loan_id)
    return rows


def _key(loan_id: int, step: Step, day: dt.date) -> str:
    return f"{loan_id}:{step.key}" if step.once else f"{loan_id}:{step.key}:{day.isoformat()}"


def _task(
    account: TreatmentAccount, plan: StoredPlan, step: Step, day: dt.date, now: dt.datetime
) -> dict[str, Any]:
    """A task keyed by its kind: once per loan, or once per lost-contact episode (失联 again
    after being reached is a new episode); a repeating one (a field visit) by how many of the
    episode's were closed before it, so one is open at a time."""
    key = f"{account.loan_id}:{step.template}"
    if step.when.get("lost_contact") is True and account.lost_since is not None:
        key += f":{account.lost_since.isoformat()}"
    if not step.once:
        key += f":visit{account.closed_visits + 1}"
    return {
        "idempotency_key": key,
        "loan_id": account.loan_id,
        "plan_id": plan.id,
        "kind": step.template,
        "status": TaskStatus.open,
        "due_on": day,
        "result": "",
        "created_at": now,
    }


def _insert(conn: AsyncConnection, table: Any) -> Any:
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


async def _existing(
    conn: AsyncConnection, column: Any, status: Any, keys: Sequence[str]
) -> dict[str, str]:
    found: dict[str, str] = {}
    for start in range(0, len(keys), CHUNK):
        rows = await conn.execute(
            select(column, status).where(column.in_(keys[start : start + CHUNK]))
        )
        found.update((key, str(state)) for key, state in rows)
    return found


async def _write_tasks(
    conn: AsyncConnection, tasks: list[dict[str, Any]], report: PlanReport
) -> None:
    existing = await _existing(
        conn, Task.idempotency_key, Task.status, [t["idempotency_key"] for t in tasks]
    )
    new = [t for t in tasks if t["idempotency_key"] not in existing]
    for task in tasks:
        state = "existing" if task["idempotency_key"] in existing else "new"
        report.tasks[(task["kind"], state)] += 1
    if new:
        statement = _insert(conn, Task).on_conflict_do_nothing(index_elements=["idempotency_key"])
        for start in range(0, len(new), CHUNK):
            await conn.execute(statement, new[start : start + CHUNK])


async def _plan_contacts(
    conn: AsyncConnection,
    strategies: Assignment,
    day: dt.date,
    contacts: list[tuple[_Row, StoredPlan, Step]],
    report: PlanReport,
) -> list[str]:
    """Decide and write the slice's contacts; returns their keys (what this run planned)."""
    settings = strategies.settings
    lender = ZoneInfo(settings.lender_timezone)
    # Everything in the contact log up to the end of the planning day counts.
    until = dt.datetime.combine(day + dt.timedelta(days=2), dt.time(), lender)
    loan_ids = sorted({row.account.loan_id for row, _, _ in contacts})
    facts = await load_loan_facts(conn, settings, loan_ids, until, on=day)
    opted = await opted_out(conn, (f.debtor_phone for f in facts.values()))
    timed = []
    for row, plan, step in contacts:
        loan = facts[row.account.loan_id]
        zone = _zone(loan.zones, lender)
        timed.append((dt.datetime.combine(day, step.at, zone), zone, row, plan, step))
    # In time order, so that what is planned earlier in the day counts toward later caps.
    timed.sort(key=lambda item: (item[0], item[2].account.loan_id, item[4].key))
    keys = [_key(row.account.loan_id, step, day) for _, _, row, _, step in timed]
    existing = await _existing(conn, OutboxMessage.idempotency_key, OutboxMessage.status, keys)
    # The debtor's contacts planned in this run, across their loans: caps are per debtor.
    planned: dict[int, list[PastAttempt]] = defaultdict(list)
    outbox: list[dict[str, Any]] = []
    decisions: list[dict[str, Any]] = []
    now = utcnow()
    for (at, zone, row, plan, step), key in zip(timed, keys, strict=True):
        if existing.get(key, OutboxStatus.pending) not in UNSENT:
            report.already_sent += 1
            continue
        loan = facts[row.account.loan_id]
        profile = profile_for(settings.compliance_profile, loan.region)
        base = facts_for(loan, profile, settings, opted, plan_calls_per_day=plan.spec.calls_per_day)
        if planned[loan.borrower_id]:
            history = tuple(sorted(base.history + tuple(planned[loan.borrower_id]), key=_when))
            base = dataclasses.replace(base, history=history)
        template = _template(step, profile.voicemail, row.locale)
        try:
            request = _request(step, template, at, row, settings.lender_name, profile)
        except jinja2.TemplateError as exc:
            log.error("plan.template_error", step=step.key, template=template, error=str(exc))
            request = Request(step.channel, at, automated=True)
            decision = Decision(Verdict.block, ("template_error",))
        else:
            decision = guard(request, base)
        status, not_before = _status(decision, at, zone, day)
        if status is OutboxStatus.pending and step.channel in ("sms", "call"):
            planned[loan.borrower_id].append(
                PastAttempt(
                    not_before,
                    step.channel,
                    "outbound",
                    "debtor",
                    base.phone or "",
                    "planned",
                    debt=str(loan.loan_id),
                )
            )
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
                    {"step": step.key, "template": template, **facts_as_inputs(request, base)},
                    ensure_ascii=False,
                ),
                "decided_at": now,
            }
        )
    await _write_outbox(conn, outbox)
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


def _request(
    step: Step, template: str, at: dt.datetime, row: _Row, lender: str, profile: Profile
) -> Request:
    """The contact as the guard sees it, its content rendered (a missing template raises)."""
    if step.channel == "letter":
        return Request("letter", at, automated=True)
    context = _context(row, lender, profile.sms_footer)
    if step.channel == "sms":
        return Request("sms", at, automated=True, text=render_sms(template, row.locale, context))
    render_voice(template, row.locale, context)
    limited = template.endswith("_limited")
    return Request("call", at, automated=True, voicemail="limited" if limited else "full")


async def _withdraw_closed(conn: AsyncConnection) -> int:
    """Every unsent row of a loan that is no longer open is cancelled."""
    closed = await conn.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.status.in_(UNSENT),
            OutboxMessage.loan_id.in_(select(Loan.id).where(Loan.status != LoanStatus.open)),
        )
        .values(status=OutboxStatus.cancelled, reasons="loan_closed", updated_at=utcnow())
    )
    return int(closed.rowcount)


async def _withdraw(
    conn: AsyncConnection, day: dt.date, low: int, high: int, planned: set[str]
) -> int:
    """Re-planning a day: the slice's unsent rows of that day that this run did not plan again
    (the loan paid, moved on, or the plan changed) are cancelled."""
    rows = await conn.execute(
        select(OutboxMessage.id, OutboxMessage.idempotency_key).where(
            OutboxMessage.loan_id >= low,
            OutboxMessage.loan_id < high,
            OutboxMessage.planned_for == day,
            OutboxMessage.status.in_(UNSENT),
        )
    )
    stale = [row_id for row_id, key in rows if key not in planned]
    for start in range(0, len(stale), CHUNK):
        await conn.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(stale[start : start + CHUNK]))
            .values(status=OutboxStatus.cancelled, reasons="not_planned", updated_at=utcnow())
        )
    return len(stale)


async def _expire(conn: AsyncConnection, day: dt.date, lender: ZoneInfo) -> int:
    """Calls and texts of earlier days not sent by the time ``day`` begins (for the lender)
    are cancelled: a reminder belongs to its day. Letters wait to be sent."""
    start = dt.datetime.combine(day, dt.time(), lender)
    result = await conn.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.planned_for < day,
            OutboxMessage.not_before < start,
            OutboxMessage.channel.in_(("sms", "call")),
            # Day-keyed rows only (loan:step:YYYY-MM-DD); a one-off step waits to be sent.
            OutboxMessage.idempotency_key.like("%:____-__-__"),
            OutboxMessage.status.in_(
                (OutboxStatus.pending, OutboxStatus.deferred, OutboxStatus.review)
            ),
        )
        .values(status=OutboxStatus.cancelled, reasons="expired", updated_at=utcnow())
    )
    return int(result.rowcount)


def _when(attempt: PastAttempt) -> dt.datetime:
    return attempt.at


def _zone(zones: Iterable[str], lender: ZoneInfo) -> ZoneInfo:
    """The zone a step's local time is read in: the debtor's first candidate, else the lender's
    (the guard still blocks an unknown zone where the profile says so)."""
    for name in zones:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            break
    return lender


def _context(row: _Row, lender: str, footer: str) -> dict[str, Any]:
    return {
        "lender": lender,
        "name": row.name,
        "loan_tail": row.account.loan_ref[-4:],
        "due_on": row.due_on.isoformat() if row.due_on else "",
        "amount_due": f"{row.amount_due:.2f}" if row.amount_due is not None else "",
        "currency": row.currency,
        "dpd": row.account.days_past_due,
        "overdue_amount": f"{row.overdue_amount:.2f}",
        "footer": footer,
    }


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


async def _write_outbox(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    statement = _insert(conn, OutboxMessage)
    changed = (
        "step",
        "channel",
        "template",
        "planned_for",
        "not_before",
        "status",
        "reasons",
        "next_allowed_at",
        "phone",
        "plan_id",
        "locale",
        "updated_at",
    )
    statement = statement.on_conflict_do_update(
        index_elements=["idempotency_key"],
        set_={name: statement.excluded[name] for name in changed},
        # Spelled out: an expanding IN cannot run with executemany.
        where=text("outbox.status IN (" + ", ".join(f"'{s.value}'" for s in UNSENT) + ")"),
    )
    for start in range(0, len(rows), CHUNK):
        await conn.execute(statement, rows[start : start + CHUNK])


# --- tasks for people ----------------------------------------------------------------------------

TASK_OUTCOMES = (TaskStatus.done, TaskStatus.failed, TaskStatus.cancelled)


async def list_tasks(
    conn: AsyncConnection, visible: Any, *, open_only: bool = True, limit: int = 200
) -> list[dict[str, Any]]:
    """Tasks on the loans ``visible`` selects (a collector: their queues' accounts)."""
    query = (
        select(
            Task.id,
            Task.kind,
            Task.status,
            Task.due_on,
            Task.result,
            Task.closed_by,
            Loan.loan_ref,
            Loan.outstanding,
            Loan.days_past_due,
        )
        .join(Loan, Loan.id == Task.loan_id)
        .join(Borrower, Borrower.id == Loan.borrower_id)
        .where(visible)
        .order_by(Task.due_on, Task.id)
        .limit(limit)
    )
    if open_only:
        query = query.where(Task.status == TaskStatus.open)
    return [dict(row._mapping) for row in await conn.execute(query)]


async def close_task(
    conn: AsyncConnection, task_id: int, status: str, result: str, actor: str, visible: Any
) -> dict[str, Any]:
    """Record a task's outcome: a failed field visit counts toward the agency placement."""
    if status not in TASK_OUTCOMES:
        raise ValidationFailed(
            f"status must be one of {', '.join(TASK_OUTCOMES)}", details=[{"field": "status"}]
        )
    row = (
        await conn.execute(
            select(Task.id, Task.status, Task.kind, Loan.loan_ref)
            .join(Loan, Loan.id == Task.loan_id)
            .join(Borrower, Borrower.id == Loan.borrower_id)
            .where(Task.id == task_id, visible)
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"task {task_id} not found")
    if row.status != TaskStatus.open:
        raise Conflict(f"task {task_id} is already {row.status}")
    closed = await conn.execute(
        update(Task)
        .where(Task.id == task_id, Task.status == TaskStatus.open)
        .values(status=TaskStatus(status), result=result, closed_at=utcnow(), closed_by=actor)
    )
    if closed.rowcount != 1:  # closed by someone else since it was read
        raise Conflict(f"task {task_id} was closed meanwhile")
    await audit.record(
        conn,
        actor=actor,
        action="task.closed",
        entity_type="loan",
        entity_ref=row.loan_ref,
        details={"task": task_id, "kind": row.kind, "status": status, "result": result},
    )
    return {"id": task_id, "kind": row.kind, "loan_ref": row.loan_ref, "status": status}
