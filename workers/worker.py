"""The arq worker built from the settings: its jobs, the nightly close of business (a unique cron
at the lender's ``ARREARS_COB_TIME``), the sweep for orphaned jobs, and its dependencies."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from arq import Worker, cron, func
from arq.connections import RedisSettings
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from service.clock import Clock
from service.contact.dispatch import open_dispatcher
from service.contact.promise_keeping import after_import
from service.db.models import JobKind
from service.ingest.pipeline import ImportOptions, import_directory
from service.settings import Settings
from workers.deps import DEPS, dependencies, deps_of
from workers.dispatch import DISPATCHER, dispatch_batch, dispatch_tick, tick_forever
from workers.jobs import QUEUE_NAME, create_job, run_job, sweep

log = structlog.get_logger(__name__)

# How often a worker writes arq's health-check key (what `arq … --check` reads).
HEALTH_CHECK_SECONDS = 30
TICKER = "dispatch_ticker"  # the ctx key of the worker's own outbox ticker


async def run_job_task(ctx: dict[str, Any], job_id: int) -> None:
    """A job the web app enqueued (see workers.jobs)."""
    await run_job(deps_of(ctx), job_id)


async def close_of_business_job(ctx: dict[str, Any], as_of: str | None = None) -> int:
    """The nightly close of business for the lender's today (or a given date), recorded as a
    job like one asked for over HTTP. arq runs a unique cron once per scheduled time however
    many workers are up; should it still run twice, COB for a date replaces its own results."""
    deps = deps_of(ctx)
    job_id = await create_job(
        deps.engine, JobKind.close_of_business, {"as_of": as_of, "actor": "worker"}, "cron", "arq"
    )
    await run_job(deps, job_id)
    return job_id


async def import_directory_job(
    ctx: dict[str, Any], directory: str, actor: str = "worker"
) -> dict[str, Any]:
    """Import a directory of contract files (e.g. the lender's nightly drop on shared storage)."""
    deps = deps_of(ctx)
    settings = deps.settings
    report = await import_directory(
        deps.engine,
        Path(directory),
        ImportOptions(
            default_region=settings.default_phone_region,
            chunk_rows=settings.import_chunk_rows,
            source="worker",
            actor=actor,
            refresh_as_of=deps.today(),
            cob=settings.cob_config(),
            after_refresh=after_import(settings.promise_grace_days, actor),
        ),
    )
    return report.as_dict()


async def sweep_job(ctx: dict[str, Any]) -> int:
    """Jobs whose process died are marked failed (every minute, and at start)."""
    deps = deps_of(ctx)
    return await sweep(deps.engine, deps.clock.now(), deps.settings.var_dir)


def redis_settings(settings: Settings) -> RedisSettings:
    if not settings.redis_url:
        raise ValueError("the worker needs REDIS_URL")
    found = RedisSettings.from_dsn(settings.redis_url)
    # Through a Redis restart: a command that meets a dropped connection is tried again (for
    # about half a minute) instead of stopping the worker.
    found.retry = Retry(ExponentialBackoff(cap=2.0, base=0.1), retries=20)
    found.retry_on_error = [RedisConnectionError, RedisTimeoutError]
    found.conn_retries = 30
    return found


def worker_options(
    settings: Settings, clock: Clock | None = None, *, burst: bool = False
) -> dict[str, Any]:
    """arq's options for these settings (``WorkerSettings`` and :func:`create_worker`);
    ``clock``: the jobs' time (a test or a simulation runs a worker at a moment it names).

    A worker ticks the outbox every second (:func:`workers.dispatch.tick_forever`); a burst
    worker (``arrears worker --burst``) once at start — it delivers what is due, runs what is
    queued, and exits."""
    exits = contextlib.AsyncExitStack()
    # A batch's rows wait for a slot and go with the provider's timeout each; a slow batch keeps
    # its rows alive (a heartbeat). One that hangs past this is cut: its rows are the sweeper's.
    dispatch_timeout = dt.timedelta(
        seconds=max(5 * settings.dispatch_lease_seconds, 20 * settings.send_timeout_seconds)
    )

    async def on_startup(ctx: dict[str, Any]) -> None:
        deps = await exits.enter_async_context(dependencies(settings, clock=clock))
        ctx[DEPS] = deps
        ctx[DISPATCHER] = await exits.enter_async_context(
            open_dispatcher(settings, deps.engine, deps.clock, ctx["redis"])
        )
        await sweep(deps.engine, deps.clock.now(), deps.settings.var_dir)
        if burst:
            await ctx["redis"].enqueue_job("dispatch_tick", True, _queue_name=QUEUE_NAME)
        else:
            ctx[TICKER] = asyncio.ensure_future(tick_forever(ctx))
        log.info("worker.started")

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        ticker = ctx.pop(TICKER, None)
        if ticker is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        await exits.aclose()
        log.info("worker.stopped")

    return {
        "functions": [
            run_job_task,
            import_directory_job,
            close_of_business_job,
            func(dispatch_batch, name="dispatch_batch", timeout=dispatch_timeout),
            func(dispatch_tick, name="dispatch_tick", timeout=dispatch_timeout),
        ],
        "cron_jobs": [
            cron(
                close_of_business_job,
                name="close_of_business",
                hour={settings.cob_time.hour},
                minute={settings.cob_time.minute},
                unique=True,
                timeout=4 * 3600,
            ),
            cron(sweep_job, name="sweep_jobs", second={0}, unique=True, run_at_startup=False),
        ],
        # Cron times are the lender's wall clock.
        "timezone": ZoneInfo(settings.lender_timezone),
        "queue_name": QUEUE_NAME,
        "redis_settings": redis_settings(settings),
        "on_startup": on_startup,
        "on_shutdown": on_shutdown,
        # A close of business at 1M loans takes minutes; a job never takes longer than 4 hours.
        "job_timeout": dt.timedelta(hours=4),
        "max_tries": 3,
        "health_check_interval": HEALTH_CHECK_SECONDS,
    }


def create_worker(settings: Settings, clock: Clock | None = None, **overrides: Any) -> Worker:
    """An arq worker for ``settings`` (``overrides``: arq options, e.g. ``burst=True``)."""
    options = worker_options(settings, clock, burst=bool(overrides.get("burst")))
    return Worker(**{**options, **overrides})
