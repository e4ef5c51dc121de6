"""A text a collector sends from the account page: one of the SMS templates in the borrower's
language, to one of the debtor's valid numbers.

The preview is the exact text that would leave (the template's words with the profile's footer,
added the way dispatch adds it) and the guard's verdict on it now. Sending asks the guard again,
writes an outbox row (keyed by the form's key: a double submit writes one) and leaves it to
dispatch, which decides a third time with fresh facts right before the provider takes it —
the normal path of every text, logged as the collector's (:data:`COLLECTOR_SMS_STEP`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import secrets
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from service import audit
from service.clock import lender_today
from service.contact.accounts import loan_in_view
from service.contact.checks import LoanContext, facts_about, loan_context
from service.contact.inbound import REPLY_TEMPLATES
from service.db import dialect
from service.db.models import (
    Borrower,
    GuardDecision,
    Installment,
    Loan,
    OutboxMessage,
    OutboxStatus,
    Promise,
    PromiseStatus,
)
from service.domain.compliance import Decision, Verdict, decision_inputs, guard
from service.domain.contact import NUMBER_INVALID, Channel, locale_for
from service.domain.outbox import COLLECTOR_SMS_STEP
from service.domain.ptp import MISSED
from service.errors import Conflict, ValidationFailed
from service.settings import Settings
from service.treatment.messages import message_variables
from service.treatment.planner import contact_request
from service.treatment.plans import install_default_plan, plan_for, plans_by_portfolio

# How far back a missed promise is one to follow up (the planner's reading, MISSED_DAYS).
MISSED_DAYS = 31
# The form's key: what makes a second submit of the same form the same text.
KEY_MOST = 64


@dataclasses.dataclass(frozen=True, slots=True)
class Account:
    """What the SMS templates speak of, for one loan on the lender's day."""

    dpd: int
    today: dt.date
    due_on: dt.date | None
    promise_pending: bool
    promise_missed: bool


# The templates a collector may send, and when each is true of the account (a reminder of the
# next instalment only while nothing is overdue: then the overdue notice is the true one). The
# keyword replies (opt-out and opt-in confirmations, help) answer a text; never sent by hand.
OFFERED: dict[str, Callable[[Account], bool]] = {
    "overdue": lambda a: a.dpd > 0,
    "due_day": lambda a: a.dpd == 0 and a.due_on == a.today,
    "pre_due": lambda a: a.dpd == 0 and a.due_on is not None and a.due_on > a.today,
    "promise_reminder": lambda a: a.promise_pending,
    "promise_missed": lambda a: a.promise_missed and not a.promise_pending,
}
assert not set(OFFERED) & set(REPLY_TEMPLATES)


@dataclasses.dataclass(frozen=True, slots=True)
class Words:
    """A loan's texts: the borrower's language, the variables, the templates true of it."""

    locale: str
    variables: dict[str, Any]
    templates: tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Preview:
    template: str
    phone: str
    locale: str
    text: str
    decision: Decision


@dataclasses.dataclass(frozen=True, slots=True)
class Sent:
    """The text handed to dispatch: its outbox row, and whether this request wrote it (False:
    the same form's key was sent before) — or refused by the guard (no row)."""

    preview: Preview
    outbox_id: int | None  # None: the guard refused it (``preview.decision`` says why)
    status: str | None
    new: bool


