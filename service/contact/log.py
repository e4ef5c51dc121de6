"""The contact log's one writer: every attempt Arrears makes or hears of is written here, and so
is what the provider reports back about it (forward only), and what a contact tells us about a
number (opted out, not in service).

The log is append-only (the database refuses UPDATE and DELETE): what is learnt about an
attempt later — the provider's final status, a disposition, a correction — is written as a new
revision that supersedes the one before (:func:`supersede`); readers take the revision nothing
supersedes (:func:`service.db.models.contact.current`).

Attempts Arrears makes are keyed ``ob-<outbox id>`` (one per outbox row: a second worker's
insert fails on the key); inbound ones by the provider's id (``tw-<sid>``), so a webhook
delivered twice logs once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from service.clock import utcnow
from service.db import dialect
from service.db.models import Attempt, Hold, Loan, OptOut, PhoneNumber
from service.db.models.contact import current
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

# A call a collector placed through click-to-call: its attempt is logged when the number is
# dialled, and the collector's outcome is written on it (service.contact.bridge, outcomes).
DIALLED_PREFIX = "cc-"
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
        "created_at": utcnow(),
        "revision": 0,
        "supersedes_id": None,
        "recorded_by": None,
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
    collector_id: int | None = None,
) -> dict[str, Any]:
    """The attempt an outbox row makes (one per row: keyed by it), sent or refused; a text a
    collector sent from the account page is theirs (``collector_id``)."""
    return attempt_row(
        attempt_ref=outbound_ref(outbox_id),
        loan_id=loan_id,
        phone=phone,
        channel=channel,
        direction=Direction.outbound,
        occurred_at=at,
        result=result,
        source="dispatch" if collector_id is None else "collector",
        collector_id=collector_id,
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
            conn,
            Attempt.__table__,
            rows[start : start + CHUNK],
            skip_conflicts_on=["attempt_ref", "revision"],
        )
    return written


# A revision copies every column of the one it supersedes but these.
_OWN = frozenset({"id", "revision", "supersedes_id", "created_at", "recorded_by"})
_COPIED = tuple(c.name for c in Attempt.__table__.columns if c.name not in _OWN)
# Writers racing to correct the same revision: the loser reads the winner's and tries again.
_TRIES = 8

Changes = Callable[[Row[Any]], Mapping[str, Any] | None]


async def supersede(
    conn: AsyncConnection,
    where: Any,
    changes: Changes,
    *,
    recorded_by: str,
) -> int | None:
    """Correct the attempt ``where`` selects (``Attempt.attempt_ref == ref``, or by its
    provider id) with a new revision: ``changes`` is given the attempt as it stands and
    returns the columns that change (None or empty: nothing to correct). Returns the new
    revision's id, or None when nothing was written (no such attempt, nothing changed)."""
    for _ in range(_TRIES):
        row = (
            await conn.execute(
                select(Attempt).where(where, current()).order_by(Attempt.id.desc()).limit(1)
            )
        ).one_or_none()
        if row is None:
            return None
        changed = changes(row)
        if not changed:
            return None
        values = {name: getattr(row, name) for name in _COPIED} | dict(changed)
        values |= {
            "revision": row.revision + 1,
            "supersedes_id": row.id,
            "created_at": utcnow(),
            "recorded_by": recorded_by,
        }
        inserted = await conn.execute(
            dialect.insert(conn, Attempt).values(**values).on_conflict_do_nothing()
        )
        if inserted.rowcount:
            found = await conn.scalar(
                select(Attempt.id).where(
                    Attempt.attempt_ref == row.attempt_ref, Attempt.revision == row.revision + 1
                )
            )
            return int(found) if found is not None else None
    raise RuntimeError(f"attempt {where} could not be corrected: {_TRIES} writers raced for it")


