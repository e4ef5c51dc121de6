"""PostgreSQL's month partitions of the contact log, the guard's decisions and the audit log
(migration 0016): created ahead by close of business, rows that landed in the default
partition moved to their month's, and months past the retention period detached and dropped
(service.portfolio.retention decides which). On SQLite there is nothing to do.

A partition is named ``<table>_pYYYYMM`` and holds [first of the month, first of the next)
in UTC; ``<table>_default`` holds a row in a month with no partition of its own.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.db import dialect

MONTHS_AHEAD = 3
# table → (partition key, the append-only trigger function each partition's TRUNCATE fires)
_GUARDS = {"attempts": "attempts_append_only", "audit_log": "audit_log_append_only"}
PARTITIONED: dict[str, tuple[str, str | None]] = {
    table: (key, _GUARDS.get(table)) for table, key in dialect.PARTITIONED_ON.items()
}
# Set while the upkeep moves rows out of the default partition: attempts_key() lets them in
# (their keys are taken already, by themselves).
MOVING = "arrears.moving_rows"
# The upkeep runs beside the day's work: creating or moving a partition needs the table to
# itself, and while that lock waits, every later statement on the table queues behind it. Worse,
# a new partition also clones the table's foreign keys, which locks the tables they point at
# (loans…): an upkeep holding the table and then waiting for loans, beside a request holding
# loans (an UPDATE) and waiting for the table, is a deadlock whose victim may be the request —
# even when the upkeep's own wait is short, the request's deadlock check may fall inside it.
# So the upkeep takes every lock it will need first, the table's with a short wait (holding
# nothing a request could wait for) and the rest without waiting: once it holds them it never
# waits again, and a process that does not wait is in no deadlock. A lock not had is given
# way: a few tries, then the next night (the months are made ahead).
LOCK_TIMEOUT = "50ms"
TRIES = 5
DEADLOCK_DETECTED = "40P01"
LOCK_NOT_AVAILABLE = "55P03"


@dataclass(frozen=True)
class Partition:
    table: str
    name: str
    month: dt.date | None  # None: the default partition

    @property
    def end(self) -> dt.date | None:
        return next_month(self.month) if self.month else None


def month_of(day: dt.date) -> dt.date:
    return day.replace(day=1)


def next_month(month: dt.date) -> dt.date:
    return (month.replace(day=1) + dt.timedelta(days=32)).replace(day=1)


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved by ``months`` (the last day of a shorter month when it has no such day)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    for last in (day.day, 30, 29, 28):
        try:
            return dt.date(year, month + 1, min(day.day, last))
        except ValueError:
            continue
    raise ValueError(day)  # pragma: no cover - every month has a 28th


def partition_name(table: str, month: dt.date | None) -> str:
    return f"{table}_default" if month is None else f"{table}_p{month:%Y%m}"


_NAME = re.compile(r"_p(\d{4})(\d{2})$")


async def partitions(conn: AsyncConnection, table: str) -> list[Partition]:
    """The partitions of ``table``, the months in order, the default one last."""
    names = (
        await conn.execute(
            text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = CAST(:table AS regclass)"
            ),
            {"table": table},
        )
    ).scalars()
    found: list[Partition] = []
    for name in names:
        matched = _NAME.search(name)
        month = dt.date(int(matched[1]), int(matched[2]), 1) if matched else None
        found.append(Partition(table, name, month))
    return sorted(found, key=lambda p: (p.month is None, p.month or dt.date.min))


def _create(table: str, month: dt.date | None) -> list[str]:
    name = partition_name(table, month)
    if month is None:
        statements = [f"CREATE TABLE {name} PARTITION OF {table} DEFAULT"]
    else:
        statements = [
            f"CREATE TABLE {name} PARTITION OF {table} FOR VALUES "
            f"FROM ('{month.isoformat()} 00:00:00+00') "
            f"TO ('{next_month(month).isoformat()} 00:00:00+00')"
        ]
    guard = PARTITIONED[table][1]
    if guard:  # a statement trigger is not cloned onto partitions: each refuses TRUNCATE
        statements.append(
            f"CREATE TRIGGER {name}_no_truncate BEFORE TRUNCATE ON {name} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {guard}()"
        )
    return statements


async def create_months(conn: AsyncConnection, table: str, months: list[dt.date]) -> list[str]:
    """Make the partitions of these months that ``table`` lacks (their rows must not be in the
    default partition: :func:`upkeep` moves those). Returns the names made."""
    have = {p.month for p in await partitions(conn, table)}
    made = []
    for month in sorted({month_of(m) for m in months} - have):
        for statement in _create(table, month):
            await conn.execute(text(statement))
        made.append(partition_name(table, month))
    return made


async def _months_in(conn: AsyncConnection, table: str, source: str) -> set[dt.date]:
    key = PARTITIONED[table][0]
    rows = await conn.execute(
        text(
            f"SELECT DISTINCT CAST(date_trunc('month', {key}, 'UTC') AT TIME ZONE 'UTC' AS date) "
            f"FROM {source}"
        )
    )
    return {day for (day,) in rows}


async def _lock_for_ddl(conn: AsyncConnection, table: str) -> None:
    """The locks creating a partition of ``table`` takes, all taken now (see LOCK_TIMEOUT)."""
    await conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
    await conn.execute(text(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
    referenced = await conn.scalars(
        text(
            "SELECT DISTINCT confrelid::regclass::text FROM pg_constraint "
            "WHERE conrelid = CAST(:table AS regclass) AND contype = 'f' "
            "AND confrelid <> conrelid ORDER BY 1"
        ),
        {"table": table},
    )
    for name in referenced.all():
        # What cloning a foreign key onto the new partition takes on the table it points at.
        await conn.execute(text(f"LOCK TABLE {name} IN SHARE ROW EXCLUSIVE MODE NOWAIT"))


async def upkeep(
    conn: AsyncConnection,
    today: dt.date,
    months_ahead: int = MONTHS_AHEAD,
    tables: Sequence[str] = tuple(PARTITIONED),
) -> dict[str, list[str]]:
    """Make this month's partition and the ``months_ahead`` after it, and move the rows the
    default partition holds into partitions of their months. Returns the partitions created,
    by table. Takes a lock on each table only when it has something to do."""
    if not dialect.is_postgresql(conn):
        return {}
    wanted = [month_of(today)]
    for _ in range(months_ahead):
        wanted.append(next_month(wanted[-1]))
    created: dict[str, list[str]] = {}
    for table in tables:
        have = {p.month for p in await partitions(conn, table)}
        stray = await _months_in(conn, table, partition_name(table, None))
        missing = sorted((set(wanted) | stray) - have)
        if not missing:
            continue
        await _lock_for_ddl(conn, table)
        default = partition_name(table, None)
        if stray:
            # A new partition may not take rows the default holds: the default is detached,
            # a fresh one made, the months created and the rows put back through the table
            # (each to its month), the old default dropped. Nothing is updated or deleted.
            moving = f"{table}_default_moving"
            await conn.execute(text(f"ALTER TABLE {table} DETACH PARTITION {default}"))
            await conn.execute(text(f"ALTER TABLE {default} RENAME TO {moving}"))
            if PARTITIONED[table][1]:
                await conn.execute(text(f"DROP TRIGGER {default}_no_truncate ON {moving}"))
            for statement in _create(table, None):
                await conn.execute(text(statement))
        for month in missing:
            for statement in _create(table, month):
                await conn.execute(text(statement))
        if stray:
            await conn.execute(text("SELECT set_config(:name, 'on', true)"), {"name": MOVING})
            await conn.execute(text(f"INSERT INTO {table} SELECT * FROM {moving}"))
            await conn.execute(text("SELECT set_config(:name, 'off', true)"), {"name": MOVING})
            await conn.execute(text(f"DROP TABLE {moving}"))
        created[table] = [partition_name(table, month) for month in missing]
    return created


async def upkeep_in_own_transaction(db: AsyncEngine, today: dt.date) -> dict[str, list[str]]:
    """:func:`upkeep` committed on its own: the night's long transaction must not hold the
    tables' locks that creating a partition takes. A lock not had in time is not an error:
    the months are made ahead, the next night tries again."""
    if db.dialect.name != "postgresql":
        return {}
    # One table per transaction: waiting for one table's lock while holding another's is how
    # the upkeep and a request that uses both would deadlock.
    done: dict[str, list[str]] = {}
    for table in PARTITIONED:
        for attempt in range(1, TRIES + 1):
            try:
                async with db.begin() as conn:
                    done.update(await upkeep(conn, today, tables=[table]))
                break
            except DBAPIError as error:
                if getattr(error.orig, "sqlstate", None) not in (
                    LOCK_NOT_AVAILABLE,
                    DEADLOCK_DETECTED,
                ):
                    raise
                if attempt == TRIES:
                    done.setdefault("skipped", []).append(str(error.orig).splitlines()[0])
                else:
                    await asyncio.sleep(attempt)
    return done


@dataclass(frozen=True)
class Dropped:
    rows: int
    promises_unlinked: int


async def rows_in(conn: AsyncConnection, partition: Partition) -> int:
    return int((await conn.execute(text(f"SELECT count(*) FROM {partition.name}"))).scalar_one())


async def active_loans(
    conn: AsyncConnection, partition: Partition, since: dt.date, sample: int = 5
) -> list[str]:
    """Up to ``sample`` loans with rows in ``partition`` that had an attempt, a payment or a
    guard decision on or after ``since``: while there is one, the partition is kept."""
    if partition.table == "audit_log":
        loans = (
            f"SELECT DISTINCT l.id AS loan_id FROM {partition.name} e "
            "JOIN loans l ON l.loan_ref = e.entity_ref WHERE e.entity_type = 'loan'"
        )
    else:
        loans = f"SELECT DISTINCT loan_id FROM {partition.name}"
    rows = await conn.execute(
        text(
            f"SELECT l.loan_ref FROM ({loans}) p JOIN loans l ON l.id = p.loan_id "
            "WHERE EXISTS (SELECT 1 FROM attempts a WHERE a.loan_id = p.loan_id "
            "              AND a.occurred_at >= :since_at) "
            "   OR EXISTS (SELECT 1 FROM payments y WHERE y.loan_id = p.loan_id "
            "              AND y.paid_on >= :since) "
            "   OR EXISTS (SELECT 1 FROM guard_decisions g WHERE g.loan_id = p.loan_id "
            "              AND g.decided_at >= :since_at) "
            "ORDER BY l.loan_ref LIMIT :sample"
        ),
        {
            "since": since,
            "since_at": dt.datetime.combine(since, dt.time(), dt.UTC),
            "sample": sample,
        },
    )
    return [ref for (ref,) in rows]


async def drop(conn: AsyncConnection, partition: Partition) -> Dropped:
    """Detach and drop one month's partition. Its attempts' keys go with it, and a promise
    that named one of its attempts keeps its record without the link (no foreign key can
    point into a partitioned table: the link is checked by a trigger)."""
    if partition.month is None:
        raise ValueError("the default partition is never dropped")
    rows = await rows_in(conn, partition)
    unlinked = 0
    if partition.table == "attempts":
        unlinked = (
            await conn.execute(
                text(
                    f"UPDATE promises SET attempt_id = NULL WHERE attempt_id IN "
                    f"(SELECT id FROM {partition.name})"
                )
            )
        ).rowcount
        await conn.execute(
            text(
                f"DELETE FROM attempt_keys k USING {partition.name} a "
                "WHERE k.attempt_ref = a.attempt_ref AND k.revision = a.revision"
            )
        )
    await conn.execute(text(f"ALTER TABLE {partition.table} DETACH PARTITION {partition.name}"))
    await conn.execute(text(f"DROP TABLE {partition.name}"))
    return Dropped(rows=rows, promises_unlinked=int(unlinked))


_PARTITION = re.compile(rf"^({'|'.join(PARTITIONED)})_(p\d{{6}}|default)$")
# PostgreSQL only, not in the models: the attempts' keys across months (migration 0016).
PG_ONLY_TABLES = frozenset({"attempt_keys"})


def is_pg_only_table(name: str) -> bool:
    """A month's partition, a default partition or the key table: PostgreSQL's tables that no
    model declares (the models declare the partitioned tables themselves)."""
    return name in PG_ONLY_TABLES or _PARTITION.match(name) is not None