async def words(conn: AsyncConnection, settings: Settings, loan_id: int, today: dt.date) -> Words:
    """The variables of a loan's texts on ``today`` (the planner's, for the same account) and the
    templates that are true of it."""
    loan = (
        await conn.execute(
            select(
                Loan.loan_ref,
                Loan.days_past_due,
                Loan.currency,
                Loan.overdue_amount,
                Borrower.name,
                Borrower.locale,
            )
            .join(Borrower, Borrower.id == Loan.borrower_id)
            .where(Loan.id == loan_id)
        )
    ).one()
    unpaid = (
        Installment.principal_due
        + Installment.interest_due
        - Installment.principal_paid
        - Installment.interest_paid
    )
    due = (
        await conn.execute(
            select(Installment.due_on, func.sum(unpaid))
            .where(
                Installment.loan_id == loan_id,
                Installment.settled_on.is_(None),
                Installment.due_on >= today,
            )
            .group_by(Installment.due_on)
            .order_by(Installment.due_on)
            .limit(1)
        )
    ).one_or_none()
    pending = (
        await conn.execute(
            select(Promise.promised_on, Promise.amount, Promise.paid_amount)
            .where(
                Promise.loan_id == loan_id,
                Promise.status == PromiseStatus.pending,
                Promise.promised_on >= today,
            )
            .order_by(Promise.promised_on, Promise.id)
            .limit(1)
        )
    ).one_or_none()
    missed = (
        await conn.execute(
            select(Promise.promised_on, Promise.amount, Promise.paid_amount)
            .where(
                Promise.loan_id == loan_id,
                Promise.status.in_(list(MISSED)),
                Promise.settled_on.between(today - dt.timedelta(days=MISSED_DAYS), today),
            )
            .order_by(Promise.settled_on.desc(), Promise.id.desc())
            .limit(1)
        )
    ).one_or_none()
    promise = pending or missed
    account = Account(
        dpd=int(loan.days_past_due or 0),
        today=today,
        due_on=due[0] if due else None,
        promise_pending=pending is not None,
        promise_missed=missed is not None,
    )
    variables = message_variables(
        lender=settings.lender_name,
        name=loan.name,
        loan_ref=loan.loan_ref,
        dpd=account.dpd,
        currency=loan.currency,
        overdue_amount=Decimal(loan.overdue_amount or 0),
        due_on=due[0] if due else None,
        amount_due=Decimal(due[1]) if due else None,
        promise_on=promise.promised_on if promise else None,
        promise_amount=Decimal(promise.amount) if promise else None,
        promise_paid=Decimal(promise.paid_amount) if promise else None,
    )
    offered = tuple(name for name, applies in OFFERED.items() if applies(account))
    return Words(locale_for(loan.locale), variables, offered)


async def _preview(
    conn: AsyncConnection,
    settings: Settings,
    context: LoanContext,
    loan: Any,
    *,
    template: str,
    phone: str | None,
    at: dt.datetime,
) -> tuple[Preview, dict[str, Any], dict[str, Any]]:
    """(the preview, the outbox row's variables, the decision's inputs)."""
    today = lender_today(settings.lender_timezone, at)
    found = await words(conn, settings, loan.id, today)
    if template not in found.templates:
        raise ValidationFailed(
            f"template {template!r} is not one to send on this account now; "
            f"choose one of: {', '.join(found.templates) or 'none'}",
            details=[{"field": "template"}],
        )
    number = phone or context.loan.debtor_phone
    if number is None:
        raise ValidationFailed("the debtor has no number to text", details=[{"field": "phone"}])
    request = contact_request(
        Channel.sms, template, found.locale, at, found.variables, context.profile,
        settings.public_base_url,
    )  # fmt: skip
    # A person's text, not automated dunning (a pending promise does not hold it back).
    request = dataclasses.replace(request, automated=False)
    assert request.text is not None
    if number not in context.loan.debtor_numbers:
        decision = Decision(Verdict.block, (NUMBER_INVALID,))
        inputs: dict[str, Any] = {"phone": number}
    else:
        facts = await facts_about(
            conn, settings, context, loan_ref=loan.loan_ref, party_ref="debtor", at=at,
            phone=number,
        )  # fmt: skip
        decision = guard(request, facts)
        inputs = decision_inputs(request, facts)
    preview = Preview(template, number, found.locale, request.text, decision)
    return preview, found.variables, inputs


async def preview_sms(
    conn: AsyncConnection,
    settings: Settings,
    visible: ColumnElement[bool],
    *,
    loan_ref: str,
    template: str,
    phone: str | None,
    at: dt.datetime,
) -> Preview:
    """The exact text of ``template`` to ``phone`` (default: the debtor's primary number) and
    the guard's verdict on sending it at ``at``; nothing is written."""
    loan = await loan_in_view(conn, visible, loan_ref, open_for="a text")
    context = await loan_context(conn, settings, loan.id, at)
    preview, _, _ = await _preview(
        conn, settings, context, loan, template=template, phone=phone, at=at
    )
    return preview


def new_key() -> str:
    """A key of a text asked for once (an API call without a key of its own)."""
    return secrets.token_hex(8)


def _key(key: str) -> str:
    if not key or len(key) > KEY_MOST or not key.isascii() or not key.isprintable():
        raise ValidationFailed(
            f"the form's key is 1 to {KEY_MOST} printable ASCII characters",
            details=[{"field": "key"}],
        )
    return key


