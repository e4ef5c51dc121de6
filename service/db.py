"""Database engine, column types that behave the same on PostgreSQL and SQLite, and helpers.

SQLite is the embedded default; PostgreSQL is production. Column types here hide the two
differences that matter to us: SQLite has no native decimal and no aware timestamps.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Dialect, Numeric, event, types
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.ext.asyncio import AsyncSession as AsyncSession

from service.settings import Settings

CENT = Decimal("0.01")


class Money(types.TypeDecorator[Decimal]):
    """NUMERIC(18, 2) in the database, ``Decimal`` in Python, never a float in between.

    SQLite has no decimal type: values arrive as floats; we round them back to cents, which is
    exact for any amount below 10^13 (a double holds 15-16 significant digits).
    """

    impl = Numeric(18, 2, asdecimal=False)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric(18, 2, asdecimal=True))
        return dialect.type_descriptor(Numeric(18, 2, asdecimal=False))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return str(value)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if isinstance(value, Decimal):
            return value.quantize(CENT)
        return Decimal(repr(value)).quantize(CENT)


class Rate(types.TypeDecorator[Decimal]):
    """An interest rate as NUMERIC(12, 8): annual rates and daily penalty rates."""

    impl = Numeric(12, 8, asdecimal=False)
    cache_ok = True
    _q = Decimal("0.00000001")

    def load_dialect_impl(self, dialect: Dialect) -> types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric(12, 8, asdecimal=True))
        return dialect.type_descriptor(Numeric(12, 8, asdecimal=False))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if isinstance(value, Decimal):
            return value.quantize(self._q).normalize()
        return Decimal(repr(value)).quantize(self._q).normalize()


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

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def engine_scope(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings)
    try:
        yield engine
    finally:
        await engine.dispose()


async def raw_asyncpg(conn: AsyncConnection) -> Any:
    """The asyncpg connection under an SQLAlchemy connection (for COPY)."""
    raw = await conn.get_raw_connection()
    return raw.driver_connection
