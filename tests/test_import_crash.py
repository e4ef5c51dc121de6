"""A crash mid-import: after kill -9 the run is closed ``interrupted`` when the service next
starts, with the files that were committed (each with its audit event and counts), and the
upload's scratch files — borrowers' names, phones, addresses — are removed on every path."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from service.db.models import AuditEvent, ImportRun, ImportStatus, JobKind, JobState, Role
from service.devtools.demo import write_demo_portfolio
from service.ingest import uploads
from service.processes import process_identity
from service.settings import Settings
from service.web.app import create_app
from tests.conftest import login, make_user
from workers import jobs
from workers.jobs import create_job

AS_OF = dt.date(2026, 11, 24)

# A process importing an upload as the web app does (staged in var/uploads), which stops for
# good as loans.csv begins: borrowers.csv is committed, loans.csv is mid-way when it is killed.
IMPORTER = """
import asyncio, shutil, sys, time
from pathlib import Path
from service.db.engine import create_engine
from service.ingest import uploads
from service.ingest.files import FILES_BY_NAME
from service.ingest.pipeline import ImportOptions, NoProgress, import_files
from service.settings import Settings

class StopsAtLoans(NoProgress):
    def start(self, file, total_bytes):
        if file == "loans.csv":
            Path(sys.argv[3]).write_text("loans.csv")
            time.sleep(300)

async def main():
    settings = Settings(database_url=sys.argv[1])
    directory = uploads.scratch_directory(Path(sys.argv[2]))
    for name in ("borrowers.csv", "loans.csv"):
        shutil.copy(Path(sys.argv[4]) / name, directory / name)
    engine = create_engine(settings)
    files = [(FILES_BY_NAME[name], directory / name) for name in ("borrowers.csv", "loans.csv")]
    await import_files(engine, files, ImportOptions(source="api", actor="sup"), StopsAtLoans())

