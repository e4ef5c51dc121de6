"""The sweeper and the in-process loop.

The sweeper takes back what was left unfinished: claims whose job never started (Redis lost
it, a worker died before taking them) go back to pending; sends left ``sending`` past the
lease (a worker killed mid-send) are looked for at the provider — sent if found, else pending
for another try (which looks again before it sends). The in-process loop is the embedded
default's dispatcher and ``arrears dispatch``'s.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import structlog
from sqlalchemy import delete, select, update

from service.contact import inbound
from service.contact import log as contact_log
from service.contact.channels import PermanentError, TransientError
from service.contact.dispatch import (
    SENDABLE,
    Dispatcher,
    DispatchReport,
    claim_due,
    deliver,
    found_at_provider,
    outgoing,
)
from service.db import dialect
from service.db.models import OutboxMessage, OutboxStatus, ProviderReport
from service.domain.contact import AttemptResult

log = structlog.get_logger(__name__)

# Rows reconciled at once: each asks the provider once and writes in a transaction of its own.
RECONCILE_AT_ONCE = 10
HELD_REPORTS_KEPT = dt.timedelta(days=1)


async def sweep(dispatcher: Dispatcher) -> DispatchReport:
    """Take back what was left unfinished: claims whose job never started (Redis lost it, a
    worker died before taking them) go back to pending; sends left ``sending`` past the lease
    (a worker killed mid-send) are looked for at the provider — sent if found, else pending
    for another try (which looks again before it sends)."""
    report = DispatchReport()
    now = dispatcher.clock.now()
    lease = dt.timedelta(seconds=dispatcher.settings.dispatch_lease_seconds)
    async with dispatcher.engine.begin() as conn:
        await dialect.write_now(conn)
        requeued = await conn.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.status == OutboxStatus.queued,
                OutboxMessage.claimed_at < now - lease,
            )
            .values(status=OutboxStatus.pending, claim=None, updated_at=now)
        )
        report.requeued += max(requeued.rowcount, 0)
        await inbound.apply_ready_held(conn, now)
        # Reports for ids that never became an attempt of ours.
        await conn.execute(
            delete(ProviderReport).where(ProviderReport.received_at < now - HELD_REPORTS_KEPT)
        )
    async with dispatcher.engine.connect() as conn:
        stale = (
            await conn.execute(
                select(OutboxMessage)
                .where(
                    OutboxMessage.status == OutboxStatus.sending,
                    OutboxMessage.updated_at < now - lease,
                )
                .order_by(OutboxMessage.id)
                .limit(dispatcher.settings.dispatch_max_queued)
            )
        ).all()
    # A killed worker leaves its batches' rows: look for them at the provider side by side.
    gate = asyncio.Semaphore(RECONCILE_AT_ONCE)

    async def one(record: Any) -> None:
        async with gate:
            await _reconcile(dispatcher, record, report)

    await asyncio.gather(*(one(record) for record in stale))
    if report.requeued or report.reconciled:
        log.info("dispatch.swept", **report.as_dict())
    return report


async def _reconcile(dispatcher: Dispatcher, record: Any, report: DispatchReport) -> None:
    message = outgoing(dispatcher, record.id, record.channel, record.phone or "", record.body)
    found: str | None = None
    if record.channel in SENDABLE and record.phone:
        try:
            async with dispatcher.inflight:
                found = await found_at_provider(dispatcher, message, record.claimed_at)
        except (TransientError, PermanentError) as exc:
            log.warning("dispatch.reconcile_failed", outbox_id=record.id, reason=exc.reason)
            return  # the provider cannot say now: the next sweep asks again
    now = dispatcher.clock.now()
    owned = (
        OutboxMessage.id == record.id,
        OutboxMessage.status == OutboxStatus.sending,
        OutboxMessage.claim == record.claim,
    )
    async with dispatcher.engine.begin() as conn:
        await dialect.write_now(conn)
        if found is not None or record.channel == "letter":
            done = await conn.execute(
                update(OutboxMessage)
                .where(*owned)
                .values(status=OutboxStatus.sent, provider_ref=found, sent_at=now, updated_at=now)
            )
            if done.rowcount and found is not None:
                await contact_log.write_attempts(
                    conn,
                    [
                        contact_log.outbound_attempt(
                            outbox_id=record.id,
                            loan_id=record.loan_id,
                            phone=record.phone,
                            channel=record.channel,
                            template=record.template,
                            at=now,
                            result=AttemptResult.pending,
                            provider_ref=found,
                            provider_status="sent",
                        )
                    ],
                )
                await inbound.apply_held(conn, [found], now)
            report.reconciled += max(done.rowcount, 0)
            return
        back = await conn.execute(
            update(OutboxMessage)
            .where(*owned)
            .values(
                status=OutboxStatus.pending,
                tries=record.tries + 1,
                claim=None,
                not_before=now,
                last_error="left sending; not found at the provider",
                updated_at=now,
            )
        )
        report.requeued += max(back.rowcount, 0)


# --- in-process -----------------------------------------------------------------------------------


async def dispatch_once(dispatcher: Dispatcher, parallel: int = 2) -> DispatchReport:
    """Sweep, then claim and deliver what is due now, until nothing is: ``parallel`` batches at
    a time, so one batch's database work overlaps another's requests in flight (as an arq
    worker runs several batch jobs at once)."""
    report = await sweep(dispatcher)

    async def lane() -> DispatchReport:
        done = DispatchReport()
        while True:
            claim, ids = await claim_due(
                dispatcher.engine, dispatcher.clock.now(), dispatcher.settings.dispatch_batch
            )
            if not ids:
                return done
            done.add(await deliver(dispatcher, claim, ids))

    for lane_report in await asyncio.gather(*(lane() for _ in range(max(1, parallel)))):
        report.add(lane_report)
    return report


async def dispatch_forever(dispatcher: Dispatcher, every: float = 1.0) -> None:
    """The embedded default's dispatcher: what is due goes out within about a second."""
    while True:
        try:
            await dispatch_once(dispatcher)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bad moment (the database restarting) must not stop dispatch
            log.exception("dispatch.error")
        await asyncio.sleep(every)
