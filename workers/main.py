"""Worker composition root: ``create_worker(settings)`` builds an arq ``Worker``.

Jobs get their resources through ``ctx`` (engine, settings), set up in ``on_startup`` and torn
down in ``on_shutdown``. Jobs may run twice (arq's delivery is at-least-once), so each job is
idempotent in the database: importing the same files twice leaves the same data.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from arq import Worker, cron
from arq.connections import RedisSettings

from service.assignment.run import strategies_for
from service.clock import lender_today
from service.cob.nightly import Planning, run_cob
from service.db.engine import create_engine
from service.ingest.pipeline import ImportOptions, import_directory
from service.settings import Settings

log = structlog.get_logger(__name__)

QUEUE_NAME = "arrears:queue"


async def import_directory_job(
    ctx: dict[str, Any], directory: str, actor: str = "worker"
) -> dict[str, Any]:
    """Import a directory of contract files (e.g. the lender's nightly drop on shared storage)."""
    settings: Settings = ctx["settings"]
    report = await import_directory(
        ctx["engine"],
        Path(directory),
        ImportOptions(
            default_region=settings.default_phone_region,
            chunk_rows=settings.import_chunk_rows,
            source="worker",
            actor=actor,
            refresh_as_of=lender_today(settings.lender_timezone),
            cob=settings.cob_config(),
        ),
    )
    return report.as_dict()


async def close_of_business_job(ctx: dict[str, Any], as_of: str | None = None) -> dict[str, Any]:
    """The nightly close of business for the lender's today (or a given date).

    arq runs a cron job once per scheduled time however many workers are up (its job id is the
    time); should it still run twice, COB for a date replaces its own results.
    """
    settings: Settings = ctx["settings"]
    day = dt.date.fromisoformat(as_of) if as_of else lender_today(settings.lender_timezone)
    report = await run_cob(
        ctx["engine"],
        day,
        settings.cob_config(),
        actor="worker",
        retention_days=settings.snapshot_retention_days,
        planning=Planning(ctx["strategies"], settings),
    )
    return {"as_of": day.isoformat(), "loans": report.loans, "buckets": report.buckets}


def redis_settings(settings: Settings) -> RedisSettings:
    if not settings.redis_url:
        raise ValueError("the worker needs REDIS_URL")
    return RedisSettings.from_dsn(settings.redis_url)


def create_worker(settings: Settings, **overrides: Any) -> Worker:
    strategies = strategies_for(settings)  # a bad strategy setting stops the worker at start

    async def on_startup(ctx: dict[str, Any]) -> None:
        ctx["settings"] = settings
        ctx["engine"] = create_engine(settings)
        ctx["strategies"] = strategies
        log.info("worker.started")

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        engine = ctx.get("engine")
        if engine is not None:
            await engine.dispose()
        log.info("worker.stopped")

    options: dict[str, Any] = {
        "functions": [import_directory_job, close_of_business_job],
        "cron_jobs": [
            cron(
                close_of_business_job,
                name="close_of_business",
                hour={settings.cob_time.hour},
                minute={settings.cob_time.minute},
                unique=True,
                timeout=4 * 3600,
            )
        ],
        # Cron times are the lender's wall clock.
        "timezone": ZoneInfo(settings.lender_timezone),
        "queue_name": QUEUE_NAME,
        "redis_settings": redis_settings(settings),
        "on_startup": on_startup,
        "on_shutdown": on_shutdown,
        "job_timeout": 3600,
        "max_tries": 3,
    }
    options.update(overrides)
    return Worker(**options)
