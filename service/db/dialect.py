"""Every difference between PostgreSQL and SQLite that our SQL meets, in one place.

SQLite is the embedded default, PostgreSQL production; the set-based SQL of the import, the
close of business, assignment and planning is written once and asks this module for the few
spellings and mechanisms that differ: temporary tables, bulk staging (binary ``COPY`` or
``executemany``), timestamps and dates in raw SQL, upserts, serialising locks, planner hints.
A module branches on the dialect itself only where its whole algorithm differs (and says why).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import ARRAY, Dialect, bindparam, event, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.domain.delinquency import capped_rate, daily_penalty

# Logical column types of temporary tables and their spelling per database.
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

# (name, logical type) of each column of a temporary table.
Columns = Sequence[tuple[str, str]]
_Where = AsyncConnection | AsyncEngine | Dialect


def is_postgresql(where: _Where) -> bool:
    dialect = where if isinstance(where, Dialect) else where.dialect
    return dialect.name == "postgresql"


# PostgreSQL: tables partitioned by month on this column (migration 0016, service.db.partitions).
# Their unique keys hold it too, so an ON CONFLICT target names it after the key's own columns.
PARTITIONED_ON = {
    "attempts": "occurred_at",
    "guard_decisions": "decided_at",
    "audit_log": "occurred_at",
}


def conflict_target(where: _Where, table: Any, columns: Sequence[str]) -> list[str]:
    """The columns of ``table``'s unique key on ``columns`` as the database has it."""
    key = PARTITIONED_ON.get(table.name) if is_postgresql(where) else None
    return [*columns, key] if key and key not in columns else list(columns)


# --- values and expressions in raw SQL -----------------------------------------------------------


def sqlite_timestamp(value: dt.datetime) -> str:
    """The text SQLAlchemy's SQLite dialect stores for a UTC datetime."""
    return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def timestamp(where: _Where, value: dt.datetime) -> Any:
    """An aware datetime as a parameter of raw SQL (SQLite stores UTC text, see UTCDateTime)."""
    return value if is_postgresql(where) else sqlite_timestamp(value)


def timestamp_sql(where: _Where, parameter: str) -> str:
    """A bound timestamp parameter (``:now``) typed for comparison and arithmetic."""
    return f"CAST({parameter} AS timestamptz)" if is_postgresql(where) else parameter


def date_sql(where: _Where, value: dt.date) -> str:
    """A date literal. Dates we inline are ours (never input), and inlining spares the drivers'
    type guessing in statements that compare dates many times."""
    literal = f"'{value.isoformat()}'"
    return f"DATE {literal}" if is_postgresql(where) else literal


def days_sql(where: _Where, later: str, earlier: str) -> str:
    """Whole days from ``earlier`` to ``later`` (two date expressions)."""
    if is_postgresql(where):
        return f"({later} - {earlier})"
    return f"CAST(julianday({later}) - julianday({earlier}) AS INTEGER)"


def json_object_sql(where: _Where, fields: Mapping[str, str]) -> str:
    """A JSON object built in SQL from ``fields`` (key → SQL expression), for a JSON column
    filled by ``INSERT … SELECT`` (an audit event's details, a task's). A nested object is
    another call's result; dates come out as their ISO text on both databases."""
    pairs = ", ".join(f"'{key}', {expression}" for key, expression in fields.items())
    return f"json_build_object({pairs})" if is_postgresql(where) else f"json_object({pairs})"


def money_zero_sql(where: _Where) -> str:
    """A zero amount that gives a ``CREATE TABLE … AS`` column the money type on PostgreSQL."""
    return "CAST(0 AS NUMERIC(18, 2))" if is_postgresql(where) else "0"


# --- temporary tables and bulk staging -----------------------------------------------------------


def _temp_name(where: _Where, name: str) -> str:
    # Schema-qualified, so that a permanent table of the same name is never the one dropped.
    return f"{'pg_temp' if is_postgresql(where) else 'temp'}.{name}"


