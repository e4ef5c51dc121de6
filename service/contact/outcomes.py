"""What people record in the contact log: a collector's call, a letter sent by hand, a field
visit — each with its result, disposition and notes, through the log's one writer — and the
effects a disposition has, the same as when an import brings it (DESIGN.md §5): a dispute, a
death, a bankruptcy or a cease request puts a hold; a third party's refusal blocks that person
for good; a wrong number stops that number being tried for the debtor; a promise is stored; a
callback asked for is scheduled. A correction is a new revision of the attempt; no disposition
or correction ever lifts an opt-out, a hold or a refusal (only their own audited acts do)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Row, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from service import audit
from service.clock import utcnow
from service.contact import log
from service.contact.accounts import loan_in_view
from service.contact.callbacks import schedule_callback
from service.contact.promises import take_promise
from service.db.models import (
    Attempt,
    Borrower,
    Contact,
    Loan,
    PhoneKind,
    PhoneNumber,
    PhoneStatus,
)
from service.db.models.contact import current
from service.domain.casework import VisitOutcome
from service.domain.contact import AttemptResult, Channel, Direction, Disposition, PromiseSource
from service.errors import Conflict, NotFound, PermissionDenied, ValidationFailed

# What people log here (automated sends and inbound messages are the channels' to log).
LOGGED_BY_PEOPLE = (Channel.call, Channel.visit, Channel.letter)
# Where a promise taken on a contact was made (a call's is the collector's).
PROMISE_SOURCES = {Channel.visit: PromiseSource.visit}
# Dispositions say what a connected contact produced: only these need no conversation.
WITHOUT_CONVERSATION = frozenset({Disposition.wrong_number, Disposition.wrong_party})


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    """One contact a person made or took, as they record it."""

    loan_ref: str
    channel: Channel
    result: AttemptResult
    party: str = "debtor"  # or a contact_ref of the loan's borrower
    direction: Direction = Direction.outbound
    phone: str | None = None  # default: the party's number (a visit or a letter: none)
    occurred_at: dt.datetime | None = None  # default: now
    disposition: Disposition | None = None
    note: str = ""
    attempt_ref: str | None = None  # the caller's key: the same request again logs once
    promise_amount: Decimal | None = None
    promise_on: dt.date | None = None
    callback_at: dt.datetime | None = None
    callback_for_queue: bool = False


def _check(outcome: Outcome, now: dt.datetime) -> None:
    problems = []
    if outcome.channel not in LOGGED_BY_PEOPLE:
        problems.append({"field": "channel", "reason": "call, visit or letter"})
    if outcome.occurred_at is not None:
        if outcome.occurred_at.tzinfo is None:
            problems.append({"field": "occurred_at", "reason": "needs its offset"})
        elif outcome.occurred_at > now + dt.timedelta(minutes=5):
            problems.append({"field": "occurred_at", "reason": "time is in the future"})
    if outcome.result is AttemptResult.pending:
        problems.append({"field": "result", "reason": "a person records what happened"})
    if (
        outcome.disposition is not None
        and outcome.disposition not in WITHOUT_CONVERSATION
        and outcome.result is not AttemptResult.conversation
    ):
        problems.append({"field": "disposition", "reason": "a disposition needs a conversation"})
    promised = outcome.promise_amount is not None or outcome.promise_on is not None
    if outcome.disposition is Disposition.promise_to_pay and not (
        outcome.promise_amount is not None and outcome.promise_on is not None
    ):
        problems.append({"field": "promise_amount", "reason": "a promise has an amount and a date"})
    if promised and outcome.disposition is not Disposition.promise_to_pay:
        problems.append({"field": "disposition", "reason": "a promise is promise_to_pay"})
    if (
        outcome.callback_at is not None
        and outcome.disposition is not Disposition.callback_requested
    ):
        problems.append({"field": "disposition", "reason": "a callback is callback_requested"})
    if problems:
        raise ValidationFailed("the outcome does not add up", details=problems)


async def log_outcome(
    conn: AsyncConnection,
    visible: ColumnElement[bool],
    outcome: Outcome,
    *,
    now: dt.datetime,
    today: dt.date,
    actor: str,
    actor_id: int | None,
) -> tuple[dict[str, Any], bool]:
    """Record one outcome with its effects, in the caller's transaction. Returns (the attempt
    as logged, whether it is new): an ``attempt_ref`` logged before with the same values is
    the same request again; with other values it is a conflict (a correction is
    :func:`correct_attempt`)."""
    _check(outcome, now)
    loan = await loan_in_view(conn, visible, outcome.loan_ref)
    contact_id, phone = await _party(conn, loan, outcome)
    at = outcome.occurred_at or now
    ref = outcome.attempt_ref or f"co-{secrets.token_hex(8)}"
    row = log.attempt_row(
        attempt_ref=ref,
        loan_id=loan.id,
        phone=phone,
        channel=outcome.channel,
        direction=outcome.direction,
        occurred_at=at,
        result=outcome.result,
        source="collector",
        contact_id=contact_id,
        disposition=outcome.disposition.value if outcome.disposition else None,
        collector_id=actor_id,
        note=outcome.note or None,
    )
    attempt_id = await log.insert_attempt(conn, row)
    before = None
    if attempt_id is None:
        stored = await _current(conn, visible, ref)
        same = (
            stored["loan_ref"] == loan.loan_ref
            and stored["channel"] == outcome.channel
            and stored["result"] == outcome.result
            and stored["disposition"]
            == (outcome.disposition.value if outcome.disposition else None)
            and stored["phone"] == phone
        )
        if same:
            return stored, False
        attempt_id = await _dialled(conn, outcome, loan.loan_ref, stored, actor_id)
        if attempt_id is None:
            raise Conflict(f"attempt {ref} was logged with other values; correct it instead")
        before = {key: stored[key] for key in ("channel", "result", "disposition")}
        contact_id = await conn.scalar(select(Attempt.contact_id).where(Attempt.id == attempt_id))
        phone = stored["phone"]
    await _effects(
        conn, visible, outcome, loan, attempt_id, contact_id, phone, at, today, actor, actor_id
    )
    await audit.record(
        conn,
        actor=actor,
        actor_id=actor_id,
        action="attempt.logged",
        entity_type="loan",
        entity_ref=loan.loan_ref,
        details={
            "attempt_ref": ref,
            "before": before,
            "after": {
                "channel": outcome.channel.value,
                "result": outcome.result.value,
                "disposition": outcome.disposition.value if outcome.disposition else None,
            },
        },
    )
    return await _current(conn, visible, ref), True


async def _dialled(
    conn: AsyncConnection,
    outcome: Outcome,
    loan_ref: str,
    stored: dict[str, Any],
    actor_id: int | None,
) -> int | None:
    """The collector's word on a call they placed through click-to-call (its attempt logged
    when the number was dialled, ``cc-…``, with the provider's result): what the call
    produced, written on that attempt — one call, one attempt — rather than a second one.
    The id of the new revision; None when ``stored`` is not such a call awaiting its outcome."""
    if not (
        str(stored["attempt_ref"]).startswith(log.DIALLED_PREFIX)
        and stored["loan_ref"] == loan_ref
        and stored["channel"] == Channel.call
        and outcome.channel is Channel.call
        and stored["disposition"] is None
        and actor_id is not None
        and stored["collector_id"] == actor_id
    ):
        return None

    def told(row: Any) -> dict[str, Any]:
        return {
            "result": outcome.result.value,
            "disposition": outcome.disposition.value if outcome.disposition else None,
            "note": outcome.note or row.note,
        }

    return await log.supersede(
        conn, Attempt.attempt_ref == stored["attempt_ref"], told, recorded_by="collector"
    )


async def _party(conn: AsyncConnection, loan: Any, outcome: Outcome) -> tuple[int | None, str]:
    """The contact reached (None: the debtor) and the number used."""
    contact_id: int | None = None
    if outcome.party.lower() != "debtor":
        contact = (
            await conn.execute(
                select(Contact.id, Contact.phone).where(
                    Contact.contact_ref == outcome.party, Contact.borrower_id == loan.borrower_id
                )
            )
        ).one_or_none()
        if contact is None:
            raise ValidationFailed(
                f"party {outcome.party!r} is not a contact of the loan's borrower",
                details=[{"field": "party"}],
            )
        contact_id, default = contact.id, contact.phone
    else:
        default = await conn.scalar(
            select(PhoneNumber.e164)
            .where(PhoneNumber.borrower_id == loan.borrower_id)
            .order_by((PhoneNumber.kind == PhoneKind.primary).desc(), PhoneNumber.id)
            .limit(1)
        )
    if outcome.channel is not Channel.call:
        return contact_id, outcome.phone or ""
    phone = outcome.phone or default
    if not phone:
        raise ValidationFailed("a call needs the number called", details=[{"field": "phone"}])
    return contact_id, phone


async def _effects(
    conn: AsyncConnection,
    visible: ColumnElement[bool],
    outcome: Outcome,
    loan: Any,
    attempt_id: int,
    contact_id: int | None,
    phone: str,
    at: dt.datetime,
    today: dt.date,
    actor: str,
    actor_id: int | None,
) -> None:
    disposition = outcome.disposition
    if disposition is None:
        return
    await disposition_effects(
        conn, attempt_id, disposition, loan.borrower_id, contact_id, phone, at, today, actor
    )
    if disposition is Disposition.promise_to_pay:
        assert outcome.promise_amount is not None  # checked by _check
        assert outcome.promise_on is not None
        await take_promise(
            conn,
            visible,
            loan_ref=loan.loan_ref,
            amount=outcome.promise_amount,
            promised_on=outcome.promise_on,
            today=today,
            actor=actor,
            actor_id=actor_id,
            attempt_id=attempt_id,
            note=outcome.note,
            now=at,
            source=PROMISE_SOURCES.get(outcome.channel, PromiseSource.collector),
        )
    if (
        disposition is Disposition.callback_requested
        and outcome.callback_at is not None
        and actor_id is not None
    ):
        await schedule_callback(
            conn,
            visible,
            loan_ref=loan.loan_ref,
            due_at=outcome.callback_at,
            for_queue=outcome.callback_for_queue,
            note=outcome.note,
            now=utcnow(),
            actor=actor,
            actor_id=actor_id,
        )


async def disposition_effects(
    conn: AsyncConnection,
    attempt_id: int,
    disposition: Disposition,
    borrower_id: int,
    contact_id: int | None,
    phone: str,
    at: dt.datetime,
    today: dt.date,
    actor: str,
) -> None:
    """What a disposition does beyond the log (only ever restricting, never lifting)."""
    await log.apply_disposition_hold(conn, attempt_id, disposition, on=today, source="collector")
    if disposition is Disposition.refused and contact_id is not None:
        # A third party who refused is refused for good: the first refusal stands.
        await conn.execute(
            update(Contact)
            .where(Contact.id == contact_id, Contact.refused_at.is_(None))
            .values(refused_at=at, updated_at=utcnow())
        )
    if disposition is Disposition.wrong_number and contact_id is None and phone:
        await conn.execute(
            update(PhoneNumber)
            .where(
                PhoneNumber.borrower_id == borrower_id,
                PhoneNumber.e164 == phone,
                PhoneNumber.status != PhoneStatus.invalid,
            )
            .values(status=PhoneStatus.invalid, updated_at=utcnow())
        )


async def correct_attempt(
    conn: AsyncConnection,
    visible: ColumnElement[bool],
    attempt_ref: str,
    *,
    disposition: Disposition | None,
    note: str | None,
    today: dt.date,
    actor: str,
    actor_id: int,
    may_correct_others: bool,
) -> dict[str, Any]:
    """A correction to an attempt: a new revision with another disposition or note, by whoever
    logged it (or a supervisor). Its disposition's effects apply; nothing is lifted."""
    stored = await _current(conn, visible, attempt_ref)
    if not may_correct_others and stored["collector_id"] != actor_id:
        raise PermissionDenied(f"attempt {attempt_ref} was not logged by {actor}")
    if disposition is None and note is None:
        raise ValidationFailed("a correction changes the disposition or the note")
    if (
        disposition is not None
        and disposition not in WITHOUT_CONVERSATION
        and stored["result"] != AttemptResult.conversation
    ):
        raise ValidationFailed(
            "a disposition needs a conversation", details=[{"field": "disposition"}]
        )

    def change(row: Row[Any]) -> dict[str, Any] | None:
        values: dict[str, Any] = {}
        if disposition is not None and row.disposition != disposition.value:
            values["disposition"] = disposition.value
        if note is not None and row.note != note:
            values["note"] = note
        return values or None

    written = await log.supersede(
        conn, Attempt.attempt_ref == attempt_ref, change, recorded_by=actor
    )
    if written is None:
        return stored
    if disposition is not None:
        parties = (
            await conn.execute(
                select(Attempt.contact_id, Attempt.phone, Attempt.occurred_at, Loan.borrower_id)
                .join(Loan, Loan.id == Attempt.loan_id)
                .where(Attempt.id == written)
            )
        ).one()
        await disposition_effects(
            conn,
            written,
            disposition,
            parties.borrower_id,
            parties.contact_id,
            parties.phone,
            parties.occurred_at,
            today,
            actor,
        )
    await audit.record(
        conn,
        actor=actor,
        actor_id=actor_id,
        action="attempt.corrected",
        entity_type="loan",
        entity_ref=stored["loan_ref"],
        details={
            "attempt_ref": attempt_ref,
            "before": {"disposition": stored["disposition"], "note": stored["note"]},
            "after": {
                "disposition": disposition.value if disposition else stored["disposition"],
                "note": note if note is not None else stored["note"],
            },
        },
    )
    return await _current(conn, visible, attempt_ref)


