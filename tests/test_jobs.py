"""Long work is a job: the API answers at once with 202 and a job, the job runs (in-process on
the embedded default, in an arq worker with Redis), and a job whose process was killed is marked
failed on restart, never left running."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from arq import create_pool
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from service.assignment.queues import install_default_queues
from service.assignment.run import strategies_for
from service.cob.nightly import Planning, run_cob
from service.db.models import Job, JobKind, JobState, Loan, Role
from service.devtools.demo import write_demo_portfolio
from service.ingest.pipeline import ImportOptions, import_directory
from service.processes import process_identity
from service.settings import Settings
from service.web.app import create_app
from tests.conftest import REDIS_URL, job_done, login, make_user
from workers import jobs
from workers.jobs import create_job
from workers.worker import create_worker, redis_settings

AS_OF = dt.date(2026, 11, 24)
Client = TestClient[Any, Any]


async def _portfolio(engine: AsyncEngine, tmp_path: Path) -> None:
    write_demo_portfolio(tmp_path / "demo", borrowers=80, as_of=AS_OF)
    await import_directory(engine, tmp_path / "demo", ImportOptions())
    async with engine.begin() as conn:
        await install_default_queues(conn)


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> asyncio.Event:
    """Close-of-business jobs wait for this to be set (as if behind another night's lock)."""
    opened = asyncio.Event()
    work = jobs.WORK[JobKind.close_of_business]

    async def gated(deps: Any, params: Any, progress: Any) -> dict[str, Any]:
        progress.step("waiting for any other close of business")
        await opened.wait()
        return await work(deps, params, progress)

    monkeypatch.setitem(jobs.WORK, JobKind.close_of_business, gated)
    return opened


async def _staff(client: Client, engine: AsyncEngine) -> dict[str, str]:
    await make_user(engine, "sup", Role.supervisor)
    return {"Authorization": f"Bearer {await login(client, 'sup')}"}


async def _state(engine: AsyncEngine, job_id: int) -> JobState:
    async with engine.connect() as conn:
        state = await conn.scalar(select(Job.state).where(Job.id == job_id))
    assert state is not None
    return JobState(state)


async def test_cob_answers_at_once_with_a_job_whose_result_is_the_close(
    client: Client, engine: AsyncEngine, settings: Settings, tmp_path: Path, gate: asyncio.Event
) -> None:
    await _portfolio(engine, tmp_path)
    staff = await _staff(client, engine)
    planning = Planning(strategies_for(settings), settings)
    # A first close of the day (loans paid off are closed by it), as the CLI runs it.
    await run_cob(engine, AS_OF, settings.cob_config(), planning=planning)
    started = time.perf_counter()
    response = await client.post("/api/cob", json={"as_of": "2026-11-24"}, headers=staff)
    answered = time.perf_counter() - started
    assert response.status == 202
    job = await response.json()
    assert answered < 1.0
    assert job["state"] in ("queued", "running")
    assert job["kind"] == "close_of_business"
    # Claimed by this process at once, then waiting for the other close: the job says so
    # instead of the request hanging.
    for _ in range(100):
        state = (await (await client.get(job["url"], headers=staff)).json())["state"]
        if state != "queued":
            break
        await asyncio.sleep(0.05)
    assert state == "running"
    await asyncio.sleep(0.2)
    assert (await (await client.get(job["url"], headers=staff)).json())["state"] == "running"
    gate.set()
    finished = await job_done(client, job, staff)
    assert finished["state"] == "succeeded", finished["error"]
    assert finished["progress"]["step"] == "planning"

    # The same close run directly (a close replaces its own results) reports the same.
    again = await run_cob(engine, AS_OF, settings.cob_config(), planning=planning)
    result = finished["result"]
    assert (result["as_of"], result["loans"], result["buckets"]) == (
        again.as_of.isoformat(),
        again.loans,
        again.buckets,
    )
    assert again.plan is not None
    assert result["plan"]["contacts"] == again.plan.as_dict()["contacts"]
    listing = await (await client.get("/api/jobs", headers=staff)).json()
    assert [item["id"] for item in listing["items"]] == [job["id"]]


async def test_with_redis_the_job_is_run_by_an_arq_worker(
    aiohttp_client: Any, engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    await _portfolio(engine, tmp_path)
    settings = Settings(
        database_url=settings.database_url, redis_url=REDIS_URL, dispatch="arq", var_dir=tmp_path
    )
    pool = await create_pool(redis_settings(settings))
    await pool.flushdb()
    try:
        client = await aiohttp_client(create_app(settings))
        staff = await _staff(client, engine)
        response = await client.post("/api/cob", json={"as_of": "2026-11-24"}, headers=staff)
        assert response.status == 202
        job = await response.json()
        await asyncio.sleep(0.2)
        assert await _state(engine, job["id"]) is JobState.queued  # nobody runs it in the web app
        worker = create_worker(settings, burst=True, poll_delay=0.05, handle_signals=False)
        try:
            await worker.main()
        finally:
            await worker.close()
        finished = await job_done(client, job, staff)
    finally:
        await pool.flushdb()
        await pool.aclose()
    assert finished["state"] == "succeeded", finished["error"]
    assert finished["result"]["as_of"] == "2026-11-24"
    assert finished["result"]["loans"] > 0


async def test_a_job_of_a_process_that_died_is_marked_failed_on_restart(
    aiohttp_client: Any, engine: AsyncEngine, settings: Settings, database_url: str
) -> None:
    job_id = await create_job(engine, JobKind.close_of_business, {}, "sup", "inprocess")
    host = process_identity().split(":", 1)[0]
    async with engine.begin() as conn:
        # As a process on this machine left it: running, heartbeat fresh, pid long gone.
        await conn.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(
                state=JobState.running,
                owner=f"{host}:{2**22 + 7}:dead",
                heartbeat_at=dt.datetime.now(dt.UTC),
            )
        )
    alive = await create_job(engine, JobKind.close_of_business, {}, "sup", "arq")
    async with engine.begin() as conn:
        # Another machine's worker, beating: left alone.
        await conn.execute(
            update(Job)
            .where(Job.id == alive)
            .values(
                state=JobState.running,
                owner="elsewhere:1:token",
                heartbeat_at=dt.datetime.now(dt.UTC),
            )
        )
    client = await aiohttp_client(create_app(settings))
    staff = await _staff(client, engine)
    dead = await (await client.get(f"/api/jobs/{job_id}", headers=staff)).json()
    assert dead["state"] == "failed"
    assert dead["error"] == "interrupted: the process running it stopped"
    assert await _state(engine, alive) is JobState.running


# A worker process running one close-of-business job that takes its time (a long night).
WORKER = """
import asyncio, sys
from service.db.models import JobKind
from service.settings import Settings
from workers import jobs
from workers.deps import dependencies

async def slow(deps, params, progress):
    progress.step("positions")
    await asyncio.sleep(120)

jobs.WORK[JobKind.close_of_business] = slow

async def main():
    async with dependencies(Settings(database_url=sys.argv[1])) as deps:
        await jobs.run_job(deps, int(sys.argv[2]))

asyncio.run(main())
"""


async def test_a_job_killed_mid_way_is_failed_not_running_when_the_app_comes_back(
    aiohttp_client: Any, engine: AsyncEngine, settings: Settings, database_url: str
) -> None:
    job_id = await create_job(engine, JobKind.close_of_business, {"as_of": "2026-11-24"}, "t", "x")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WORKER, database_url, str(job_id), env={**os.environ}
    )
    try:
        for _ in range(400):
            if await _state(engine, job_id) is JobState.running:
                break
            await asyncio.sleep(0.05)
        assert await _state(engine, job_id) is JobState.running
        process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(process.wait(), 10)
    finally:
        if process.returncode is None:
            process.kill()
    assert await _state(engine, job_id) is JobState.running  # nobody left to say otherwise
    client = await aiohttp_client(create_app(settings))
    staff = await _staff(client, engine)
    job = await (await client.get(f"/api/jobs/{job_id}", headers=staff)).json()
    assert job["state"] == "failed"
    assert job["error"] == "interrupted: the process running it stopped"


