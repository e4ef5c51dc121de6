"""Delivering the outbox: rows due now are claimed, decided again, sent through the channel,
and their outcome stored — by arq workers, or in-process on the embedded default, the same code.

Exactly once rests on the database, not on the queue (docs/dispatch.md):

- a claim is one conditional ``UPDATE … WHERE status = 'pending'`` naming a fresh claim id, so
  two workers never hold one row; a row is taken for sending (``queued → sending``) only under
  its claim, and only rows so taken are handed to the channel;
- the attempt a send makes is keyed by its outbox row (one each);
- a row left ``sending`` (a worker killed mid-send) or retried after an error that may have come
  after the provider took it (a timeout, a 5xx) is first looked for at the provider — the
  messages to that number since its claim — and marked sent if found, never sent twice;
- Redis carries only wake-ups: the sweeper re-finds rows whose job was lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from typing import Any

import structlog
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from service.clock import Clock
from service.contact import inbound
from service.contact import log as contact_log
from service.contact.channels import (
    Accepted,
    ContactChannel,
    Outgoing,
    PermanentError,
    TransientError,
    open_channel,
)
from service.contact.decide import Outcome, decide, load_context, row_of
from service.contact.ratelimit import LocalSendRate, RedisSendRate, SendRate
from service.db import dialect
from service.db.models import Attempt, GuardDecision, OutboxMessage, OutboxStatus
from service.domain.contact import AttemptResult, Channel, OptOutSource
from service.domain.outbox import MOVES
from service.settings import Settings
from service.treatment.messages import webhook_url

log = structlog.get_logger(__name__)

SENDABLE = ("sms", "call")
# A reconciliation looks this far before the claim for what the provider took (clock skew).
SKEW = dt.timedelta(minutes=2)


@dataclasses.dataclass(frozen=True, slots=True)
class Dispatcher:
    """What dispatching needs: the database, the settings, the channel, the shared send rate
    and the clock (``now`` is always the clock's, so a test can dispatch at any moment)."""

    engine: AsyncEngine
    settings: Settings
    channel: ContactChannel
    rate: SendRate
    clock: Clock
    inflight: asyncio.Semaphore

    @property
    def sender(self) -> str:
        return self.settings.twilio_from_number or "console"


@dataclasses.dataclass(slots=True)
class DispatchReport:
    claimed: int = 0
    outcomes: Counter[str] = dataclasses.field(default_factory=Counter)
    reconciled: int = 0  # found already taken by the provider: marked sent, not sent again
    requeued: int = 0  # claims or sends left unfinished, taken back by the sweeper

    def add(self, other: DispatchReport) -> None:
        self.claimed += other.claimed
        self.outcomes.update(other.outcomes)
        self.reconciled += other.reconciled
        self.requeued += other.requeued

    def as_dict(self) -> dict[str, Any]:
        return {
            "claimed": self.claimed,
            "outcomes": dict(sorted(self.outcomes.items())),
            "reconciled": self.reconciled,
            "requeued": self.requeued,
        }


@contextlib.asynccontextmanager
async def open_dispatcher(
    settings: Settings, engine: AsyncEngine, clock: Clock, redis: Any | None = None
) -> AsyncIterator[Dispatcher]:
    """A dispatcher for these settings: the channel they name, opened for its lifetime, and the
    send rate shared through ``redis`` when there is one."""
    per_second = settings.send_rate_per_second
    rate: SendRate = (
        RedisSendRate(redis, per_second) if redis is not None else LocalSendRate(per_second)
    )
    async with open_channel(settings) as channel:
        yield Dispatcher(
            engine, settings, channel, rate, clock, asyncio.Semaphore(settings.send_concurrency)
        )


def new_claim() -> str:
    return uuid.uuid4().hex


# --- claiming ------------------------------------------------------------------------------------


async def claim_due(
    engine: AsyncEngine, now: dt.datetime, limit: int, claim: str | None = None
) -> tuple[str, list[int]]:
    """Claim up to ``limit`` rows due at ``now`` (oldest first): (the claim, the row ids)."""
    claim = claim or new_claim()
    if limit <= 0:
        return claim, []
    due = (
        select(OutboxMessage.id)
        .where(OutboxMessage.status == OutboxStatus.pending, OutboxMessage.not_before <= now)
        # In the order of the (status, not_before) index: the scan stops at the limit (with
        # the id as well, every claim would sort every due row first).
        .order_by(OutboxMessage.not_before)
        .limit(limit)
        # PostgreSQL: concurrent claimers skip each other's rows instead of waiting on them
        # (SQLite has one writer and no such clause).
        .with_for_update(skip_locked=True)
        # Chosen once: inside the UPDATE, PostgreSQL may run a LIMIT … SKIP LOCKED subquery
        # again per row, and each run skips what the last one locked — claiming past the limit.
        .cte("due")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    async with engine.begin() as conn:
        await dialect.write_now(conn)
        ids = (
            await conn.scalars(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(select(due.c.id)))
                .where(OutboxMessage.status.in_(MOVES[OutboxStatus.queued]))
                .values(status=OutboxStatus.queued, claim=claim, claimed_at=now, updated_at=now)
                .returning(OutboxMessage.id)
            )
        ).all()
    return claim, sorted(int(i) for i in ids)


async def queued_count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        found = await conn.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.status == OutboxStatus.queued)
        )
    return int(found or 0)


