"""Database engine, column types that behave the same on PostgreSQL and SQLite, and helpers.

SQLite is the embedded default; PostgreSQL is production. Column types here hide the two
differences that matter to us: SQLite has no native decimal and no aware timestamps.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Dialect, Numeric, event, types
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    create_async_engine,
)

from service.settings import Settings


class _ExactDecimal(types.TypeDecorator[Decimal]):
    """NUMERIC(precision, scale) in the database, ``Decimal`` in Python, never a float between.

    SQLite has no decimal type: it hands back floats, which we round to the column's scale; that
    is exact while the value has at most 15 significant digits (money below 10^13).
    """

    impl = Numeric(18, 2, asdecimal=False)
    cache_ok = True
    precision = 18
    scale = 2

    def load_dialect_impl(self, dialect: Dialect) -> types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=False))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        number = value if isinstance(value, Decimal) else Decimal(repr(value))
        return self.finish(number.quantize(Decimal(1).scaleb(-self.scale)))

    def finish(self, value: Decimal) -> Decimal:
        return value


class Money(_ExactDecimal):
    """An amount: NUMERIC(18, 2), always two decimals."""

    cache_ok = True  # SQLAlchemy asks each subclass itself


class Rate(_ExactDecimal):
    """An interest rate as a fraction, NUMERIC(12, 8): 0.072 a year, 0.0005 a day."""

    impl = Numeric(12, 8, asdecimal=False)
    cache_ok = True
    precision = 12
    scale = 8

    def finish(self, value: Decimal) -> Decimal:
        return value.normalize()


class Coefficient(_ExactDecimal):
    """A multiplier such as the credit coefficient: NUMERIC(6, 3)."""

    impl = Numeric(6, 3, asdecimal=False)
    cache_ok = True
    precision = 6
    scale = 3


class UTCDateTime(types.TypeDecorator[dt.datetime]):
    """An aware UTC timestamp. Naive datetimes are refused rather than guessed."""

    impl = types.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: times are stored as aware UTC")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        moment: dt.datetime = value
        if moment.tzinfo is None:
            return moment.replace(tzinfo=dt.UTC)
        return moment.astimezone(dt.UTC)


def sqlite_timestamp(value: dt.datetime) -> str:
    """The text form SQLAlchemy's SQLite dialect stores for a UTC datetime (for bulk paths)."""
    return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def create_engine(settings: Settings, **kwargs: Any) -> AsyncEngine:
    """The one place engines are built; SQLite gets its pragmas here."""
    url = settings.database_url
    if settings.is_sqlite:
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, **kwargs)

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

        return engine
    # A pool that holds what a busy process uses: connections opened and closed under load
    # (overflow) cost a connect and asyncpg's type introspection each, far more than a query.
    kwargs.setdefault("pool_size", settings.db_pool_size)
    kwargs.setdefault("max_overflow", 10)
    # Optimistic disconnect handling: a dead connection fails one statement and the pool is
    # refreshed; a ping before every checkout would cost a round trip on every request.
    kwargs.setdefault("pool_pre_ping", False)
    kwargs.setdefault("pool_recycle", 3600)
    return create_async_engine(url, **kwargs)


def _sqlite_decimal(value: Any) -> Decimal:
    return (
        value
        if isinstance(value, Decimal)
        else Decimal(repr(value) if isinstance(value, float) else str(value))
    )


def _register_sqlite_functions(dbapi_connection: Any) -> None:
    """The SQL functions COB uses, computed by the domain rules themselves (exact decimals).

    PostgreSQL gets the same functions in SQL by migration 0002.
    """
    from service.domain.delinquency import capped_rate, daily_penalty

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


async def raw_asyncpg(conn: AsyncConnection) -> Any:
    """The asyncpg connection under an SQLAlchemy connection (for COPY)."""
    raw = await conn.get_raw_connection()
    return raw.driver_connection


def asyncpg_sql(sql: str, names: tuple[str, ...]) -> str:
    """The same SQL with ``:name`` parameters as asyncpg's ``$1, $2, ...`` (in ``names`` order).

    Hot paths run one statement on a raw asyncpg connection; writing it once with named
    parameters keeps the SQLAlchemy form (SQLite, tests) and the raw form the same text.
    """
    for index, name in enumerate(names, start=1):
        sql, count = re.subn(rf":{name}\b", f"${index}", sql)
        if not count:
            raise ValueError(f"parameter :{name} is not in the statement")
    return sql
