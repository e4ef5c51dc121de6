"""Click-to-call: the collector's own phone is rung first, and when they answer, the call's
script dials the debtor-side number with the lender's caller id (a bridged call).

::

    start_call ──guard: call now?──▶ the channel rings the collector (users.phone)
                                         │ answered: Twilio asks for the script
    dial_script ──guard again, at the moment of dialling──▶ <Dial> the number (attempt logged)
                                         │ the dialled leg ends
    dial_finished ──DialCallStatus──▶ the attempt's result (a new revision)

The request is a guard decision of stage ``collector`` (its inputs name the number, the party
and the collector): the scripts Twilio asks for carry its id, signed with the URL. The attempt
is logged only when the debtor's number is dialled (``cc-<decision id>``: once per call) — a
collector who does not pick up has contacted nobody. Only a channel that can bridge calls
(Twilio) does this; on the console channel nothing rings, and the request is refused so.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import secrets
from typing import Any

import structlog
from sqlalchemy import ColumnElement, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service import audit
from service.contact import log
from service.contact.accounts import loan_in_view
from service.contact.channels import (
    Outgoing,
    PermanentError,
    TransientError,
    bridges_calls,
    open_channel,
)
from service.contact.checks import LoanContext, facts_about, loan_context
from service.contact.reach import ContactRefused, person_request
from service.db import dialect
from service.db.models import Attempt, Contact, GuardDecision, Loan, User
from service.domain.compliance import Decision, Verdict, decision_inputs, guard
from service.domain.contact import NUMBER_INVALID, AttemptResult, Channel, Direction
from service.domain.outbox import CALL_STATUS_RANK, FINAL_RANK
from service.errors import Conflict, ValidationFailed
from service.settings import Settings
from service.treatment.messages import webhook_url

logger = structlog.get_logger(__name__)

STEP = "click_to_call"
KEY_MOST = 64
# How long the debtor's number rings before the dial gives up (Twilio's <Dial timeout>).
DIAL_TIMEOUT_SECONDS = 30


class CallsNeedTwilio(Conflict):
    """The channel in use cannot ring a phone (the console channel): no call is made."""


class NoPhoneOfYourOwn(Conflict):
    """The collector has no phone of their own on file (``/me``) for the call to ring first."""


@dataclasses.dataclass(frozen=True, slots=True)
class CallStarted:
    """A bridged call under way: the collector's phone is ringing (``new``: by this request;
    False: the same form's key started it before)."""

    call_id: int  # the guard decision that allowed it; the scripts' ``?call=``
    party: str
    phone: str
    collector_phone: str
    provider_ref: str | None
    new: bool


@dataclasses.dataclass(frozen=True, slots=True)
class Script:
    """What the collector's leg does when they answer: dial ``dial`` (with ``caller_id``,
    reporting to ``action``), or hear why not (``refused``: the guard's reasons) and hang up."""

    locale: str | None  # the collector's page language
    dial: str | None = None
    caller_id: str | None = None
    action: str | None = None
    refused: tuple[str, ...] = ()
    timeout: int = DIAL_TIMEOUT_SECONDS


def _key(key: str | None) -> str:
    if key is None:
        return secrets.token_hex(8)
    if not key or len(key) > KEY_MOST or not key.isascii() or not key.isprintable():
        raise ValidationFailed(
            f"the form's key is 1 to {KEY_MOST} printable ASCII characters",
            details=[{"field": "key"}],
        )
    return key


async def _target(
    conn: AsyncConnection,
    settings: Settings,
    context: LoanContext,
    loan: Any,
    party: str,
    phone: str | None,
    at: dt.datetime,
) -> tuple[str, str, int | None, Decision, dict[str, Any]]:
    """(the party, the number, the contact's id, the guard's verdict on calling it at ``at``,
    the decision's inputs)."""
    contact_id: int | None = None
    if party.lower() == "debtor":
        party = "debtor"
        number = phone or context.loan.debtor_phone
        if number is None or number not in context.loan.debtor_numbers:
            decision = Decision(Verdict.block, (NUMBER_INVALID,))
            return party, number or "", None, decision, {"phone": number}
    else:
        contact = (
            await conn.execute(
                select(Contact.id, Contact.phone).where(
                    Contact.contact_ref == party, Contact.borrower_id == loan.borrower_id
                )
            )
        ).one_or_none()
        if contact is None or not contact.phone:
            raise ValidationFailed(
                f"party {party!r} is not a contact of the loan's borrower with a number",
                details=[{"field": "party"}],
            )
        if phone is not None and phone != contact.phone:
            raise ValidationFailed("that is not the contact's number", details=[{"field": "phone"}])
        contact_id, number = contact.id, contact.phone
    facts = await facts_about(
        conn, settings, context, loan_ref=loan.loan_ref, party_ref=party, at=at, phone=number
    )
    request = person_request(facts, Channel.call, at)
    return party, number, contact_id, guard(request, facts), decision_inputs(request, facts)