async def drop_temp_table(conn: AsyncConnection, name: str) -> None:
    await conn.execute(text(f"DROP TABLE IF EXISTS {_temp_name(conn, name)}"))


async def create_temp_table(
    conn: AsyncConnection, name: str, columns: Columns, primary_key: Sequence[str] = ()
) -> None:
    """A new, empty temporary table of the transaction (an earlier one of that name is dropped).

    On PostgreSQL it goes at commit; SQLite keeps it for the connection, so callers drop it.
    """
    types = PG_TYPES if is_postgresql(conn) else SQLITE_TYPES
    spec = ", ".join(f"{column} {types[kind]}" for column, kind in columns)
    if primary_key:
        spec += f", PRIMARY KEY ({', '.join(primary_key)})"
    await drop_temp_table(conn, name)
    await conn.execute(text(f"CREATE TEMP TABLE {name} ({spec}){_on_commit(conn)}"))


async def create_temp_table_as(
    conn: AsyncConnection, name: str, select: str, params: Mapping[str, Any] | None = None
) -> None:
    """A temporary table filled by ``select`` (an earlier one of that name is dropped)."""
    await drop_temp_table(conn, name)
    await conn.execute(
        text(f"CREATE TEMP TABLE {name}{_on_commit(conn)} AS {select}"), dict(params or {})
    )


def _on_commit(where: _Where) -> str:
    return " ON COMMIT DROP" if is_postgresql(where) else ""


async def index_for_nested_loops(
    conn: AsyncConnection, table: str, columns: Sequence[str], *, unique: bool = False
) -> None:
    """An index on a temporary table that later statements join on — on SQLite only.

    SQLite joins by nested loops, so without it those joins go quadratic; PostgreSQL hash-joins
    a freshly filled temporary table, and an index would only cost the time to build it.
    """
    if is_postgresql(conn):
        return
    kind = "UNIQUE INDEX" if unique else "INDEX"
    index = f"ix_{table}_{'_'.join(columns)}"
    await conn.execute(text(f"CREATE {kind} temp.{index} ON {table} ({', '.join(columns)})"))


async def analyze(conn: AsyncConnection, table: str) -> None:
    """Statistics for a freshly filled temporary table — on PostgreSQL only.

    PostgreSQL plans a temporary table without statistics as if tiny (nested loops over
    millions of rows); after ANALYZE it hash-joins. SQLite's planner uses the indexes above.
    """
    if is_postgresql(conn):
        await conn.execute(text(f"ANALYZE {table}"))


async def bulk_insert(
    conn: AsyncConnection, table: str, columns: Columns, rows: Sequence[tuple[Any, ...]]
) -> None:
    """Write typed rows into a (temporary) table: binary ``COPY`` on PostgreSQL, one
    ``executemany`` on SQLite with the values in the forms SQLite stores."""
    if not rows:
        return
    names = [column for column, _ in columns]
    if is_postgresql(conn):
        raw = await raw_connection(conn)
        await raw.copy_records_to_table(table, records=rows, columns=names)
        return
    kinds = [kind for _, kind in columns]
    converted = [
        tuple(_sqlite_value(value, kind) for value, kind in zip(row, kinds, strict=True))
        for row in rows
    ]
    placeholders = ", ".join("?" for _ in names)
    await conn.exec_driver_sql(
        f"INSERT INTO {table} ({', '.join(names)}) VALUES ({placeholders})", converted
    )


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


# --- upserts, locks and tuning -------------------------------------------------------------------


def insert(where: _Where, table: Any) -> Any:
    """``INSERT`` for ``table`` with the dialect's ``on_conflict_do_update/nothing``."""
    construct = postgresql.insert if is_postgresql(where) else sqlite.insert
    return construct(table)


async def serialise(conn: AsyncConnection, key: str) -> None:
    """Hold a lock named ``key`` until the transaction ends: one such transaction at a time,
    whichever process runs it. On SQLite, which runs one writing transaction at a time, this is
    the write lock itself (:func:`write_now`)."""
    if is_postgresql(conn):
        await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})
    else:
        await write_now(conn)