asyncio.run(main())
"""


async def test_an_import_killed_mid_file_is_interrupted_with_what_it_committed(
    aiohttp_client: Any, engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    var = tmp_path / "var"
    demo = tmp_path / "demo"
    counts = write_demo_portfolio(demo, borrowers=60, as_of=AS_OF)
    marker = tmp_path / "reached"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", IMPORTER, database_url, str(var), str(marker), str(demo),
        env={**os.environ},
    )  # fmt: skip
    try:
        for _ in range(600):
            if marker.exists() or process.returncode is not None:
                break
            await asyncio.sleep(0.05)
        assert marker.exists(), "the importer never reached loans.csv"
        process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(process.wait(), 10)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    scratch = list(uploads.upload_root(var).iterdir())
    assert len(scratch) == 1  # what the dead process left: names, phones, addresses
    async with engine.connect() as conn:
        run = (await conn.execute(select(ImportRun))).one()
    assert run.status is ImportStatus.running  # nobody left to say otherwise

    # The service starts again: its first sweep closes the run and removes the upload.
    settings = Settings(database_url=database_url, var_dir=var)
    client = await aiohttp_client(create_app(settings))
    await make_user(engine, "sup", Role.supervisor)
    staff = {"Authorization": f"Bearer {await login(client, 'sup')}"}
    for _ in range(100):
        report = await (await client.get(f"/api/imports/{run.id}", headers=staff)).json()
        if report["status"] != "running":
            break
        await asyncio.sleep(0.05)
    assert report["status"] == "interrupted"
    assert report["failure"].startswith("interrupted: the process running it")
    assert [(f["file"], f["stored"]) for f in report["files"]] == [
        ("borrowers.csv", counts.borrowers)
    ]
    assert not uploads.upload_root(var).exists() or not any(uploads.upload_root(var).iterdir())
    async with engine.connect() as conn:
        loans = await conn.scalar(text("SELECT count(*) FROM loans"))
        borrowers = await conn.scalar(text("SELECT count(*) FROM borrowers"))
        events = (
            await conn.execute(
                select(AuditEvent.action, AuditEvent.details)
                .where(AuditEvent.entity_type == "import_run")
                .order_by(AuditEvent.id)
            )
        ).all()
    assert (borrowers, loans) == (counts.borrowers, 0)  # loans.csv's transaction died with it
    assert [action for action, _ in events] == ["import.file_committed", "import.interrupted"]
    assert events[0].details["file"] == "borrowers.csv"
    assert events[0].details["stored"] == counts.borrowers
    assert events[1].details["files"]["borrowers.csv"]["stored"] == counts.borrowers


async def test_a_failed_upload_leaves_no_scratch_files(
    aiohttp_client: Any, engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    var = tmp_path / "var"
    client = await aiohttp_client(create_app(Settings(database_url=database_url, var_dir=var)))
    await make_user(engine, "sup", Role.supervisor)
    staff = {"Authorization": f"Bearer {await login(client, 'sup')}"}
    write_demo_portfolio(tmp_path / "demo", borrowers=5, as_of=AS_OF)
    form = aiohttp.FormData()
    form.add_field(
        "borrowers.csv", (tmp_path / "demo" / "borrowers.csv").read_bytes(), filename="b.csv"
    )
    form.add_field("secrets.csv", b"name\n", filename="secrets.csv")  # not a contract file
    response = await client.post("/api/imports", data=form, headers=staff)
    assert response.status == 422
    assert list(uploads.upload_root(var).iterdir()) == []


async def test_the_sweep_removes_only_uploads_nobody_will_read(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    var = tmp_path / "var"
    now = dt.datetime.now(dt.UTC)
    mine = uploads.scratch_directory(var)  # this process, receiving it now
    dead = uploads.scratch_directory(var)
    (dead / uploads.OWNER_FILE).write_text(f"{process_identity().split(':')[0]}:{2**22 + 7}:x")
    elsewhere = uploads.scratch_directory(var)
    (elsewhere / uploads.OWNER_FILE).write_text("another-host:12:token")
    abandoned = uploads.scratch_directory(var)
    (abandoned / uploads.OWNER_FILE).write_text("another-host:13:token")
    old = (now - uploads.ORPHANED_AFTER - dt.timedelta(minutes=1)).timestamp()
    os.utime(abandoned, (old, old))
    waiting = uploads.scratch_directory(var)
    uploads.hand_over(waiting)
    finished = uploads.scratch_directory(var)
    uploads.hand_over(finished)
    os.utime(finished, (old, old))
    await create_job(engine, JobKind.import_files, {"directory": str(waiting)}, "sup", "arq")
    done = await create_job(engine, JobKind.import_files, {"directory": str(finished)}, "s", "x")
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE jobs SET state = :state WHERE id = :id"),
            {"state": JobState.failed.value, "id": done},
        )
    await jobs.sweep(engine, now, var)
    left = {path.name for path in uploads.upload_root(var).iterdir()}
    assert left == {mine.name, elsewhere.name, waiting.name}
    for path in (mine, elsewhere, waiting):
        shutil.rmtree(path)


@pytest.mark.parametrize("kind", ["a dead pid", "a live one"])
async def test_an_import_run_is_interrupted_only_when_its_process_is_gone(
    engine: AsyncEngine, tmp_path: Path, kind: str
) -> None:
    host = process_identity().split(":", 1)[0]
    owner = f"{host}:{2**22 + 7}:gone" if kind == "a dead pid" else process_identity()
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO import_runs (status, source, actor, label, files, error_count, "
                "started_at, owner, heartbeat_at) VALUES ('running', 'cli', 'ops', '', '{}', 0, "
                ":now, :owner, :now)"
            ),
            {"now": dt.datetime.now(dt.UTC).replace(tzinfo=None), "owner": owner},
        )
    await jobs.sweep(engine, dt.datetime.now(dt.UTC))
    async with engine.connect() as conn:
        status = await conn.scalar(select(ImportRun.status))
    assert status is (ImportStatus.interrupted if kind == "a dead pid" else ImportStatus.running)