# What a field visit's outcome (service.domain.casework.VisitOutcome) is in the contact log.
VISIT_ATTEMPTS: dict[VisitOutcome, tuple[AttemptResult, Disposition | None]] = {
    VisitOutcome.met_debtor: (AttemptResult.conversation, Disposition.rpc),
    VisitOutcome.promise: (AttemptResult.conversation, Disposition.promise_to_pay),
    VisitOutcome.refused: (AttemptResult.conversation, Disposition.refused),
    VisitOutcome.not_at_home: (AttemptResult.no_answer, None),
    VisitOutcome.address_wrong: (AttemptResult.wrong_address, None),
    VisitOutcome.moved: (AttemptResult.wrong_address, None),
}


async def record_visit(
    conn: AsyncConnection,
    visible: ColumnElement[bool],
    closed: dict[str, Any],
    *,
    note: str,
    now: dt.datetime,
    today: dt.date,
    actor: str,
    actor_id: int | None,
) -> None:
    """A closed field-visit task (service.casework.tasks.close_task's answer) in the contact
    log, as a ``visit`` attempt keyed by its task, with its promise stored (a visit that met the
    debtor is a right-party contact: it clears 失联)."""
    if closed.get("kind") != "field_visit" or not closed.get("outcome"):
        return
    result, disposition = VISIT_ATTEMPTS[VisitOutcome(closed["outcome"])]
    promise = closed.get("promise") or {}
    await log_outcome(
        conn,
        visible,
        Outcome(
            loan_ref=closed["loan_ref"],
            channel=Channel.visit,
            result=result,
            disposition=disposition,
            note=note,
            attempt_ref=f"visit-{closed['id']}",
            promise_amount=Decimal(str(promise["amount"])) if promise else None,
            promise_on=dt.date.fromisoformat(str(promise["promised_on"])) if promise else None,
        ),
        now=now,
        today=today,
        actor=actor,
        actor_id=actor_id,
    )


def attempt_view(row: Any) -> dict[str, Any]:
    return {
        "attempt_ref": row.attempt_ref,
        "revision": row.revision,
        "loan_ref": row.loan_ref,
        "party": row.contact_ref or "debtor",
        "phone": row.phone,
        "channel": str(row.channel),
        "direction": str(row.direction),
        "occurred_at": row.occurred_at,
        "result": str(row.result),
        "disposition": row.disposition,
        "note": row.note,
        "source": row.source,
        "collector_id": row.collector_id,
        "recorded_by": row.recorded_by,
        "recorded_at": row.created_at,
    }


async def _current(
    conn: AsyncConnection, visible: ColumnElement[bool], attempt_ref: str
) -> dict[str, Any]:
    row = (
        await conn.execute(
            select(Attempt, Loan.loan_ref, Contact.contact_ref)
            .join(Loan, Loan.id == Attempt.loan_id)
            .join(Borrower, Borrower.id == Loan.borrower_id)
            .outerjoin(Contact, Contact.id == Attempt.contact_id)
            .where(Attempt.attempt_ref == attempt_ref, current(), visible)
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"attempt {attempt_ref} not found")
    return attempt_view(row)
