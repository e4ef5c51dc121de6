"""What becomes of each claimed outbox row right before it would leave: the compliance guard
again with the facts as they stand now (opt-outs, payments, holds, promises and today's
attempts arrive between planning and sending), the loan still open and still owing what the
message asks for, and the words rendered with the footer of the profile now in force.

Pure of I/O but for :func:`load_context`, which reads the batch's facts in a few set-based
queries.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import jinja2
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from service.db.models import Borrower, Loan, LoanStatus, OutboxStatus, Payment
from service.domain.compliance import (
    Decision,
    PastAttempt,
    Request,
    Verdict,
    decision_inputs,
    guard,
)
from service.domain.contact import NUMBER_INVALID
from service.domain.outbox import COLLECTOR_SMS_STEP
from service.settings import Settings
from service.treatment.facts import LoanFacts, facts_for, load_loan_facts, opted_out, profile_for
from service.treatment.messages import (
    LETTER_COLUMNS,
    letter_variables,
    render_letter,
    webhook_url,
)
from service.treatment.planner import contact_request
from service.treatment.plans import StoredPlan, plan_for, plans_by_portfolio


@dataclasses.dataclass(frozen=True, slots=True)
class Row:
    """A claimed outbox row, as the dispatcher reads it."""

    id: int
    loan_id: int
    channel: str
    step: str
    template: str
    locale: str
    context: dict[str, Any]
    tries: int
    body: str | None  # what an earlier try sent (a reconciliation looks for it)
    sender: str | None
    claimed_at: dt.datetime | None
    created_at: dt.datetime
    idempotency_key: str
    phone: str | None = None  # the number planned (a collector's text: the one they chose)

    @property
    def collector_id(self) -> int | None:
        """The collector who sent this text from the account page (None: a plan's step)."""
        if self.step != COLLECTOR_SMS_STEP:
            return None
        found = self.context.get("collector_id")
        return found if isinstance(found, int) else None


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    """What to do with a row: send it (``status`` sending, with ``to``/``body``), or move it to
    ``status`` with the reasons. ``decision`` is the guard's, when it was asked."""

    row: Row
    status: OutboxStatus
    reasons: tuple[str, ...] = ()
    to: str | None = None
    body: str | None = None
    not_before: dt.datetime | None = None
    next_allowed_at: dt.datetime | None = None
    decision: dict[str, Any] | None = None


@dataclasses.dataclass(slots=True)
class Context:
    """The batch's facts, loaded once."""

    loans: dict[int, Any]
    facts: dict[int, LoanFacts]
    opted: frozenset[tuple[str, str]]
    plans: dict[str, StoredPlan]
    paid_since: dict[int, list[tuple[dt.datetime, Decimal]]]


def row_of(record: Any) -> Row:
    try:
        context = json.loads(record.context) if record.context else {}
    except ValueError:
        context = {}
    return Row(
        id=record.id,
        loan_id=record.loan_id,
        channel=record.channel,
        step=record.step,
        template=record.template,
        locale=record.locale,
        context=context if isinstance(context, dict) else {},
        tries=record.tries,
        body=record.body,
        sender=record.sender,
        claimed_at=record.claimed_at,
        created_at=record.created_at,
        idempotency_key=record.idempotency_key,
        phone=record.phone,
    )


async def load_context(
    conn: AsyncConnection, settings: Settings, rows: Sequence[Row], now: dt.datetime
) -> Context:
    loan_ids = sorted({row.loan_id for row in rows})
    loans = {
        r.id: r
        for r in await conn.execute(
            select(Loan.id, Loan.status, Loan.product, *LETTER_COLUMNS)
            .join(Borrower, Borrower.id == Loan.borrower_id)
            .where(Loan.id.in_(loan_ids))
        )
    }
    facts = await load_loan_facts(conn, settings, loan_ids, now)
    chosen = [row.phone for row in rows if row.step == COLLECTOR_SMS_STEP]
    opted = await opted_out(conn, [*(f.debtor_phone for f in facts.values()), *chosen], now)
    since = min(row.created_at for row in rows)
    paid: dict[int, list[tuple[dt.datetime, Decimal]]] = defaultdict(list)
    for loan_id, created, amount in await conn.execute(
        select(Payment.loan_id, Payment.created_at, Payment.amount).where(
            Payment.loan_id.in_(loan_ids), Payment.created_at > since
        )
    ):
        paid[loan_id].append((created, Decimal(amount)))
    return Context(loans, facts, opted, await plans_by_portfolio(conn), paid)


def decide(
    rows: Sequence[Row], ctx: Context, settings: Settings, now: dt.datetime
) -> list[Outcome]:
    """Each row's outcome, in the order given (earlier rows' sends count toward later caps)."""
    outcomes: list[Outcome] = []
    sending: dict[int, list[PastAttempt]] = defaultdict(list)  # this batch's, per borrower
    for row in rows:
        loan = ctx.loans.get(row.loan_id)
        facts = ctx.facts.get(row.loan_id)
        if loan is None or facts is None or loan.status != LoanStatus.open:
            outcomes.append(Outcome(row, OutboxStatus.cancelled, ("loan_closed",)))
            continue
        if _paid_what_it_asks(row, ctx.paid_since.get(row.loan_id, [])):
            outcomes.append(Outcome(row, OutboxStatus.cancelled, ("paid_since_planned",)))
            continue
        outcome = _guarded(row, loan, facts, ctx, settings, now, sending[facts.borrower_id])
        if outcome.status is OutboxStatus.sending and row.channel in ("sms", "call"):
            sending[facts.borrower_id].append(
                PastAttempt(
                    now,
                    row.channel,
                    "outbound",
                    "debtor",
                    outcome.to or "",
                    "planned",
                    debt=str(row.loan_id),
                )
            )
        outcomes.append(outcome)
    return outcomes


def _guarded(
    row: Row,
    loan: Any,
    loan_facts: LoanFacts,
    ctx: Context,
    settings: Settings,
    now: dt.datetime,
    batch: list[PastAttempt],
) -> Outcome:
    profile = profile_for(settings.compliance_profile, loan_facts.region)
    plan = plan_for(ctx.plans, loan.product)
    by_collector = row.step == COLLECTOR_SMS_STEP
    facts = facts_for(
        loan_facts,
        profile,
        settings,
        ctx.opted,
        phone=row.phone if by_collector else None,
        plan_calls_per_day=plan.spec.calls_per_day if plan else None,
        lost_contact_days=plan.spec.lost_contact_after_days if plan else 3,
    )
    if batch:
        history = tuple(sorted(facts.history + tuple(batch), key=lambda a: a.at))
        facts = dataclasses.replace(facts, history=history)
    try:
        request = contact_request(
            row.channel, row.template, row.locale, now, row.context, profile,
            settings.public_base_url,
        )  # fmt: skip
    except jinja2.TemplateError as exc:
        request = Request(row.channel, now, automated=True)
        decision = Decision(Verdict.block, ("template_error",))
        inputs = {"error": str(exc)[:200]}
    else:
        if by_collector:
            # A person's text, not automated dunning (a pending promise does not hold it back).
            request = dataclasses.replace(request, automated=False)
        decision = guard(request, facts)
        inputs = decision_inputs(request, facts)
        if by_collector and facts.phone not in loan_facts.debtor_numbers:
            # The number chosen is no longer one of the debtor's valid numbers.
            decision = Decision(Verdict.block, (*decision.reasons, NUMBER_INVALID))
    record = {
        "loan_id": row.loan_id,
        "idempotency_key": row.idempotency_key,
        "stage": "dispatch",
        "party": "debtor",
        "channel": row.channel,
        "contact_at": now,
        "verdict": decision.verdict.value,
        "reasons": ",".join(decision.reasons)[:400],
        "next_allowed_at": decision.next_allowed_at,
        "inputs": json.dumps(
            {"step": row.step, "template": row.template, "outbox_id": row.id, **inputs},
            ensure_ascii=False,
        ),
        "decided_at": now,
    }
    if decision.verdict is Verdict.allow:
        body = request.text if row.channel == "sms" else None
        if row.channel == "letter":
            variables = letter_variables(loan, settings.lender_name, now.date())
            body = render_letter(row.template, row.locale, variables)
        elif row.channel == "call":
            body = webhook_url(settings.public_base_url, "voice", outbox=row.id)
        to = facts.phone if row.channel in ("sms", "call") else None
        return Outcome(row, OutboxStatus.sending, decision.reasons, to, body, decision=record)
    if decision.verdict is Verdict.defer and decision.next_allowed_at is not None:
        # Rescheduled, never dropped: the row waits for the first moment the guard allows.
        return Outcome(
            row,
            OutboxStatus.pending,
            decision.reasons,
            not_before=decision.next_allowed_at,
            next_allowed_at=decision.next_allowed_at,
            decision=record,
        )
    status = OutboxStatus.review if decision.verdict is Verdict.review else OutboxStatus.blocked
    return Outcome(row, status, decision.reasons, decision=record)


def _paid_what_it_asks(row: Row, payments: Sequence[tuple[dt.datetime, Decimal]]) -> bool:
    """Paid since the row was planned at least what its words ask for (the overdue amount of a
    late loan, the amount due of one that is not late): the reminder is no longer true."""
    if row.channel not in ("sms", "call") or not payments:
        return False
    late = int(row.context.get("dpd") or 0) > 0
    raw = row.context.get("overdue_amount" if late else "amount_due") or ""
    try:
        asked = Decimal(str(raw))
    except (InvalidOperation, ValueError):
        return False
    if asked <= 0:
        return False
    paid = sum((amount for when, amount in payments if when > row.created_at), Decimal(0))
    return paid >= asked