# --- delivering a claim --------------------------------------------------------------------------


async def deliver(dispatcher: Dispatcher, claim: str, ids: Sequence[int]) -> DispatchReport:
    """Deliver the rows of one claim: decide each again, send the allowed ones, store every
    outcome. Rows no longer under this claim (a second delivery of the job, the sweeper took
    them back) are left alone."""
    report = DispatchReport(claimed=len(ids))
    if not ids:
        return report
    settings = dispatcher.settings
    now = dispatcher.clock.now()
    original = claim
    async with dispatcher.engine.begin() as conn:
        await dialect.write_now(conn)
        records = (
            await conn.execute(
                select(OutboxMessage)
                .where(
                    OutboxMessage.id.in_(list(ids)),
                    OutboxMessage.claim == claim,
                    OutboxMessage.status == OutboxStatus.queued,
                )
                .order_by(OutboxMessage.not_before, OutboxMessage.id)
                # PostgreSQL: a second delivery of this claim running at the same moment waits
                # for this one, then finds the rows no longer queued. (Not SKIP LOCKED: a
                # concurrent claim may hold a row of this claim for an instant, and a skipped
                # row would wait for the sweeper.)
                .with_for_update()
            )
        ).all()
        rows = [row_of(r) for r in records]
        if not rows:
            return report
        context = await load_context(conn, settings, rows, now)
        outcomes = decide(rows, context, settings, now)
        decisions = [o.decision for o in outcomes if o.decision is not None]
        await dialect.insert_rows(conn, GuardDecision.__table__, decisions)
        await _settle(
            conn, claim, [o for o in outcomes if o.status is not OutboxStatus.sending], now
        )
        to_send = [o for o in outcomes if o.status is OutboxStatus.sending]
        # Taken under a claim of this delivery's own: only what this delivery took is sent
        # and stored by it.
        claim = new_claim()
        taken = await _take(conn, original, claim, to_send, dispatcher.sender, now)
    for outcome in outcomes:
        if outcome.status is not OutboxStatus.sending:
            report.outcomes[outcome.status.value] += 1
    letters = [o for o in taken if o.row.channel == "letter"]
    messages = [o for o in taken if o.row.channel in SENDABLE]
    beating = asyncio.ensure_future(_heartbeat(dispatcher, claim))
    try:
        results = await asyncio.gather(*(_send(dispatcher, o) for o in messages))
    finally:
        beating.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beating
    async with dispatcher.engine.begin() as conn:
        await dialect.write_now(conn)
        await _store(conn, dispatcher, claim, list(zip(messages, results, strict=True)), report)
        if letters:
            await _letters_ready(conn, claim, letters, dispatcher.clock.now())
            report.outcomes["sent"] += len(letters)
    return report