def _decision_row(
    loan_id: int,
    key: str,
    party: str,
    at: dt.datetime,
    decision: Decision,
    inputs: dict[str, Any],
) -> dict[str, Any]:
    return {
        "loan_id": loan_id,
        "idempotency_key": key,
        "stage": "collector",
        "party": party,
        "channel": Channel.call.value,
        "contact_at": at,
        "verdict": decision.verdict.value,
        "reasons": ",".join(decision.reasons)[:400],
        "next_allowed_at": decision.next_allowed_at,
        "inputs": json.dumps(inputs, ensure_ascii=False),
        "decided_at": at,
    }


async def start_call(
    engine: AsyncEngine,
    settings: Settings,
    visible: ColumnElement[bool],
    *,
    loan_ref: str,
    party: str,
    phone: str | None,
    key: str | None,
    at: dt.datetime,
    collector_id: int,
    actor: str,
) -> CallStarted:
    """Ring the collector's phone to bridge them to ``party``'s number (the debtor's: one of
    their valid numbers, default the primary) if the guard allows calling it now.

    Refused, with nothing rung: :class:`CallsNeedTwilio` on a channel that cannot;
    :class:`NoPhoneOfYourOwn` without the collector's phone; :class:`ContactRefused` with the
    guard's reasons (the decision is kept). The same ``key`` again starts nothing new."""
    async with engine.begin() as conn:
        await dialect.write_now(conn)
        loan = await loan_in_view(conn, visible, loan_ref, open_for="a call")
        idempotency_key = f"{STEP}:{collector_id}:{_key(key)}"
        if not bridges_calls(settings):
            raise CallsNeedTwilio(
                "click-to-call needs Twilio: this installation sends through the console "
                "channel, which rings no phone"
            )
        # PostgreSQL: two submits of one form for this loan take turns here (SQLite has one
        # writer already), so the second finds the first's decision below.
        await conn.execute(select(Loan.id).where(Loan.id == loan.id).with_for_update())
        own = await conn.scalar(select(User.phone).where(User.id == collector_id))
        if not own:
            raise NoPhoneOfYourOwn(
                "you have no phone of your own on file: set it on /me, and the call rings it first"
            )
        earlier = (
            await conn.execute(
                select(GuardDecision.id, GuardDecision.party, GuardDecision.inputs).where(
                    GuardDecision.idempotency_key == idempotency_key,
                    GuardDecision.verdict == Verdict.allow.value,
                )
            )
        ).first()
        if earlier is not None:
            inputs = json.loads(earlier.inputs)
            return CallStarted(
                earlier.id, earlier.party, inputs.get("phone") or "", own, None, new=False
            )
        context = await loan_context(conn, settings, loan.id, at)
        party, number, contact_id, decision, inputs = await _target(
            conn, settings, context, loan, party, phone, at
        )
        stored = {"step": STEP, "collector_id": collector_id, "contact_id": contact_id, **inputs}
        stored["phone"] = number
        call_id = int(
            (
                await conn.execute(
                    insert(GuardDecision)
                    .values(**_decision_row(loan.id, idempotency_key, party, at, decision, stored))
                    .returning(GuardDecision.id)
                )
            ).scalar_one()
        )
    if decision.verdict is not Verdict.allow:
        raise ContactRefused("the guard does not allow this call now", decision)
    sender = settings.twilio_from_number or ""
    leg = Outgoing(
        outbox_id=0,  # no outbox row: the call is the collector's, placed now
        channel=Channel.call.value,
        to=own,
        sender=sender,
        url=webhook_url(settings.public_base_url, "bridge", call=call_id),
        detect_machine=False,
    )
    try:
        async with open_channel(settings) as channel:
            accepted = await channel.send(leg)
    except (TransientError, PermanentError) as exc:
        logger.warning("contact.bridge_failed", call=call_id, reason=exc.reason, code=exc.code)
        raise Conflict(f"the call could not be placed: {exc.reason}") from None
    async with engine.begin() as conn:
        await audit.record(
            conn,
            actor=actor,
            actor_id=collector_id,
            action="call.bridge_started",
            entity_type="loan",
            entity_ref=loan.loan_ref,
            details={"call": call_id, "party": party, "provider_ref": accepted.provider_ref},
        )
    logger.info("contact.bridge_started", call=call_id, to=own, provider_ref=accepted.provider_ref)
    return CallStarted(call_id, party, number, own, accepted.provider_ref, new=True)