async def report_status(
    conn: AsyncConnection,
    *,
    provider_ref: str,
    status: str,
    error_code: str | None = None,
    answered_by: str | None = None,
) -> bool:
    """What the provider says of one of our attempts, if it moves the attempt forward (repeats
    and late arrivals change nothing). A status that settles the result (delivered, failed, a
    call's end) or brings an error code is a new revision of the attempt; one on the way there
    (sent, ringing) changes nothing the log keeps and writes nothing. Returns whether the
    attempt changed."""

    def forward(row: Row[Any]) -> dict[str, Any] | None:
        if not advances(str(row.channel), row.provider_status, status):
            return None
        result: AttemptResult | None = None
        if row.channel == Channel.sms and status in MESSAGE_RESULTS:
            result = MESSAGE_RESULTS[status]
        elif row.channel == Channel.call and status in {"completed", *CALL_RESULTS}:
            result = call_result(status, answered_by, error_code)
        if result is None and not error_code:
            return None
        values: dict[str, Any] = {"provider_status": status}
        if error_code:
            values["error_code"] = error_code
        if result is not None:
            values["result"] = result
        return values

    written = await supersede(
        conn, Attempt.provider_ref == provider_ref, forward, recorded_by="provider"
    )
    return written is not None


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
    found = await conn.scalar(
        select(Attempt.id).where(Attempt.attempt_ref == row["attempt_ref"], Attempt.revision == 0)
    )
    return int(found) if found is not None else None


async def first_revision(conn: AsyncConnection, attempt_id: int) -> int:
    """The id of revision 0 of the attempt ``attempt_id`` is a revision of: how a promise (or
    anything else) names the contact it came from, whatever was learnt of it since."""
    first = aliased(Attempt)
    found = await conn.scalar(
        select(first.id)
        .join(Attempt, Attempt.attempt_ref == first.attempt_ref)
        .where(Attempt.id == attempt_id, first.revision == 0)
    )
    return int(found) if found is not None else attempt_id


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
    note: str | None = None,
) -> bool:
    """What a connected contact produced, as a new revision of the attempt ``attempt_id`` is a
    revision of (``only_if_none``: unless it says something already — a plain right-party
    contact never hides a promise). A disposition that puts a hold (:data:`DISPOSITION_HOLDS`)
    puts it from ``on``, once per attempt, as an imported one does; no disposition lifts
    anything. Returns whether the attempt changed."""
    ref = await conn.scalar(select(Attempt.attempt_ref).where(Attempt.id == attempt_id))
    if ref is None:
        return False

    def dispose(row: Row[Any]) -> dict[str, Any] | None:
        if only_if_none and row.disposition is not None:
            return None
        if row.disposition == disposition.value and note is None:
            return None
        values: dict[str, Any] = {"disposition": disposition.value}
        if note is not None:
            values["note"] = note
        return values

    written = await supersede(conn, Attempt.attempt_ref == ref, dispose, recorded_by=source)
    if written is not None:
        await apply_disposition_hold(conn, written, disposition, on=on, source=source)
    return written is not None


async def apply_disposition_hold(
    conn: AsyncConnection, attempt_id: int, disposition: Disposition, *, on: dt.date, source: str
) -> bool:
    """The hold a disposition puts (:data:`DISPOSITION_HOLDS`), from ``on``, once per attempt
    (keyed by it), as an imported one does. Nothing here ever lifts a hold. Returns whether a
    hold was put."""
    if disposition not in DISPOSITION_HOLDS:
        return False
    kind, every_loan = DISPOSITION_HOLDS[disposition]
    attempt = (
        await conn.execute(
            select(Attempt.attempt_ref, Attempt.loan_id, Loan.borrower_id)
            .join(Loan, Loan.id == Attempt.loan_id)
            .where(Attempt.id == attempt_id)
        )
    ).one()
    # The first hold of an attempt is keyed as the import keys it; a correction to another
    # disposition that puts a hold of another kind puts that one too.
    first = f"attempt:{attempt.attempt_ref}"
    existing = await conn.scalar(select(Hold.code).where(Hold.hold_ref == first))
    if existing == kind.value:
        return False
    put = await conn.execute(
        dialect.insert(conn, Hold)
        .values(
            hold_ref=first if existing is None else f"{first}:{kind.value}",
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
    return bool(put.rowcount)
