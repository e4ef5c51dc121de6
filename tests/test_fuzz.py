"""The schema fuzz run: schemathesis generates requests from /api/openapi.json of a running app
(``arrears serve`` on the embedded SQLite database with a demo portfolio) for every operation,
once with a supervisor's and once with a collector's bearer token. No answer may be a server
error or stray from the document (status, content type, headers, body schema); nothing may be
logged as an error. Seeded and derandomized, bounded in examples, so it runs the same each time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import strategies as st
from schemathesis import GenerationMode, checks
from schemathesis.core.failures import FailureGroup

from service.assignment.queues import add_member, install_default_queues
from service.cob.nightly import run_cob
from service.db.engine import create_engine
from service.db.models import Role
from service.devtools.demo import write_demo_portfolio
from service.ingest.pipeline import ImportOptions, import_directory
from service.settings import Settings
from tests.conftest import PASSWORD, make_user

AS_OF = dt.date(2026, 11, 24)
# Examples per operation and token: schema-valid ones, then schema-invalid ones (which must be
# refused with a 4xx: the server is no laxer than its document). ~2 x 90 x 21 requests, about a
# minute on two cores.
EXAMPLES = {GenerationMode.POSITIVE: 15, GenerationMode.NEGATIVE: 6}
SEED = 20261124
# Logging out would end the token the rest of the run uses: every other operation is fuzzed.
SKIPPED = {("DELETE", "/api/session")}
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]
NEGATIVE_CHECKS = [*CHECKS, checks.negative_data_rejection]


@dataclasses.dataclass
class Tally:
    operations: set[str] = dataclasses.field(default_factory=set)
    examples: int = 0
    statuses: dict[int, int] = dataclasses.field(default_factory=dict)
    failures: list[str] = dataclasses.field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def _serving(database: Path, var_dir: Path, log: Path) -> Iterator[str]:
    """``arrears serve`` in a process of its own; its base URL while it runs."""
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "ARREARS_VAR_DIR": str(var_dir),
        "LOG_FORMAT": "json",
        # Random logins from one address: locked out after five (429, as documented), never
        # slowed down (a fuzz run that waits seconds per login would not finish in time).
        "ARREARS_LOGIN_CLIENT_LOCK_AFTER": "5",
        "ARREARS_LOGIN_SLOW_AFTER": "1000",
    }
    env.pop("REDIS_URL", None)
    with log.open("wb") as output:
        server = subprocess.Popen(  # noqa: S603  # our own interpreter running our own app
            [sys.executable, "-m", "service.cli", "serve", "--port", str(port)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                assert server.poll() is None, log.read_text()
                with contextlib.suppress(requests.ConnectionError):
                    if requests.get(base + "/healthz", timeout=5).status_code == 200:
                        break
                assert time.monotonic() < deadline, "the app did not come up"
                time.sleep(0.2)
            yield base
        finally:
            server.terminate()
            server.wait(timeout=30)


def _token(base: str, username: str) -> str:
    response = requests.post(
        base + "/api/session", json={"username": username, "password": PASSWORD}, timeout=30
    )
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


def _fuzz(schema: Any, base: str, token: str, tally: Tally) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    session = requests.Session()
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        for operation in schema.get_all_operations():
            operation = operation.ok()
            if (operation.method.upper(), operation.path) in SKIPPED:
                continue
            label = f"{operation.method.upper()} {operation.path}"
            tally.operations.add(label)
            run = _one_operation(operation, mode, base, headers, session, tally, label)
            try:
                run()
            except hypothesis.errors.Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # nothing to get wrong (GET /healthz)


def _one_operation(
    operation: Any,
    mode: GenerationMode,
    base: str,
    headers: dict[str, str],
    session: requests.Session,
    tally: Tally,
    label: str,
) -> Callable[[], None]:
    checks_for = NEGATIVE_CHECKS if mode is GenerationMode.NEGATIVE else CHECKS

    @hypothesis.settings(
        max_examples=EXAMPLES[mode],
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        phases=[hypothesis.Phase.generate],  # a failure is reported, not shrunk for minutes
    )
    @hypothesis.seed(SEED)
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode), _=st.just(None))
    def run(case: Any, _: None) -> None:
        response = case.call(base_url=base, session=session, headers=headers, timeout=60)
        tally.examples += 1
        tally.statuses[response.status_code] = tally.statuses.get(response.status_code, 0) + 1
        try:
            case.validate_response(response, checks=checks_for, headers=headers)
        except (AssertionError, FailureGroup) as failure:  # each failed check is a finding
            found = str(failure).split("\n- ", 1)[-1].split("\n", 1)[0]
            tally.failures.append(f"{mode.value} {label} -> {response.status_code}: {found}")

    return run


@pytest.fixture
def demo_database(sqlite_template: Path, tmp_path: Path) -> Path:
    path = tmp_path / "arrears.db"
    shutil.copy(sqlite_template, path)
    return path


async def _prepare(database: Path, var_dir: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{database}", var_dir=var_dir)
    engine = create_engine(settings)
    try:
        write_demo_portfolio(var_dir / "demo", borrowers=40, as_of=AS_OF)
        await import_directory(engine, var_dir / "demo", ImportOptions())
        async with engine.begin() as conn:
            await install_default_queues(conn)
        await make_user(engine, "fuzz-sup", Role.supervisor)
        await make_user(engine, "fuzz-col", Role.collector)
        async with engine.begin() as conn:
            await add_member(conn, "M1 early", "fuzz-col")
        await run_cob(engine, AS_OF)
    finally:
        await engine.dispose()


@pytest.mark.timeout(480)
async def test_the_schema_fuzz_run_finds_no_server_error_and_no_stray_answer(
    demo_database: Path, tmp_path: Path
) -> None:
    import asyncio

    var_dir = tmp_path / "var"
    await _prepare(demo_database, var_dir)
    log = tmp_path / "server.log"
    tallies: dict[str, Tally] = {}

    def fuzz_both() -> None:
        with _serving(demo_database, var_dir, log) as base:
            document = requests.get(base + "/api/openapi.json", timeout=30).json()
            schema = schemathesis.openapi.from_dict(document)
            tokens = {"supervisor": _token(base, "fuzz-sup"), "collector": _token(base, "fuzz-col")}
            for role, token in tokens.items():
                tallies[role] = Tally()
                _fuzz(schema, base, token, tallies[role])

    started = time.monotonic()
    await asyncio.to_thread(fuzz_both)
    seconds = time.monotonic() - started

    summary = {
        role: {
            "operations": len(t.operations),
            "examples": t.examples,
            "statuses": dict(sorted(t.statuses.items())),
            "failures": len(t.failures),
        }
        for role, t in tallies.items()
    }
    print(f"fuzz run ({seconds:.0f} s): {json.dumps(summary)}")
    failures = sorted({f for t in tallies.values() for f in t.failures})
    assert failures == [], "\n".join(failures)
    for tally in tallies.values():
        assert len(tally.operations) >= 35
        assert 500 not in tally.statuses
    # Nothing a request did, nor a job it queued, was logged as an error (on SQLite the jobs
    # take turns rather than fail "database is locked").
    logged = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    errors = [e for e in logged if e.get("level") in ("error", "critical")]
    assert errors == [], json.dumps(errors[:3], default=str)[:4000]
