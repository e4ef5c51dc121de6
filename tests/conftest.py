"""Shared fixtures: every database test runs on SQLite and on PostgreSQL, over real connections.

PostgreSQL: one fresh database per test session, migrated once, truncated before each test.
SQLite: one migrated template file per session, copied for each test.
Redis: a real server; each test gets its own key prefix database (flushed).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from service import auth
from service.db.engine import create_engine
from service.db.migrate import upgrade
from service.db.models import Role
from service.settings import Settings
from service.web.app import create_app
from tests.twilio_fake import Fake, Recorder, StartFake, running_fake

PG_ADMIN_DSN = os.environ.get("ARREARS_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
# One Redis database per pytest-xdist worker (gw0 → 15, gw1 → 14, …): tests flush theirs.
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
REDIS_URL = os.environ.get("ARREARS_TEST_REDIS_URL", f"redis://127.0.0.1:6379/{15 - _WORKER % 15}")
BACKENDS = [
    b.strip() for b in os.environ.get("ARREARS_TEST_BACKENDS", "sqlite,postgresql").split(",") if b
]

PASSWORD = "correct horse battery"


def _pg_url(dsn: str, database: str) -> str:
    base = dsn.rsplit("/", 1)[0]
    return base.replace("postgresql://", "postgresql+asyncpg://") + f"/{database}"


def run_blocking(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine to completion from sync code, even when a test's loop is running."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coroutine).result()


async def _migrate(url: str) -> None:
    engine = create_engine(Settings(database_url=url))
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session."""
    name = f"arrears_test_{secrets.token_hex(4)}"

    async def create() -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    async def drop() -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    run_blocking(create())
    url = _pg_url(PG_ADMIN_DSN, name)
    run_blocking(_migrate(url))
    yield url
    run_blocking(drop())


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "arrears.db"
    run_blocking(_migrate(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


TRUNCATE_SKIP = {"alembic_version"}


@pytest.fixture
async def database_url(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[str]:
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "arrears.db"
        shutil.copy(template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    url: str = request.getfixturevalue("pg_database")
    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        tables = [
            row["tablename"]
            for row in await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            )
            if row["tablename"] not in TRUNCATE_SKIP
        ]
        # The append-only tables refuse TRUNCATE too; a test database is reset with the
        # triggers off for this session (a superuser's replication role fires none).
        await conn.execute("SET session_replication_role = replica")
        await conn.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()
    yield url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # Nothing sends on its own in a test: a dispatch test asks for it (tests/test_dispatch.py).
    return Settings(
        database_url=database_url,
        var_dir=tmp_path / "var",
        default_phone_region="CN",
        dispatch="off",
    )


@pytest.fixture
def sqlite_settings(sqlite_template: Path, tmp_path: Path) -> Settings:
    """An embedded database of its own, for tests that serve a browser (one backend is enough
    there: the pages' rules are tested over HTTP on both)."""
    path = tmp_path / "arrears.db"
    shutil.copy(sqlite_template, path)
    return Settings(database_url=f"sqlite+aiosqlite:///{path}", var_dir=tmp_path / "var")


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings)
    yield engine
    await engine.dispose()


@pytest.fixture
async def client(aiohttp_client: Any, settings: Settings) -> TestClient[Any, Any]:
    result: TestClient[Any, Any] = await aiohttp_client(create_app(settings))
    return result


async def make_user(engine: AsyncEngine, username: str, role: Role) -> int:
    async with engine.begin() as conn:
        return await auth.create_user(
            conn, username=username, display_name=username.title(), role=role, password=PASSWORD
        )


async def login(client: TestClient[Any, Any], username: str) -> str:
    response = await client.post("/api/session", json={"username": username, "password": PASSWORD})
    assert response.status == 201, await response.text()
    token: str = (await response.json())["token"]
    return token


async def table_rows(engine: AsyncEngine, table: str, order: str = "id") -> list[tuple[Any, ...]]:
    async with engine.connect() as conn:
        return [
            tuple(row)
            for row in (await conn.execute(text(f"SELECT * FROM {table} ORDER BY {order}"))).all()
        ]


PLUGINS = Path(__file__).parent / "plugins"


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each outside package built and installed into a directory of its own."""
    sites = {}
    for name in ("region_strategy", "duplicate_strategy"):
        source = tmp_path_factory.mktemp("src") / name
        shutil.copytree(PLUGINS / name, source)
        site = tmp_path_factory.mktemp(f"site-{name}")
        subprocess.run(  # noqa: S603  # our own interpreter installing our own test package
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-deps",
                "--no-build-isolation",
                "--target",
                str(site),
                str(source),
            ],
            check=True,
        )
        sites[name] = site
    return sites


@pytest.fixture
def installed(
    plugin_site: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> Callable[[str], None]:
    """Put an installed outside package on the path for one test (removed afterwards)."""

    def install(name: str) -> None:
        monkeypatch.syspath_prepend(str(plugin_site[name]))

    return install


T = TypeVar("T")


class Db:
    """The test's database from synchronous tests (the CLI runs its own event loop)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def run(self, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
        async def go() -> T:
            engine = create_engine(self.settings)
            try:
                return await work(engine)
            finally:
                await engine.dispose()

        return asyncio.run(go())

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        async def query(engine: AsyncEngine) -> list[tuple[Any, ...]]:
            async with engine.connect() as conn:
                return [tuple(r) for r in (await conn.execute(text(sql))).all()]

        return self.run(query)


@pytest.fixture
def db(settings: Settings) -> Db:
    return Db(settings)


async def job_done(
    client: TestClient[Any, Any], job: dict[str, Any], headers: dict[str, str], seconds: float = 60
) -> dict[str, Any]:
    """Poll a job (as the API answered it with 202) until it is finished; the finished job."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        current: dict[str, Any] = await (await client.get(job["url"], headers=headers)).json()
        if current["state"] in ("succeeded", "failed"):
            return current
        assert asyncio.get_running_loop().time() < deadline, f"job still {current['state']}"
        await asyncio.sleep(0.05)


@pytest.fixture
async def start_fake_twilio(aiohttp_server: Any) -> AsyncIterator[StartFake]:
    """Start fake Twilio servers (tests/twilio_fake.py) with config overrides; all stopped after."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(**overrides: Any) -> Fake:
            return await stack.enter_async_context(running_fake(aiohttp_server, **overrides))

        yield start


@pytest.fixture
async def recorder(aiohttp_server: Any) -> Recorder:
    """An application stand-in that records what the fake Twilio posts to it."""
    recording = Recorder()
    recording.server = await aiohttp_server(recording.app)
    return recording
