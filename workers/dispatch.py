"""The outbox's arq jobs: a tick (every second, in every worker) that sweeps and claims what
is due into batches, and the batch job that delivers one claim.

A batch is one claim of up to ``ARREARS_DISPATCH_BATCH`` rows: one job per message would cap
throughput at what arq can schedule (about 800 jobs a second here), a batch sends its rows
concurrently. The tick claims no more than ``ARREARS_DISPATCH_MAX_QUEUED`` rows ahead of the
workers, so no claim waits in Redis long enough to look lost to the sweeper.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import structlog

from service.contact.dispatch import Dispatcher, claim_due, deliver, queued_count
from service.contact.sweeper import dispatch_once, sweep
from workers.jobs import QUEUE_NAME

log = structlog.get_logger(__name__)

DISPATCHER = "dispatcher"  # the key of arq's ctx that holds the process's dispatcher


async def tick_forever(ctx: dict[str, Any], every: float = 1.0) -> None:
    """Each worker's own ticker (not an arq cron: a cron job a second queues up behind busy
    job slots, and stops with Redis). Several workers ticking is safe: claims are in the
    database. A tick that fails (Redis or the database restarting) is logged and tried again."""
    dispatcher = dispatcher_of(ctx)
    bound = dispatcher.settings.dispatch_lease_seconds
    while True:
        try:
            await asyncio.wait_for(dispatch_tick(ctx), timeout=bound)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("dispatch.tick_failed", reason=f"{type(exc).__name__}: {exc}"[:200])
        await asyncio.sleep(every)


def dispatcher_of(ctx: Mapping[str, Any]) -> Dispatcher:
    found = ctx.get(DISPATCHER)
    if not isinstance(found, Dispatcher):
        raise RuntimeError("the worker was started without its dispatcher (on_startup)")
    return found


async def dispatch_batch(ctx: dict[str, Any], claim: str, ids: list[int]) -> dict[str, Any]:
    """Deliver one claim (arq may run it twice: only rows still under the claim are touched)."""
    report = await deliver(dispatcher_of(ctx), claim, ids)
    return report.as_dict()


async def dispatch_tick(ctx: dict[str, Any], inline: bool = False) -> dict[str, Any]:
    """Sweep, then claim what is due into batch jobs, up to the queued limit — or, ``inline``
    (a burst worker, which leaves once its queue is empty), deliver it all in this job."""
    dispatcher = dispatcher_of(ctx)
    settings = dispatcher.settings
    if inline:
        return (await dispatch_once(dispatcher)).as_dict()
    report = await sweep(dispatcher)
    room = settings.dispatch_max_queued - await queued_count(dispatcher.engine)
    batches = 0
    while room > 0:
        claim, ids = await claim_due(
            dispatcher.engine, dispatcher.clock.now(), min(settings.dispatch_batch, room)
        )
        if not ids:
            break
        # The claim names the job: arq refuses a second job of the same id.
        await ctx["redis"].enqueue_job(
            "dispatch_batch", claim, ids, _job_id=f"dispatch:{claim}", _queue_name=QUEUE_NAME
        )
        room -= len(ids)
        report.claimed += len(ids)
        batches += 1
    if batches:
        log.debug("dispatch.claimed", rows=report.claimed, batches=batches)
    return report.as_dict()