async def write_now(conn: AsyncConnection) -> None:
    """Make this transaction SQLite's writer now, waiting its turn (the busy timeout).

    A transaction that reads (or fills a temporary table) first and writes later cannot wait:
    if another writer committed meanwhile, its first write fails at once, "database is
    locked". A night, an import file and a refresh of positions take the lock first. A no-op
    on PostgreSQL, whose writers wait on the rows they touch."""
    if not is_postgresql(conn):
        # Any write takes the lock, one that changes no row included.
        await conn.execute(text("UPDATE alembic_version SET version_num = version_num WHERE 0 = 1"))


async def tune_for_batch(
    conn: AsyncConnection, *, work_mem: str = "256MB", jit: bool = True
) -> None:
    """Planner settings for one large set-based transaction (PostgreSQL; SQLite has none).

    Sorting and hashing millions of rows wants more than the 4 MB default; ``jit=False`` for
    many statements over temporary tables, where compiling each costs more than it saves.
    """
    if not is_postgresql(conn):
        return
    if not re.fullmatch(r"\d+[kMG]B", work_mem):
        raise ValueError(f"work_mem {work_mem!r} is not a size such as 256MB")
    await conn.execute(text(f"SET LOCAL work_mem = '{work_mem}'"))
    if not jit:
        await conn.execute(text("SET LOCAL jit = off"))


# --- the raw driver (PostgreSQL hot paths) and SQLite's connection set-up -------------------------


async def raw_connection(conn: AsyncConnection) -> Any:
    """The asyncpg connection under an SQLAlchemy connection (for ``COPY``)."""
    raw = await conn.get_raw_connection()
    return raw.driver_connection


def asyncpg_sql(sql: str, names: tuple[str, ...]) -> str:
    """The same SQL with ``:name`` parameters as asyncpg's ``$1, $2, ...`` (in ``names`` order).

    Hot paths run one statement on a raw asyncpg pool; writing it once with named parameters
    keeps the SQLAlchemy form (SQLite, tests) and the raw form the same text.
    """
    for index, name in enumerate(names, start=1):
        sql, count = re.subn(rf":{name}\b", f"${index}", sql)
        if not count:
            raise ValueError(f"parameter :{name} is not in the statement")
    return sql


