"""The one place database engines are built, from the settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from service.db.dialect import configure_sqlite
from service.settings import Settings


def create_engine(settings: Settings, **kwargs: Any) -> AsyncEngine:
    """An engine for ``settings.database_url``: a SQLite file (its directory made) with its
    pragmas, or a PostgreSQL pool sized for a busy process."""
    url = settings.database_url
    if settings.is_sqlite:
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, **kwargs)
        configure_sqlite(engine)
        return engine
    # A pool that holds what a busy process uses: connections opened and closed under load
    # (overflow) cost a connect and asyncpg's type introspection each, far more than a query.
    # Half as many again under a burst, and no more: the processes of a deployment share
    # PostgreSQL's max_connections (100 by default; the budget is in docs/security.md).
    kwargs.setdefault("pool_size", settings.db_pool_size)
    kwargs.setdefault("max_overflow", settings.db_pool_size // 2)
    # A ping before every checkout: after PostgreSQL restarts (a failover, an upgrade) every
    # pooled connection is dead, and without it each would fail the statement of whoever drew
    # it — a send recorded half-way, a worker's batch lost. A round trip on loopback costs
    # far less than that; the hot paths use their own raw pool (service.web.app).
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_recycle", 3600)
    return create_async_engine(url, **kwargs)