async def _earlier(conn: AsyncConnection, idempotency_key: str) -> Any:
    """The row a first submit of the same form wrote, if any."""
    return (
        await conn.execute(
            select(
                OutboxMessage.id,
                OutboxMessage.status,
                OutboxMessage.template,
                OutboxMessage.phone,
                OutboxMessage.locale,
                OutboxMessage.context,
            ).where(OutboxMessage.idempotency_key == idempotency_key)
        )
    ).one_or_none()


async def send_sms(
    conn: AsyncConnection,
    settings: Settings,
    visible: ColumnElement[bool],
    *,
    loan_ref: str,
    template: str,
    phone: str | None,
    key: str,
    at: dt.datetime,
    collector_id: int,
    actor: str,
) -> Sent:
    """Hand the text to dispatch, in the caller's transaction, if the guard allows it now;
    otherwise nothing is written but the decision, and the answer has no row (the caller
    commits the decision, then refuses). The same ``key`` again answers with the row written
    the first time."""
    await dialect.write_now(conn)
    loan = await loan_in_view(conn, visible, loan_ref, open_for="a text")
    idempotency_key = f"{loan.id}:{COLLECTOR_SMS_STEP}:{_key(key)}"
    context = await loan_context(conn, settings, loan.id, at)
    earlier = await _earlier(conn, idempotency_key)
    if earlier is not None:
        return _again(context, earlier, template, phone, settings, at)
    preview, variables, inputs = await _preview(
        conn, settings, context, loan, template=template, phone=phone, at=at
    )
    decision = preview.decision
    stored = {"step": COLLECTOR_SMS_STEP, "template": template, "collector_id": collector_id}
    await conn.execute(
        insert(GuardDecision).values(
            loan_id=loan.id,
            idempotency_key=idempotency_key,
            stage="collector",
            party="debtor",
            channel=Channel.sms.value,
            contact_at=at,
            verdict=decision.verdict.value,
            reasons=",".join(decision.reasons)[:400],
            next_allowed_at=decision.next_allowed_at,
            inputs=json.dumps({**stored, **inputs}, ensure_ascii=False),
            decided_at=at,
        )
    )
    if decision.verdict is not Verdict.allow:
        return Sent(preview, None, None, False)
    await install_default_plan(conn)
    plan = plan_for(await plans_by_portfolio(conn), context.loan.product)
    if plan is None or not plan.id:
        raise Conflict(f"no treatment plan covers loan {loan_ref}: a text needs the plan in force")
    inserted = await conn.execute(
        dialect.insert(conn, OutboxMessage)
        .values(
            idempotency_key=idempotency_key,
            loan_id=loan.id,
            plan_id=plan.id,
            step=COLLECTOR_SMS_STEP,
            channel=Channel.sms.value,
            party="debtor",
            phone=preview.phone,
            template=template,
            locale=preview.locale,
            # The words are rendered again at send time from these, with the footer then in
            # force; who sent it goes with them (dispatch logs the attempt as theirs).
            context=json.dumps({**variables, "collector_id": collector_id}, ensure_ascii=False),
            planned_for=lender_today(settings.lender_timezone, at),
            not_before=at,
            status=OutboxStatus.pending,
            reasons="",
            tries=0,
            created_at=at,
            updated_at=at,
        )
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(OutboxMessage.id)
    )
    row_id = inserted.scalar()
    if row_id is None:  # a concurrent submit of the same form took the key first
        return _again(context, await _earlier(conn, idempotency_key), template, phone, settings, at)
    await audit.record(
        conn,
        actor=actor,
        actor_id=collector_id,
        action="sms.sent_by_collector",
        entity_type="loan",
        entity_ref=loan.loan_ref,
        details={"outbox_id": int(row_id), "template": template},
    )
    return Sent(preview, int(row_id), OutboxStatus.pending.value, True)


def _again(
    context: LoanContext,
    earlier: Any,
    template: str,
    phone: str | None,
    settings: Settings,
    at: dt.datetime,
) -> Sent:
    """The same form sent again: the row of the first time, if it is the same text."""
    if earlier.template != template or (phone is not None and earlier.phone != phone):
        raise Conflict("this form was sent before with another template or number")
    variables = json.loads(earlier.context or "{}")
    request = contact_request(
        Channel.sms, template, earlier.locale, at, variables, context.profile,
        settings.public_base_url,
    )  # fmt: skip
    text = request.text or ""
    preview = Preview(template, earlier.phone, earlier.locale, text, Decision(Verdict.allow))
    return Sent(preview, int(earlier.id), str(earlier.status), False)