async def test_a_large_upload_is_imported_by_a_job(
    aiohttp_client: Any, engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    settings = Settings(
        database_url=settings.database_url, var_dir=tmp_path / "var", import_inline_bytes=1024
    )
    client = await aiohttp_client(create_app(settings))
    staff = await _staff(client, engine)
    counts = write_demo_portfolio(tmp_path / "demo", borrowers=40, as_of=AS_OF)
    form = aiohttp.FormData()
    for name in ("borrowers.csv", "loans.csv", "installments.csv"):
        form.add_field(name, (tmp_path / "demo" / name).read_bytes(), filename=name)
    response = await client.post("/api/imports", data=form, headers=staff)
    assert response.status == 202
    job = await job_done(client, await response.json(), staff)
    assert job["state"] == "succeeded", job["error"]
    report = job["result"]
    assert report["status"] == "completed"
    assert {f["file"]: f["stored"] for f in report["files"]}["loans.csv"] == counts.loans
    assert list((tmp_path / "var" / "uploads").iterdir()) == []  # the job cleaned up
    stored = await (await client.get(f"/api/imports/{report['id']}", headers=staff)).json()
    assert stored["files"] == report["files"]


@pytest.mark.parametrize("body", [{"as_of": "soon"}, {"as_of": "2026-11-24", "when": "now"}])
async def test_a_bad_cob_request_is_refused_before_any_job(
    client: Client, engine: AsyncEngine, body: dict[str, str]
) -> None:
    staff = await _staff(client, engine)
    response = await client.post("/api/cob", json=body, headers=staff)
    assert response.status == 422
    async with engine.connect() as conn:
        assert (await conn.execute(select(Job))).first() is None


async def test_queued_jobs_nobody_will_run_are_failed_by_the_sweep(engine: AsyncEngine) -> None:
    now = dt.datetime.now(dt.UTC)
    lost = await create_job(engine, JobKind.dry_run, {"for": "2026-11-25"}, "sup", "inprocess")
    fresh = await create_job(engine, JobKind.dry_run, {"for": "2026-11-25"}, "sup", "arq")
    async with engine.begin() as conn:
        # Queued by a web process two minutes ago that never got to start it.
        await conn.execute(
            update(Job).where(Job.id == lost).values(created_at=now - dt.timedelta(minutes=2))
        )
    assert await jobs.sweep(engine, now) == 1
    assert await _state(engine, lost) is JobState.failed
    assert await _state(engine, fresh) is JobState.queued  # a worker may still take it
    later = now + jobs.NEVER_STARTED + dt.timedelta(minutes=1)
    assert await jobs.sweep(engine, later) == 1
    assert await _state(engine, fresh) is JobState.failed


async def test_nights_queued_together_all_succeed_while_the_api_writes(
    client: Client, engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    await _portfolio(engine, tmp_path)
    staff = await _staff(client, engine)
    await run_cob(
        engine, AS_OF, settings.cob_config(), planning=Planning(strategies_for(settings), settings)
    )
    async with engine.connect() as conn:
        loans = list((await conn.scalars(select(Loan.loan_ref).order_by(Loan.id).limit(6))).all())
    queued = [
        await (await client.post("/api/cob", json={"as_of": "2026-11-24"}, headers=staff)).json()
        for _ in range(4)
    ]
    # Payments recorded meanwhile: each refreshes its loan's position, a write of its own.
    paid = await asyncio.gather(
        *(
            client.post(
                "/api/payments",
                json={"payment_ref": f"J-{ref}", "loan_ref": ref, "paid_on": "2026-11-24",
                      "amount": "1.00"},
                headers=staff,
            )
            for ref in loans
        )
    )  # fmt: skip
    assert [response.status for response in paid] == [201] * len(loans)
    finished = [await job_done(client, job, staff) for job in queued]
    assert [job["state"] for job in finished] == ["succeeded"] * 4, [j["error"] for j in finished]