async def _heartbeat(dispatcher: Dispatcher, claim: str) -> None:
    """While this delivery's rows are out with the channel (or wait for a slot to go), their
    ``updated_at`` moves on: the sweeper takes back only the rows of a delivery that stopped
    (a killed worker), never those of one that is merely slow."""
    every = max(0.5, dispatcher.settings.dispatch_lease_seconds / 3)
    while True:
        await asyncio.sleep(every)
        try:
            async with dispatcher.engine.begin() as conn:
                await conn.execute(
                    update(OutboxMessage)
                    .where(
                        OutboxMessage.claim == claim,
                        OutboxMessage.status == OutboxStatus.sending,
                    )
                    .values(updated_at=dispatcher.clock.now())
                )
        except Exception as exc:  # the database restarting: the next beat tries again
            log.warning("dispatch.heartbeat_failed", reason=str(exc)[:200])


async def _settle(conn: Any, claim: str, outcomes: Sequence[Outcome], now: dt.datetime) -> None:
    """Rows that do not leave now: blocked, in review, cancelled, or rescheduled (a defer)."""
    if not outcomes:
        return
    statement = (
        update(OutboxMessage)
        .where(
            OutboxMessage.id == bindparam("row_id"),
            OutboxMessage.claim == claim,
            OutboxMessage.status == OutboxStatus.queued,
        )
        .values(
            status=bindparam("new_status"),
            reasons=bindparam("new_reasons"),
            not_before=bindparam("new_not_before"),
            next_allowed_at=bindparam("new_next"),
            claim=None,
            updated_at=bindparam("now"),
        )
    )
    await conn.execute(
        statement,
        [
            {
                "row_id": o.row.id,
                "new_status": o.status,
                "new_reasons": ",".join(o.reasons)[:400],
                "new_not_before": o.not_before or o.row.created_at,
                "new_next": o.next_allowed_at,
                "now": now,
            }
            for o in outcomes
        ],
    )


async def _take(
    conn: Any,
    claim: str,
    taking: str,
    outcomes: Sequence[Outcome],
    sender: str,
    now: dt.datetime,
) -> list[Outcome]:
    """``queued → sending``, from ``claim`` to ``taking``, with what will leave; returns the
    rows taken."""
    if not outcomes:
        return []
    by_id = {o.row.id: o for o in outcomes}
    # The words that leave (an earlier try's were read before: a reconciliation looks for them).
    await dialect.update_rows(
        conn,
        OutboxMessage.__table__,
        "id",
        ("phone", "body"),
        [{"id": o.row.id, "phone": o.to, "body": o.body} for o in outcomes],
        where=(OutboxMessage.claim == claim, OutboxMessage.status == OutboxStatus.queued),
        same={
            "status": OutboxStatus.sending,
            "claim": taking,
            "sender": sender,
            "updated_at": now,
        },
    )
    taken = await conn.scalars(
        select(OutboxMessage.id).where(
            OutboxMessage.id.in_(list(by_id)),
            OutboxMessage.claim == taking,
            OutboxMessage.status == OutboxStatus.sending,
        )
    )
    return [by_id[int(i)] for i in taken]


@dataclasses.dataclass(frozen=True, slots=True)
class _Result:
    accepted: Accepted | None = None
    error: TransientError | PermanentError | None = None
    reconciled: bool = False


