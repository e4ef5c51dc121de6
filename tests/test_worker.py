"""The arq worker, on a real Redis: what one process enqueues another runs; the nightly cron;
``arq workers.main.WorkerSettings --check``; dependencies built by the same factory as in
production."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from arq import create_pool
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from service.assignment.queues import install_default_queues
from service.clock import FixedClock
from service.cob.nightly import run_cob
from service.db.models import ImportRun, Job, JobState, Loan, LoanSnapshot
from service.devtools.demo import write_demo_portfolio
from service.ingest.pipeline import ImportOptions, import_directory
from service.settings import Settings
from tests.conftest import REDIS_URL
from workers.deps import DEPS, dependencies
from workers.jobs import QUEUE_NAME
from workers.worker import close_of_business_job, create_worker, redis_settings


async def test_an_enqueued_import_runs_in_a_burst_worker(
    settings: Settings, engine: AsyncEngine, tmp_path: Path
) -> None:
    settings = Settings(database_url=settings.database_url, redis_url=REDIS_URL, var_dir=tmp_path)
    counts = write_demo_portfolio(tmp_path / "drop", borrowers=30, as_of=dt.date(2026, 11, 24))
    pool = await create_pool(redis_settings(settings))
    try:
        await pool.flushdb()
        job = await pool.enqueue_job(
            "import_directory_job", str(tmp_path / "drop"), _queue_name=QUEUE_NAME
        )
        assert job is not None
        worker = create_worker(settings, burst=True, poll_delay=0.05, handle_signals=False)
        try:
            await worker.main()
        finally:
            await worker.close()
        result = await job.result(timeout=5)
    finally:
        await pool.flushdb()
        await pool.aclose()
    assert result["status"] == "completed"
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(Loan)) == counts.loans
        run = (await conn.execute(select(ImportRun))).one()
    assert (run.source, run.actor) == ("worker", "worker")


async def test_healthz_checks_redis_when_configured(
    aiohttp_client: Any, settings: Settings
) -> None:
    from service.web.app import create_app

    settings = Settings(database_url=settings.database_url, redis_url=REDIS_URL, dispatch="off")
    client = await aiohttp_client(create_app(settings))
    body = await (await client.get("/healthz")).json()
    assert body["checks"] == {"database": "ok", "redis": "ok"}


async def test_the_nightly_close_of_business_is_a_unique_cron_at_lender_time_and_a_job(
    settings: Settings, engine: AsyncEngine, tmp_path: Path
) -> None:
    settings = Settings(
        database_url=settings.database_url,
        redis_url=REDIS_URL,
        var_dir=tmp_path,
        lender_timezone="Asia/Shanghai",
        cob_time=dt.time(2, 30),
        snapshot_retention_days=30,
    )
    worker = create_worker(settings, burst=True, handle_signals=False)
    try:
        nightly = next(job for job in worker.cron_jobs if job.name == "close_of_business")
        assert (nightly.hour, nightly.minute, nightly.unique) == ({2}, {30}, True)
        assert str(worker.timezone) == "Asia/Shanghai"
    finally:
        await worker.close()

    write_demo_portfolio(tmp_path / "drop", borrowers=20, as_of=dt.date(2026, 11, 24))
    await import_directory(engine, tmp_path / "drop", ImportOptions())
    # Older than the retention: the 1st is dropped below, the 2nd kept as its month's closing
    # snapshot (the roll-rate matrix's).
    await run_cob(engine, dt.date(2026, 9, 1))
    await run_cob(engine, dt.date(2026, 9, 2))
    async with engine.begin() as conn:
        await install_default_queues(conn)
    # The lender's today comes from the dependencies' clock: 01:00 on the 24th in Shanghai.
    clock = FixedClock(dt.datetime(2026, 11, 23, 17, 0, tzinfo=dt.UTC))
    async with dependencies(settings, clock=clock, engine=engine) as deps:
        job_id = await close_of_business_job({DEPS: deps})
    async with engine.connect() as conn:
        job = (await conn.execute(select(Job).where(Job.id == job_id))).one()
        dates = set((await conn.execute(select(LoanSnapshot.as_of))).scalars())
        unassigned = await conn.scalar(
            text("SELECT count(*) FROM loans WHERE status = 'open' AND queue_id IS NULL")
        )
    assert job.state is JobState.succeeded
    assert job.result["as_of"] == "2026-11-24"
    assert job.result["loans"] > 0
    assert job.actor == "cron"
    assert dates == {dt.date(2026, 9, 2), dt.date(2026, 11, 24)}
    assert unassigned == 0  # the nightly run routed every open account to a queue


def _check(settings: Settings) -> int:
    """``arq workers.main.WorkerSettings --check``, as the compose health check runs it."""
    environ = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": REDIS_URL,
        "ARREARS_VAR_DIR": str(settings.var_dir),
    }
    arq = Path(sys.executable).parent / "arq"
    done = subprocess.run(  # noqa: S603  # our own worker settings, our own interpreter
        [str(arq), "workers.main.WorkerSettings", "--check"],
        env=environ,
        capture_output=True,
        timeout=60,
        check=False,
    )
    return done.returncode


async def test_arq_check_is_healthy_only_while_a_worker_runs(settings: Settings) -> None:
    settings = Settings(database_url=settings.database_url, redis_url=REDIS_URL)
    pool = await create_pool(redis_settings(settings))
    await pool.flushdb()
    try:
        assert await asyncio.to_thread(_check, settings) == 1  # no worker: unhealthy
        worker = create_worker(settings, handle_signals=False, poll_delay=0.05)
        running = asyncio.ensure_future(worker.main())
        try:
            for _ in range(100):
                if await pool.exists(f"{QUEUE_NAME}:health-check"):
                    break
                await asyncio.sleep(0.05)
            assert await asyncio.to_thread(_check, settings) == 0
        finally:
            await worker.close()
            running.cancel()
        assert await asyncio.to_thread(_check, settings) == 1  # stopped: unhealthy again
    finally:
        await pool.flushdb()
        await pool.aclose()
