"""The contact log's one writer: every attempt Arrears makes or hears of is written here, and so
is what the provider reports back about it (forward only), and what a contact tells us about a
number (opted out, not in service).

Attempts Arrears makes are keyed ``ob-<outbox id>`` (one per outbox row: a second worker's
insert fails on the key); inbound ones by the provider's id (``tw-<sid>``), so a webhook
delivered twice logs once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from service.clock import utcnow
from service.db import dialect
from service.db.models import Attempt, Hold, Loan, OptOut, PhoneNumber
from service.db.models.portfolio import PhoneStatus
from service.domain.contact import (
    DISPOSITION_HOLDS,
    AttemptResult,
    Channel,
    Direction,
    Disposition,
    OptOutSource,
)
from service.domain.outbox import advances

CHUNK = 2000

# What a provider's final status means for the contact log (a call's "completed" is decided
# by who answered: see :func:`call_result`).
MESSAGE_RESULTS = {
    "delivered": AttemptResult.delivered,
    "read": AttemptResult.delivered,
    "undelivered": AttemptResult.failed,
    "failed": AttemptResult.failed,
    "canceled": AttemptResult.failed,
}
CALL_RESULTS = {
    "busy": AttemptResult.busy,
    "no-answer": AttemptResult.no_answer,
    "failed": AttemptResult.failed,
    "canceled": AttemptResult.no_answer,
}
# Provider error codes that say the number itself is wrong (Twilio: invalid To, unreachable,
# landline for SMS, not in service).
INVALID_NUMBER_CODES = frozenset({"21211", "21214", "21614", "30005", "32009"})
OPTED_OUT_CODES = frozenset({"21610"})


def outbound_ref(outbox_id: int) -> str:
    return f"ob-{outbox_id}"


def call_result(status: str, answered_by: str | None, error_code: str | None) -> AttemptResult:
    """A finished call's result: a person answered (a conversation), a machine (voicemail),
    or what the provider said; a number not in service says so."""
    if error_code in INVALID_NUMBER_CODES:
        return AttemptResult.not_in_service
    if status == "completed":
        if answered_by and answered_by.startswith(("machine", "fax")):
            return AttemptResult.voicemail
        return AttemptResult.conversation
    return CALL_RESULTS.get(status, AttemptResult.failed)


def attempt_row(
    *,
    attempt_ref: str,
    loan_id: int,
    phone: str,
    channel: Channel | str,
    direction: Direction | str,
    occurred_at: dt.datetime,
    result: AttemptResult | str,
    source: str,
    contact_id: int | None = None,
    disposition: str | None = None,
    collector_id: int | None = None,
    outbox_id: int | None = None,
    template: str | None = None,
    provider_ref: str | None = None,
    provider_status: str | None = None,
    error_code: str | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """One contact-log row, every column named (a bulk insert takes a list of these)."""
    now = utcnow()
    return {
        "attempt_ref": attempt_ref,
        "loan_id": loan_id,
        "contact_id": contact_id,
        "phone": phone,
        "channel": Channel(channel),
        "direction": Direction(direction),
        "occurred_at": occurred_at,
        "result": AttemptResult(result),
        "disposition": disposition,
        "source": source,
        "collector_id": collector_id,
        "outbox_id": outbox_id,
        "template": template,
        "provider_ref": provider_ref,
        "provider_status": provider_status,
        "error_code": error_code,
        "note": note,
        "created_at": now,
        "updated_at": now,
    }


def outbound_attempt(
    *,
    outbox_id: int,
    loan_id: int,
    phone: str,
    channel: str,
    template: str,
    at: dt.datetime,
    result: AttemptResult,
    provider_ref: str | None = None,
    provider_status: str | None = None,
    error_code: str | None = None,
) -> dict[str, Any]:
    """The attempt an outbox row makes (one per row: keyed by it), sent or refused."""
    return attempt_row(
        attempt_ref=outbound_ref(outbox_id),
        loan_id=loan_id,
        phone=phone,
        channel=channel,
        direction=Direction.outbound,
        occurred_at=at,
        result=result,
        source="dispatch",
        outbox_id=outbox_id,
        template=template,
        provider_ref=provider_ref,
        provider_status=provider_status,
        error_code=error_code,
    )


async def write_attempts(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> int:
    """Log these attempts; one already logged (the same ``attempt_ref``) is left as it is.
    Returns how many were new."""
    written = 0
    for start in range(0, len(rows), CHUNK):
        written += await dialect.insert_rows(
            conn, Attempt.__table__, rows[start : start + CHUNK], skip_conflicts_on=["attempt_ref"]
        )
    return written


async def report_status(
    conn: AsyncConnection,
    *,
    provider_ref: str,
    status: str,
    error_code: str | None = None,
    answered_by: str | None = None,
) -> bool:
    """What the provider says of one of our attempts, if it moves the attempt forward (repeats
    and late arrivals change nothing); a final status sets the attempt's result. Returns whether
    anything changed."""
    row = (
        await conn.execute(
            select(Attempt.id, Attempt.channel, Attempt.provider_status).where(
                Attempt.provider_ref == provider_ref
            )
        )
    ).one_or_none()
    if row is None or not advances(str(row.channel), row.provider_status, status):
        return False
    values: dict[str, Any] = {"provider_status": status, "updated_at": utcnow()}
    if error_code:
        values["error_code"] = error_code
    if row.channel == Channel.sms and status in MESSAGE_RESULTS:
        values["result"] = MESSAGE_RESULTS[status]
    elif row.channel == Channel.call and status in {"completed", *CALL_RESULTS}:
        values["result"] = call_result(status, answered_by, error_code)
    changed = await conn.execute(
        update(Attempt)
        .where(Attempt.id == row.id)
        # Conditional on what was read: two callbacks at once, one wins.
        .where(
            Attempt.provider_status.is_(None)
            if row.provider_status is None
            else Attempt.provider_status == row.provider_status
        )
        .values(**values)
    )
    return bool(changed.rowcount)


async def mark_numbers_invalid(conn: AsyncConnection, phones: Sequence[str]) -> int:
    """The provider says these numbers do not exist or are not in service: every borrower's
    record of them is marked invalid (a 失联 debtor is one whose valid numbers are all tried)."""
    changed = 0
    for start in range(0, len(phones), CHUNK):
        result = await conn.execute(
            update(PhoneNumber)
            .where(
                PhoneNumber.e164.in_(phones[start : start + CHUNK]),
                PhoneNumber.status != PhoneStatus.invalid,
            )
            .values(status=PhoneStatus.invalid, updated_at=utcnow())
        )
        changed += result.rowcount
    return changed


async def opt_out_numbers(
    conn: AsyncConnection,
    pairs: Sequence[tuple[str, Channel]],
    at: dt.datetime,
    source: OptOutSource,
    keyword: str | None = None,
) -> list[tuple[str, Channel]]:
    """Opt these (number, medium) pairs out from ``at`` (a reply's keyword, the provider's
    21610). Returns the pairs that were not opted out already — the ones that get the one
    confirmation message."""
    new: list[tuple[str, Channel]] = []
    for phone, medium in pairs:
        existing = (
            await conn.execute(
                select(OptOut.id, OptOut.opted_in_at).where(
                    OptOut.phone == phone, OptOut.channel == medium
                )
            )
        ).one_or_none()
        values = {
            "opted_out_at": at,
            "opted_in_at": None,
            "source": source.value,
            "keyword": keyword,
            "recorded_by": "arrears",
        }
        if existing is None:
            inserted = await conn.execute(
                dialect.insert(conn, OptOut)
                .values(phone=phone, channel=medium, **values)
                .on_conflict_do_nothing(index_elements=["phone", "channel"])
            )
            if inserted.rowcount:
                new.append((phone, medium))
        elif existing.opted_in_at is not None:
            lifted = await conn.execute(
                update(OptOut)
                .where(OptOut.id == existing.id, OptOut.opted_in_at.is_not(None))
                .values(**values)
            )
            if lifted.rowcount:
                new.append((phone, medium))
    return new


async def insert_attempt(conn: AsyncConnection, row: dict[str, Any]) -> int | None:
    """Log one attempt and return its id (None: one with its ``attempt_ref`` was logged
    before)."""
    if not await write_attempts(conn, [row]):
        return None
    found = await conn.scalar(select(Attempt.id).where(Attempt.attempt_ref == row["attempt_ref"]))
    return int(found) if found is not None else None


async def opt_in_numbers(
    conn: AsyncConnection,
    pairs: Sequence[tuple[str, Channel]],
    at: dt.datetime,
    sources: Sequence[OptOutSource],
) -> list[tuple[str, Channel]]:
    """Lift these (number, medium) opt-outs from ``at`` — only those in force whose source is
    one of ``sources`` (a reply's START lifts what a keyword or the provider made, never a
    written or verbal request). Returns the pairs lifted: the ones that get a confirmation."""
    lifted: list[tuple[str, Channel]] = []
    for phone, medium in pairs:
        changed = await conn.execute(
            update(OptOut)
            .where(
                OptOut.phone == phone,
                OptOut.channel == medium,
                OptOut.opted_in_at.is_(None),
                OptOut.opted_out_at <= at,
                OptOut.source.in_([source.value for source in sources]),
            )
            .values(opted_in_at=at, recorded_by="arrears")
        )
        if changed.rowcount:
            lifted.append((phone, medium))
    return lifted


async def record_disposition(
    conn: AsyncConnection,
    attempt_id: int,
    disposition: Disposition,
    *,
    on: dt.date,
    source: str,
    only_if_none: bool = False,
) -> bool:
    """What a connected contact produced, on its attempt (``only_if_none``: unless it says
    something already — a plain right-party contact never hides a promise). A disposition that
    puts a hold (:data:`DISPOSITION_HOLDS`) puts it from ``on``, once per attempt, as an
    imported one does. Returns whether the attempt changed."""
    statement = update(Attempt).where(Attempt.id == attempt_id)
    if only_if_none:
        statement = statement.where(Attempt.disposition.is_(None))
    changed = await conn.execute(
        statement.values(disposition=disposition.value, updated_at=utcnow())
    )
    if changed.rowcount and disposition in DISPOSITION_HOLDS:
        kind, every_loan = DISPOSITION_HOLDS[disposition]
        attempt = (
            await conn.execute(
                select(Attempt.attempt_ref, Attempt.loan_id, Loan.borrower_id)
                .join(Loan, Loan.id == Attempt.loan_id)
                .where(Attempt.id == attempt_id)
            )
        ).one()
        await conn.execute(
            dialect.insert(conn, Hold)
            .values(
                hold_ref=f"attempt:{attempt.attempt_ref}",
                borrower_id=attempt.borrower_id,
                loan_id=None if every_loan else attempt.loan_id,
                code=kind.value,
                started_on=on,
                note=f"disposition {disposition.value} in attempt {attempt.attempt_ref}",
                created_by=source,
                created_at=utcnow(),
                source=source,
            )
            .on_conflict_do_nothing(index_elements=["hold_ref"])
        )
    return bool(changed.rowcount)