def outgoing(
    dispatcher: Dispatcher, row_id: int, channel: str, to: str, body: str | None
) -> Outgoing:
    base = dispatcher.settings.public_base_url
    return Outgoing(
        outbox_id=row_id,
        channel=channel,
        to=to,
        sender=dispatcher.sender,
        body=body if channel == "sms" else None,
        url=webhook_url(base, "voice", outbox=row_id) if channel == "call" else None,
        status_callback=webhook_url(base, "status", outbox=row_id),
    )


async def _send(dispatcher: Dispatcher, outcome: Outcome) -> _Result:
    row = outcome.row
    if not outcome.to:
        return _Result(error=PermanentError("no number to send to"))
    message = outgoing(dispatcher, row.id, row.channel, outcome.to, outcome.body)
    async with dispatcher.inflight:
        try:
            if row.tries > 0:
                # An earlier try may have reached the provider (a timeout, a 5xx, a crash):
                # look before sending again.
                earlier = dataclasses.replace(message, body=row.body or message.body)
                found = await found_at_provider(dispatcher, earlier, row.claimed_at)
                if found is not None:
                    return _Result(Accepted(found, "sent"), reconciled=True)
            await dispatcher.rate.acquire(message.sender)
            return _Result(await dispatcher.channel.send(message))
        except (TransientError, PermanentError) as exc:
            return _Result(error=exc)


async def found_at_provider(
    dispatcher: Dispatcher, message: Outgoing, claimed_at: dt.datetime | None
) -> str | None:
    """A copy of ``message`` the provider took since the claim and no other row owns."""
    since = (claimed_at or dispatcher.clock.now()) - SKEW
    candidates = await dispatcher.channel.find(message, since)
    if not candidates:
        return None
    async with dispatcher.engine.connect() as conn:
        owned = set(
            await conn.scalars(
                select(Attempt.provider_ref).where(Attempt.provider_ref.in_(candidates))
            )
        )
    return next((ref for ref in candidates if ref not in owned), None)


