"""Staging tables for bulk import: typed rows in, set-based SQL out.

Rows parsed in Python are written to a temporary table in bulk (binary ``COPY`` on PostgreSQL,
``executemany`` on SQLite); everything after that (resolving references, finding duplicates,
upserting) is one SQL statement per step, never a row at a time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from service.db import raw_asyncpg, sqlite_timestamp

# Logical column types of staging tables and their SQL spelling per dialect.
PG_TYPES = {
    "text": "text",
    "int": "integer",
    "date": "date",
    "money": "numeric(18,2)",
    "rate": "numeric(12,8)",
    "bool": "boolean",
    "timestamp": "timestamptz",
}
SQLITE_TYPES = {
    "text": "TEXT",
    "int": "INTEGER",
    "date": "TEXT",
    "money": "NUMERIC",
    "rate": "NUMERIC",
    "bool": "INTEGER",
    "timestamp": "TEXT",
}

Columns = Sequence[tuple[str, str]]


class Stage:
    """Temporary tables on one connection inside the import's transaction."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name
        self._raw: Any = None

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    async def create(self, table: str, columns: Columns) -> None:
        types = PG_TYPES if self.is_postgres else SQLITE_TYPES
        spec = ", ".join(f"{name} {types[kind]}" for name, kind in columns)
        if self.is_postgres:
            await self.conn.execute(text(f"CREATE TEMP TABLE {table} ({spec}) ON COMMIT DROP"))
        else:
            await self.conn.execute(text(f"DROP TABLE IF EXISTS temp.{table}"))
            await self.conn.execute(text(f"CREATE TEMP TABLE {table} ({spec})"))

    async def write(self, table: str, columns: Columns, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        names = [name for name, _ in columns]
        if self.is_postgres:
            if self._raw is None:
                self._raw = await raw_asyncpg(self.conn)
            await self._raw.copy_records_to_table(table, records=rows, columns=names)
            return
        kinds = [kind for _, kind in columns]
        converted = [
            tuple(_sqlite_value(v, k) for v, k in zip(row, kinds, strict=True)) for row in rows
        ]
        placeholders = ", ".join("?" for _ in names)
        await self.conn.exec_driver_sql(
            f"INSERT INTO {table} ({', '.join(names)}) VALUES ({placeholders})", converted
        )

    async def drop(self, table: str) -> None:
        if not self.is_postgres:
            await self.conn.execute(text(f"DROP TABLE IF EXISTS temp.{table}"))

    async def index(self, table: str, columns: tuple[str, ...]) -> None:
        name = f"ix_{table}_{'_'.join(columns)}"
        await self.conn.execute(text(f"CREATE INDEX {name} ON {table} ({', '.join(columns)})"))

    async def analyze(self, table: str) -> None:
        # Temp tables have no statistics until analysed; the planner then picks hash joins.
        await self.conn.execute(text(f"ANALYZE {table}"))


def _sqlite_value(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "date":
        return value.isoformat()
    if kind in ("money", "rate"):
        return str(value) if isinstance(value, Decimal) else value
    if kind == "bool":
        return 1 if value else 0
    if kind == "timestamp":
        assert isinstance(value, dt.datetime)
        return sqlite_timestamp(value)
    return value
