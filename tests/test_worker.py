"""The arq worker, on a real Redis: an import job enqueued by one process is run by another."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from arq import create_pool
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from service.db.models import ImportRun, Loan
from service.devtools.demo import write_demo_portfolio
from service.settings import Settings
from tests.conftest import REDIS_URL
from workers.main import QUEUE_NAME, create_worker, redis_settings


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


async def test_healthz_checks_redis_when_configured(aiohttp_client, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    from service.web.app import create_app

    settings = Settings(database_url=settings.database_url, redis_url=REDIS_URL)
    client = await aiohttp_client(create_app(settings))
    body = await (await client.get("/healthz")).json()
    assert body["checks"] == {"database": "ok", "redis": "ok"}


async def test_the_nightly_close_of_business_is_a_unique_cron_at_lender_time(
    settings: Settings, engine: AsyncEngine, tmp_path: Path
) -> None:
    import datetime as dt

    from service.cob.nightly import run_cob
    from workers.main import close_of_business_job

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
        (job,) = worker.cron_jobs
        assert (job.name, job.hour, job.minute, job.unique) == (
            "close_of_business",
            {2},
            {30},
            True,
        )
        assert str(worker.timezone) == "Asia/Shanghai"
    finally:
        await worker.close()

    write_demo_portfolio(tmp_path / "drop", borrowers=20, as_of=dt.date(2026, 11, 24))
    from service.ingest.pipeline import ImportOptions, import_directory

    await import_directory(engine, tmp_path / "drop", ImportOptions())
    await run_cob(engine, dt.date(2026, 9, 1))  # older than the retention: dropped below
    from service.assignment.queues import install_default_queues
    from service.assignment.run import strategies_for

    async with engine.begin() as conn:
        await install_default_queues(conn)
    ctx = {"settings": settings, "engine": engine, "strategies": strategies_for(settings)}
    result = await close_of_business_job(ctx, "2026-11-24")
    assert result["as_of"] == "2026-11-24"
    assert result["loans"] > 0
    async with engine.connect() as conn:
        from service.db.models import LoanSnapshot

        dates = set((await conn.execute(select(LoanSnapshot.as_of))).scalars())
        unassigned = await conn.scalar(
            text("SELECT count(*) FROM loans WHERE status = 'open' AND queue_id IS NULL")
        )
    assert dates == {dt.date(2026, 11, 24)}
    assert unassigned == 0  # the nightly run routed every open account to a queue