async def _store(
    conn: Any,
    dispatcher: Dispatcher,
    claim: str,
    results: Sequence[tuple[Outcome, _Result]],
    report: DispatchReport,
) -> None:
    settings = dispatcher.settings
    now = dispatcher.clock.now()
    sent: list[dict[str, Any]] = []
    attempts: list[dict[str, Any]] = []
    retries: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    opted: list[tuple[str, Channel]] = []
    invalid: list[str] = []
    for outcome, result in results:
        row = outcome.row
        if result.accepted is not None:
            accepted = result.accepted
            report.reconciled += result.reconciled
            report.outcomes["sent"] += 1
            sent.append({"row_id": row.id, "ref": accepted.provider_ref, "now": now})
            attempts.append(
                contact_log.outbound_attempt(
                    outbox_id=row.id,
                    loan_id=row.loan_id,
                    phone=outcome.to or "",
                    channel=row.channel,
                    template=row.template,
                    at=now,
                    result=accepted.result or AttemptResult.pending,
                    provider_ref=accepted.provider_ref,
                    provider_status=accepted.status,
                    collector_id=row.collector_id,
                )
            )
            continue
        error = result.error
        assert error is not None
        tries = row.tries + 1
        if isinstance(error, TransientError) and tries < settings.dispatch_max_tries:
            report.outcomes["retry"] += 1
            wait = settings.dispatch_backoff_seconds * (2 ** (tries - 1))
            wait = min(wait, 600.0) * random.uniform(0.5, 1.0)  # noqa: S311  # jitter, not secrecy
            retries.append(
                {
                    "row_id": row.id,
                    "tries": tries,
                    "not_before": now + dt.timedelta(seconds=wait),
                    "error": error.reason[:400],
                    "code": error.code,
                    "now": now,
                }
            )
            continue
        report.outcomes["failed"] += 1
        reason = "provider_refused" if isinstance(error, PermanentError) else "retries_spent"
        failures.append(
            {
                "row_id": row.id,
                "tries": tries,
                "error": error.reason[:400],
                "code": error.code,
                "reasons": reason,
                "now": now,
            }
        )
        if error.code in contact_log.OPTED_OUT_CODES and outcome.to:
            opted.append((outcome.to, Channel(row.channel)))
        if error.code in contact_log.INVALID_NUMBER_CODES and outcome.to:
            invalid.append(outcome.to)
        if isinstance(error, PermanentError) and outcome.to and error.code:
            # The provider refused this contact: the log shows the try and why.
            attempts.append(
                contact_log.outbound_attempt(
                    outbox_id=row.id,
                    loan_id=row.loan_id,
                    phone=outcome.to,
                    channel=row.channel,
                    template=row.template,
                    at=now,
                    result=(
                        AttemptResult.not_in_service
                        if error.code in contact_log.INVALID_NUMBER_CODES
                        else AttemptResult.failed
                    ),
                    error_code=error.code,
                    collector_id=row.collector_id,
                )
            )
    mine = (
        OutboxMessage.id == bindparam("row_id"),
        OutboxMessage.claim == claim,
        OutboxMessage.status == OutboxStatus.sending,
    )
    if sent:
        await dialect.update_rows(
            conn,
            OutboxMessage.__table__,
            "id",
            ("provider_ref",),
            [{"id": row["row_id"], "provider_ref": row["ref"]} for row in sent],
            where=(OutboxMessage.claim == claim, OutboxMessage.status == OutboxStatus.sending),
            same={"status": OutboxStatus.sent, "sent_at": now, "updated_at": now},
        )
    if retries:
        await conn.execute(
            update(OutboxMessage)
            .where(*mine)
            .values(
                status=OutboxStatus.pending,
                tries=bindparam("tries"),
                not_before=bindparam("not_before"),
                last_error=bindparam("error"),
                error_code=bindparam("code"),
                claim=None,
                updated_at=bindparam("now"),
            ),
            retries,
        )
    if failures:
        await conn.execute(
            update(OutboxMessage)
            .where(*mine)
            .values(
                status=OutboxStatus.failed,
                tries=bindparam("tries"),
                last_error=bindparam("error"),
                error_code=bindparam("code"),
                reasons=bindparam("reasons"),
                updated_at=bindparam("now"),
            ),
            failures,
        )
    if attempts:
        await contact_log.write_attempts(conn, attempts)
        # Callbacks quicker than this batch: applied now that their attempts exist.
        refs = [a["provider_ref"] for a in attempts if a["provider_ref"]]
        await inbound.apply_held(conn, refs, now)
    if opted:
        await contact_log.opt_out_numbers(conn, opted, now, OptOutSource.provider)
    if invalid:
        await contact_log.mark_numbers_invalid(conn, invalid)
    for outcome, result in results:
        if result.error is not None:
            log.warning(
                "dispatch.send_failed",
                outbox_id=outcome.row.id,
                to=outcome.to,
                reason=result.error.reason,
                code=result.error.code,
                transient=isinstance(result.error, TransientError),
            )


async def _letters_ready(
    conn: Any, claim: str, letters: Sequence[Outcome], now: dt.datetime
) -> None:
    """A letter is not sent by a channel: rendered (its words stored), it is ready to print,
    and logged as sent."""
    await conn.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == bindparam("row_id"),
            OutboxMessage.claim == claim,
            OutboxMessage.status == OutboxStatus.sending,
        )
        .values(
            status=OutboxStatus.sent,
            reasons="ready_for_print",
            sender="print",
            sent_at=now,
            updated_at=now,
        ),
        [{"row_id": o.row.id} for o in letters],
    )
    # In the contact log as every other contact is: a letter handed to print and post.
    await contact_log.write_attempts(
        conn,
        [
            contact_log.outbound_attempt(
                outbox_id=o.row.id,
                loan_id=o.row.loan_id,
                phone="",
                channel="letter",
                template=o.row.template,
                at=now,
                result=AttemptResult.sent,
            )
            for o in letters
        ],
    )