async def _request(conn: AsyncConnection, call_id: int) -> Any:
    return (
        await conn.execute(
            select(
                GuardDecision.id,
                GuardDecision.loan_id,
                GuardDecision.party,
                GuardDecision.inputs,
                Loan.loan_ref,
            )
            .join(Loan, Loan.id == GuardDecision.loan_id)
            .where(
                GuardDecision.id == call_id,
                GuardDecision.stage == "collector",
                GuardDecision.channel == Channel.call.value,
                GuardDecision.verdict == Verdict.allow.value,
            )
        )
    ).one_or_none()


def attempt_ref(call_id: int) -> str:
    return f"{log.DIALLED_PREFIX}{call_id}"


async def dial_script(
    conn: AsyncConnection, settings: Settings, call_id: int, at: dt.datetime
) -> Script:
    """What the collector's leg does once they answer (in the caller's transaction): the guard
    asked again at this moment (a minute may have passed, an opt-out come in), and if it still
    allows the call, the number dialled and the attempt logged."""
    found = await _request(conn, call_id)
    if found is None:
        return Script(None, refused=("unknown_call",))
    inputs = json.loads(found.inputs)
    if inputs.get("step") != STEP:
        return Script(None, refused=("unknown_call",))
    collector_id = inputs.get("collector_id")
    locale = await conn.scalar(select(User.ui_locale).where(User.id == collector_id))
    ref = attempt_ref(call_id)
    if await conn.scalar(select(Attempt.id).where(Attempt.attempt_ref == ref).limit(1)):
        # Asked again for a call already dialled: dialling twice would ring the debtor twice.
        return Script(locale, refused=("already_dialled",))
    await dialect.write_now(conn)
    context = await loan_context(conn, settings, found.loan_id, at)
    loan = (
        await conn.execute(
            select(Loan.id, Loan.loan_ref, Loan.borrower_id).where(Loan.id == found.loan_id)
        )
    ).one()
    party, number, contact_id, decision, again = await _target(
        conn, settings, context, loan, found.party, inputs.get("phone"), at
    )
    stored = {"step": STEP, "collector_id": collector_id, "contact_id": contact_id, **again}
    await conn.execute(
        insert(GuardDecision).values(
            **_decision_row(found.loan_id, f"{STEP}:dial:{call_id}", party, at, decision, stored)
        )
    )
    if decision.verdict is not Verdict.allow:
        return Script(locale, refused=decision.reasons or (decision.verdict.value,))
    await log.write_attempts(
        conn,
        [
            log.attempt_row(
                attempt_ref=ref,
                loan_id=found.loan_id,
                phone=number,
                channel=Channel.call,
                direction=Direction.outbound,
                occurred_at=at,
                result=AttemptResult.pending,
                source="collector",
                contact_id=contact_id,
                collector_id=collector_id if isinstance(collector_id, int) else None,
                provider_status="initiated",
            )
        ],
    )
    return Script(
        locale,
        dial=number,
        caller_id=settings.twilio_from_number,
        action=webhook_url(settings.public_base_url, "bridge_dialed", call=call_id),
    )


async def dial_finished(
    conn: AsyncConnection,
    call_id: int,
    *,
    status: str,
    dialled_sid: str | None,
) -> bool:
    """The dialled leg's end (the ``<Dial>``'s ``DialCallStatus``) as the attempt's result, a
    new revision (a repeat changes nothing). Returns whether the attempt changed."""

    # "answered" is how a dial may report a conversation that was connected.
    reported = "completed" if status == "answered" else status

    def finished(row: Any) -> dict[str, Any] | None:
        stored = CALL_STATUS_RANK.get(row.provider_status or "", 0)
        if stored >= FINAL_RANK["call"] or reported not in CALL_STATUS_RANK:
            return None
        return {
            "result": log.call_result(reported, None, None),
            "provider_status": reported,
            "provider_ref": dialled_sid,
        }

    written = await log.supersede(
        conn,
        Attempt.attempt_ref == attempt_ref(call_id),
        finished,
        recorded_by="provider",
    )
    return written is not None
