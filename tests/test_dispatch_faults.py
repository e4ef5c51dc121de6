"""The fault test: 10,000 reminders through two arq worker processes and the real Twilio SDK to
the local Twilio-compatible server, with 10 % transient failures (429, 500, and timeouts after
the message was taken); one worker killed with SIGKILL three times mid-run and restarted;
Redis restarted once; PostgreSQL restarted once — instances this test starts for itself, so
the restarts disturb nothing else. The fake server's own count must show every reminder
delivered exactly once, and the database every row in a final state.

Bounded: every wait has a deadline; the whole run stays under three minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from service.db.engine import create_engine
from service.db.migrate import upgrade
from service.devtools.outbox_load import seed_due_reminders
from service.settings import Settings

REMINDERS = 10_000
SID = "AC" + "5" * 32
TOKEN = "fault-test-token"
SENDER = "+8610690000"
DEADLINE = 170.0  # seconds for the whole run


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        pytest.skip("PostgreSQL server binaries (initdb) are not installed")
    return found[-1].parent


def _as_postgres(command: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; CI runs as root.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class OwnPostgres:
    def __init__(self, root: Path) -> None:
        self.bin = _pg_bin()
        self.data = root / "data"
        self.port = _free_port()
        self.log = root / "pg.log"

    def start(self) -> None:
        if not self.data.exists():
            self.data.mkdir(parents=True)
            if os.geteuid() == 0:
                shutil.chown(self.data, "postgres", "postgres")
            subprocess.run(
                _as_postgres(
                    [
                        str(self.bin / "initdb"),
                        "-D",
                        str(self.data),
                        "-A",
                        "trust",
                        "-U",
                        "postgres",
                    ]
                ),
                check=True,
                capture_output=True,
            )
        self._ctl("start", "-o", f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1")

    def restart(self) -> None:
        self._ctl("restart", "-m", "fast")

    def stop(self) -> None:
        self._ctl("stop", "-m", "immediate")

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            _as_postgres(
                [str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", *args]
            ),
            check=True,
            capture_output=True,
            timeout=60,
        )

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"


class OwnRedis:
    def __init__(self) -> None:
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_port(self.port)

    def restart(self) -> None:
        self.stop()
        self.start()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)


def _wait_port(port: int, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


def _stats(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_fake/stats", timeout=10) as answer:
        found: dict[str, Any] = json.load(answer)
    return found


async def _count(dsn: str) -> dict[str, int]:
    """Outbox rows by status — asked on a connection of its own (PostgreSQL may be restarting)."""
    conn = await asyncpg.connect(dsn, timeout=2)
    try:
        rows = await conn.fetch("SELECT status, count(*) FROM outbox GROUP BY status")
    finally:
        await conn.close()
    return {row[0]: int(row[1]) for row in rows}


def _counts(dsn: str) -> dict[str, int] | None:
    try:
        return asyncio.run(_count(dsn))
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return None


@pytest.fixture
def services(tmp_path: Path) -> Iterator[tuple[OwnPostgres, OwnRedis]]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    # Not under pytest's own temporary directory: that is private to root, and the server runs
    # as postgres.
    root = Path(tempfile.mkdtemp(prefix="arrears-fault-pg-"))
    root.chmod(0o755)
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    postgres, redis = OwnPostgres(root), OwnRedis()
    try:
        postgres.start()
        redis.start()
        yield postgres, redis
    finally:
        redis.stop()
        with contextlib.suppress(subprocess.SubprocessError):
            postgres.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.timeout(240)
def test_ten_thousand_reminders_exactly_once_through_kills_and_restarts(
    services: tuple[OwnPostgres, OwnRedis], tmp_path: Path
) -> None:
    postgres, redis = services
    database_url = postgres.dsn.replace("postgresql://", "postgresql+asyncpg://")
    now = dt.datetime.now(dt.UTC)

    async def prepare() -> str:
        engine = create_engine(Settings(database_url=database_url, dispatch="off"))
        try:
            await upgrade(engine)
            return await seed_due_reminders(engine, REMINDERS, now, prefix="FT")
        finally:
            await engine.dispose()

    zone = asyncio.run(prepare())
    fake_port = _free_port()
    env = {
        **os.environ,
        "TWILIO_ACCOUNT_SID": SID,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_FROM_NUMBER": SENDER,
        "TWILIO_BASE_URL": f"http://127.0.0.1:{fake_port}",
        "DATABASE_URL": database_url,
        "REDIS_URL": f"redis://127.0.0.1:{redis.port}/0",
        "ARREARS_DISPATCH": "arq",
        "ARREARS_CHANNEL": "twilio",
        "ARREARS_LENDER_TIMEZONE": zone,
        "ARREARS_PUBLIC_BASE_URL": "http://127.0.0.1:9",
        "ARREARS_SEND_RATE_PER_SECOND": "100000",
        "ARREARS_SEND_TIMEOUT_SECONDS": "2",
        "ARREARS_DISPATCH_LEASE_SECONDS": "6",
        "ARREARS_DISPATCH_BACKOFF_SECONDS": "0.2",
        "ARREARS_DISPATCH_MAX_TRIES": "30",
        "ARREARS_DISPATCH_MAX_QUEUED": "2000",
        "ARREARS_DB_POOL_SIZE": "4",
        "ARREARS_VAR_DIR": str(tmp_path / "var"),
        "LOG_LEVEL": "WARNING",
    }
    cli = [sys.executable, "-m", "service.cli"]
    logs = tmp_path / "logs"
    logs.mkdir()
    files = contextlib.ExitStack()

    def log_file(name: str) -> Any:
        return files.enter_context((logs / name).open("wb"))

    fake = subprocess.Popen(
        [*cli, "fake-twilio", "--port", str(fake_port), "--seed", "12",
         "--transient-rate", "0.1", "--timeout-seconds", "3", "--no-callbacks"],
        env=env, stdout=log_file("fake.log"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    workers: list[subprocess.Popen[bytes]] = []
    started = 0

    def start_worker() -> subprocess.Popen[bytes]:
        nonlocal started
        started += 1
        return subprocess.Popen(
            [*cli, "worker"],
            env=env,
            stdout=log_file(f"worker{started}.log"),
            stderr=subprocess.STDOUT,
        )

    try:
        _wait_port(fake_port)
        workers = [start_worker(), start_worker()]
        # (sent so far, what happens then): the faults, in the order of the run.
        faults = [
            (1500, "kill"),
            (3000, "redis"),
            (4500, "kill"),
            (6000, "postgres"),
            (7500, "kill"),
        ]
        kills = restarts = 0
        begun = time.monotonic()
        final: dict[str, int] = {}
        while time.monotonic() - begun < DEADLINE:
            counts = _counts(postgres.dsn)
            # A worker that died (its Redis or database went away) is restarted, as the
            # deployment's supervisor (compose, systemd) would.
            for index, worker in enumerate(workers):
                if worker.poll() is not None:
                    workers[index] = start_worker()
                    restarts += 1
            if counts is None:
                time.sleep(0.2)
                continue
            sent = counts.get("sent", 0)
            if faults and sent >= faults[0][0]:
                _, fault = faults.pop(0)
                if fault == "kill":
                    workers[0].send_signal(signal.SIGKILL)
                    workers[0].wait(timeout=10)
                    workers[0] = start_worker()
                    kills += 1
                elif fault == "redis":
                    redis.restart()
                else:
                    postgres.restart()
            if (
                not faults
                and set(counts) <= {"sent", "failed"}
                and sum(counts.values()) == (REMINDERS)
            ):
                final = counts
                break
            time.sleep(0.2)
        elapsed = time.monotonic() - begun
        stats = _stats(fake_port)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=10)
        fake.terminate()
        fake.wait(timeout=10)
        files.close()

    assert final, f"not finished in {DEADLINE:.0f} s: {_counts(postgres.dsn)}"
    assert kills == 3
    assert final == {"sent": REMINDERS}
    # The provider's own count: every reminder once, none twice.
    assert stats["duplicates"] == []
    assert stats["messages"]["created"] == REMINDERS
    deliveries = stats["deliveries"]
    assert len(deliveries) == REMINDERS
    assert all(sum(bodies.values()) == 1 for bodies in deliveries.values())
    faults_injected = stats["faults"]
    assert sum(faults_injected.values()) >= REMINDERS * 0.05  # the transient faults happened

    async def logged() -> tuple[int, int, int]:
        conn = await asyncpg.connect(postgres.dsn)
        try:
            row = await conn.fetchrow(
                "SELECT count(*), count(DISTINCT provider_ref), count(DISTINCT outbox_id) "
                "FROM contact_log WHERE source = 'dispatch'"
            )
        finally:
            await conn.close()
        assert row is not None
        return int(row[0]), int(row[1]), int(row[2])

    assert asyncio.run(logged()) == (REMINDERS, REMINDERS, REMINDERS)
    print(f"\n{REMINDERS} reminders in {elapsed:.1f} s; kills {kills}, restarts {restarts}; "
          f"faults {faults_injected}")  # fmt: skip
