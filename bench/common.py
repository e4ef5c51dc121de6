"""What the benchmarks share: scratch PostgreSQL databases and rewriting docs/benchmarks.md."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
PG_DSN = os.environ.get("ARREARS_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")


async def fresh_pg_database() -> str:
    name = f"arrears_bench_{secrets.token_hex(3)}"
    conn = await asyncpg.connect(PG_DSN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def drop_pg_database(name: str) -> None:
    conn = await asyncpg.connect(PG_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def pg_url(name: str) -> str:
    return PG_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"


@contextlib.contextmanager
def scratch_database(backend: str, workdir: Path, stem: str) -> Iterator[str]:
    """A fresh database for one benchmark run: a PostgreSQL database dropped afterwards, or a
    SQLite file under ``workdir`` (kept for inspection, replaced on the next run)."""
    if backend != "postgresql":
        path = workdir / f"{stem}.sqlite"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        yield f"sqlite+aiosqlite:///{path}"
        return
    name = asyncio.run(fresh_pg_database())
    try:
        yield pg_url(name)
    finally:
        asyncio.run(drop_pg_database(name))


def measured_on(command: str, rows: dict[str, int]) -> list[str]:
    """The lines every recorded figure starts with: the command, the day, the machine, the data."""
    return [
        f"Command: `{command}`.",
        f"Measured {dt.datetime.now(dt.UTC).date()} on this project's machine "
        f"({os.cpu_count()} cores, Python {platform.python_version()}): "
        + ", ".join(f"{count:,} {file.removesuffix('.csv')}" for file, count in rows.items()),
    ]


def write_section(marker: str, lines: list[str]) -> None:
    """Replace (or append) the ``<!-- bench:marker -->`` section of docs/benchmarks.md."""
    docs = ROOT / "docs" / "benchmarks.md"
    text = docs.read_text(encoding="utf-8") if docs.exists() else "# Benchmarks\n"
    begin, end = f"<!-- bench:{marker} -->", f"<!-- /bench:{marker} -->"
    block = "\n".join([begin, *lines, "", end])
    if begin in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    docs.write_text(text, encoding="utf-8")


def run_child(script_dir: Path, args: list[str]) -> tuple[dict[str, Any], str]:
    """Run one measurement in a fresh process (its peak memory is its own).

    Returns the JSON result the child prints last, and the child's stderr (its logs).
    """
    out = subprocess.run(
        [sys.executable, str(script_dir), "--child", *args],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result, out.stderr


def portfolio(workdir: Path, loans: int, as_of: dt.date) -> Path:
    """The demo generator's CSV files for about ``loans`` loans, written once and reused."""
    from service.devtools.demo import write_demo_portfolio

    data = workdir / f"portfolio-{loans}"
    if not (data / "payments.csv").exists():
        print(f"writing a portfolio of about {loans:,} loans to {data} ...", flush=True)
        write_demo_portfolio(data, borrowers=round(loans / 1.2), as_of=as_of, attempts=False)
    return data


class BulkLoad:
    """A set-based load into a scratch database, the way one is made fast: no triggers, the
    logged tables' month partitions (and the others named) UNLOGGED, their keys and indexes
    dropped before the load and built after it (:meth:`finish`)."""

    def __init__(
        self, conn: asyncpg.Connection, partitions: list[str], keys: list[Any], indexes: list[Any]
    ) -> None:
        self.conn, self.partitions, self.keys, self.indexes = conn, partitions, keys, indexes

    @classmethod
    async def start(
        cls,
        conn: asyncpg.Connection,
        partitioned: tuple[str, ...],
        tables: tuple[str, ...] = (),
    ) -> BulkLoad:
        """``partitioned``: parents whose partitions go UNLOGGED and whose keys and indexes go;
        ``tables``: other tables UNLOGGED, their keys dropped too."""
        await conn.execute("SET session_replication_role = replica")  # no triggers
        await conn.execute("SET maintenance_work_mem = '512MB'")
        await conn.execute("SET synchronous_commit = off")
        parents = ", ".join(f"'{name}'::regclass" for name in partitioned)
        parts = [
            r[0]
            for r in await conn.fetch(
                f"SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent IN ({parents})"
            )
        ]
        for name in [*parts, *tables]:
            await conn.execute(f"ALTER TABLE {name} SET UNLOGGED")
        keyed = ", ".join(f"'{name}'::regclass" for name in (*partitioned, *tables))
        keys = await conn.fetch(
            "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid) "
            f"FROM pg_constraint c WHERE c.conrelid IN ({keyed}) AND c.contype IN ('p', 'u')"
        )
        indexes = await conn.fetch(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            f"WHERE i.indrelid IN ({parents}) "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)"
        )
        for table, name, _ in keys:
            await conn.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        for name, _ in indexes:
            await conn.execute(f"DROP INDEX {name}")
        return cls(conn, parts, list(keys), list(indexes))

    async def finish(self) -> None:
        """The keys and indexes built again, after the load."""
        for table, name, definition in self.keys:
            await self.conn.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
        for _, definition in self.indexes:
            # A partitioned index's definition reads "ON ONLY": built here on every partition.
            await self.conn.execute(definition.replace(" ON ONLY ", " ON "))
