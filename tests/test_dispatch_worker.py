"""Dispatch by the arq workers on a real Redis: the tick claims due rows into batch jobs, a
burst worker delivers them, and a flushed Redis loses no reminder (the sweeper re-finds it)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from pathlib import Path

from arq import create_pool
from sqlalchemy import text

from service.cli import main
from service.clock import FixedClock
from service.contact.dispatch import claim_due
from service.db.engine import create_engine
from service.settings import Settings
from tests.conftest import REDIS_URL, Db
from tests.test_treatment import DAY
from tests.test_treatment import portfolio as portfolio  # the fixture, shared
from workers.worker import create_worker, redis_settings

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
NOON = dt.datetime.combine(DAY, dt.time(12), SHANGHAI)


def _settings(db: Db) -> Settings:
    return dataclasses.replace(
        db.settings,
        redis_url=REDIS_URL,
        dispatch="arq",
        lender_timezone="Asia/Shanghai",
        lender_name="测试银行",
    )


async def _burst(settings: Settings, moment: dt.datetime) -> None:
    # The worker's clock is its dependencies': this one dispatches "at" the moment given.
    worker = create_worker(
        settings, FixedClock(moment), burst=True, poll_delay=0.05, handle_signals=False
    )
    try:
        await worker.main()
    finally:
        await worker.close()


def test_a_burst_worker_delivers_the_due_outbox_and_a_flushed_redis_loses_nothing(
    portfolio: Path, db: Db
) -> None:
    assert main(["cob", "--as-of", DAY.isoformat()]) == 0
    settings = _settings(db)

    async def go() -> tuple[int, int]:
        pool = await create_pool(redis_settings(settings))
        engine = create_engine(settings)
        try:
            await pool.flushdb()
            # A tick claimed a batch and enqueued its job; then Redis lost everything.
            _, ids = await claim_due(engine, NOON, 2)
            await pool.flushdb()
            await _burst(settings, NOON)
            async with engine.connect() as conn:
                stranded = await conn.scalar(
                    text("SELECT count(*) FROM outbox WHERE status = 'queued'")
                )
            # Past the lease, the sweeper of the next tick takes the claim back.
            later = NOON + dt.timedelta(seconds=settings.dispatch_lease_seconds + 1)
            await _burst(settings, later)
            return len(ids), int(stranded or 0)
        finally:
            await engine.dispose()
            await pool.flushdb()
            await pool.aclose()

    claimed, stranded = asyncio.run(go())
    assert claimed == stranded == 2  # the first burst sent the rest, not the lost claim
    sent = db.rows("SELECT count(*) FROM outbox WHERE status = 'sent' AND channel = 'sms'")
    assert sent[0][0] >= 2
    attempts = db.rows("SELECT count(*) FROM contact_log WHERE source = 'dispatch'")
    assert attempts[0][0] >= sent[0][0]
    queued = db.rows("SELECT count(*) FROM outbox WHERE status IN ('queued', 'sending')")
    assert queued == [(0,)]