def configure_sqlite(engine: AsyncEngine) -> None:
    """Pragmas and the SQL functions close of business uses, on every new SQLite connection."""

    @event.listens_for(engine.sync_engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        # WAL lets the web app read while an import writes; foreign keys are off by default.
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        _register_sqlite_functions(dbapi_connection)


def _sqlite_decimal(value: Any) -> Decimal:
    return (
        value
        if isinstance(value, Decimal)
        else Decimal(repr(value) if isinstance(value, float) else str(value))
    )


def _register_sqlite_functions(dbapi_connection: Any) -> None:
    """``daily_penalty`` and ``penalty_rate``, computed by the domain rules themselves (exact
    decimals). PostgreSQL has the same functions in SQL, from migration 0002."""

    def sql_daily_penalty(unpaid: Any, rate: Any) -> float | None:
        if unpaid is None or rate is None:
            return None
        amount = _sqlite_decimal(unpaid).quantize(Decimal("0.01"))
        return float(daily_penalty(amount, _sqlite_decimal(rate)))

    def sql_penalty_rate(annual: Any, wanted: Any, cap: Any) -> float | None:
        if annual is None or wanted is None or cap is None:
            return None
        rate = capped_rate(_sqlite_decimal(annual), _sqlite_decimal(wanted), _sqlite_decimal(cap))
        return float(rate)

    dbapi_connection.create_function("daily_penalty", 2, sql_daily_penalty, deterministic=True)
    dbapi_connection.create_function("penalty_rate", 3, sql_penalty_rate, deterministic=True)


async def update_rows(
    conn: AsyncConnection,
    table: Any,
    key: str,
    varying: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
    where: Sequence[Any] = (),
    same: Mapping[str, Any] | None = None,
) -> None:
    """``UPDATE table SET <varying from each row>, <same for all> WHERE key = row[key] AND
    <where>`` for many rows at once. PostgreSQL: one statement joined to a ``VALUES`` list
    (one round trip, one parameter set); SQLite: the same UPDATE executed for each row."""
    if not rows:
        return
    constant = dict(same or {})
    if is_postgresql(conn):
        # One array parameter per column, unnested into rows: the statement's shape never
        # changes, so it is compiled once (a VALUES list of N rows is N × columns parameters).
        names = [key, *varying]
        arrays = [
            bindparam(f"rows_{name}", [row[name] for row in rows], type_=ARRAY(table.c[name].type))
            for name in names
        ]
        listed = func.unnest(*arrays).table_valued(*names).render_derived(name="changed")
        await conn.execute(
            update(table)
            .where(table.c[key] == listed.c[key], *where)
            .values({**{name: listed.c[name] for name in varying}, **constant})
        )
        return
    statement = (
        update(table)
        .where(table.c[key] == bindparam(f"row_{key}"), *where)
        .values({**{name: bindparam(f"row_{name}") for name in varying}, **constant})
    )
    await conn.execute(
        statement, [{f"row_{name}": row[name] for name in (key, *varying)} for row in rows]
    )


async def insert_rows(
    conn: AsyncConnection,
    table: Any,
    rows: Sequence[Mapping[str, Any]],
    *,
    skip_conflicts_on: Sequence[str] | None = None,
) -> int:
    """Insert many rows (every row naming the same columns). PostgreSQL: one statement over
    one array parameter per column (``INSERT … SELECT * FROM unnest(…)``) — one execution on
    the server instead of one per row; SQLite: an executemany. ``skip_conflicts_on``: rows that
    collide on these columns' unique key are left out. Returns how many were inserted."""
    if not rows:
        return 0
    names = list(rows[0])
    if is_postgresql(conn):
        arrays = [
            bindparam(f"rows_{name}", [row[name] for row in rows], type_=ARRAY(table.c[name].type))
            for name in names
        ]
        source = select(func.unnest(*arrays).table_valued(*names).render_derived(name="new"))
        statement = postgresql.insert(table).from_select(names, source)
        if skip_conflicts_on:
            statement = statement.on_conflict_do_nothing(
                index_elements=conflict_target(conn, table, skip_conflicts_on)
            )
        return int((await conn.execute(statement)).rowcount)
    plain = sqlite.insert(table)
    if skip_conflicts_on:
        plain = plain.on_conflict_do_nothing(index_elements=list(skip_conflicts_on))
    return max(int((await conn.execute(plain, list(rows))).rowcount), 0)


async def custom_plans(conn: AsyncConnection) -> None:
    """Plan each statement for its own values until the transaction ends (PostgreSQL).

    asyncpg prepares statements, and after five runs PostgreSQL may switch to one generic plan;
    for a lookup by a list of a few hundred values that plan can scan a whole table (seen: the
    contact log by phone numbers, 10 ms planned for its values, over a second generic)."""
    if is_postgresql(conn):
        await conn.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


# PostgreSQL rolls back a transaction it chose as a deadlock's or a serialization conflict's
# victim and asks for it to be tried again (its documentation's advice); SQLite's "database is
# locked" rolled back a transaction that could not have its turn at the one writer.
_TRY_AGAIN_STATES = frozenset({"40P01", "40001"})


def try_again(exc: DBAPIError) -> bool:
    """Whether ``exc`` rolled back a transaction that may simply be run again."""
    if isinstance(exc, OperationalError) and "database is locked" in str(exc.orig):
        return True
    orig = exc.orig
    state = getattr(orig, "sqlstate", None) or getattr(
        getattr(orig, "__cause__", None), "sqlstate", None
    )
    return state in _TRY_AGAIN_STATES
