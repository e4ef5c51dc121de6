"""The composition root of the web side: ``create_app(settings)``.

Resources are paired set-up/tear-down in ``cleanup_ctx``: the database engine, on PostgreSQL a
raw pool for the hot paths, Redis (an arq pool) when configured, and whoever runs jobs — the arq
workers, or this process on the embedded default.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
from aiohttp import web
from arq import create_pool
from arq.connections import RedisSettings

from service.assignment.run import strategies_for
from service.clock import Clock, SystemClock
from service.contact.dispatch import open_dispatcher
from service.contact.sweeper import dispatch_forever
from service.db.engine import create_engine
from service.settings import Settings
from service.web import openapi, ui, webhooks
from service.web.api import AREAS
from service.web.keys import CLOCK, ENGINE, HOT_POOL, JOBS, REDIS, SETTINGS, STRATEGIES, TEMPLATES
from service.web.middleware import MIDDLEWARES, security_headers
from service.web.ui.render import web_environment
from workers.deps import Dependencies
from workers.jobs import ArqJobs, InProcessJobs, sweep_every

# The largest body any request but an upload may have (JSON bodies, the login form): a few KiB
# is what they hold, and a bound keeps a stream of garbage from costing memory and CPU. Uploads
# (POST /api/imports) are streamed to disk under their own ARREARS_IMPORT_MAX_BYTES.
MAX_REQUEST_BYTES = 64 * 1024


def create_app(settings: Settings, clock: Clock | None = None) -> web.Application:
    app = web.Application(middlewares=MIDDLEWARES, client_max_size=MAX_REQUEST_BYTES)
    app.on_response_prepare.append(security_headers)
    app[SETTINGS] = settings
    app[CLOCK] = clock or SystemClock()
    app[STRATEGIES] = strategies_for(settings)
    app[TEMPLATES] = web_environment()
    app.cleanup_ctx.append(_database)
    if not settings.is_sqlite:
        # A PostgreSQL-only mechanism (raw asyncpg), not a spelling: see service.db.dialect.
        app.cleanup_ctx.append(_hot_pool)
    if settings.redis_url:
        app.cleanup_ctx.append(_redis)
    app.cleanup_ctx.append(_jobs)
    if settings.dispatch == "inprocess":
        app.cleanup_ctx.append(_dispatch)
    for area in (*AREAS, openapi.api):
        area.setup(app)
    ui.setup(app)
    webhooks.setup(app)
    return app


async def _database(app: web.Application) -> AsyncIterator[None]:
    engine = create_engine(app[SETTINGS])
    app[ENGINE] = engine
    yield
    await engine.dispose()


async def _hot_pool(app: web.Application) -> AsyncIterator[None]:
    dsn = app[SETTINGS].database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    # As many as the engine's steady pool: on two cores the hot statements are CPU-bound well
    # before ten connections are busy (bench/assign), and each counts against max_connections.
    size = app[SETTINGS].db_pool_size
    pool = await asyncpg.create_pool(dsn, min_size=min(2, size), max_size=size)
    app[HOT_POOL] = pool
    yield
    await pool.close()


async def _redis(app: web.Application) -> AsyncIterator[None]:
    url = app[SETTINGS].redis_url
    assert url is not None
    pool = await create_pool(RedisSettings.from_dsn(url))
    app[REDIS] = pool
    yield
    await pool.aclose()


async def _dispatch(app: web.Application) -> AsyncIterator[None]:
    """The embedded default sends from this process: the outbox is delivered within about a
    second of a row falling due (with Redis, the arq workers do it)."""
    settings = app[SETTINGS]
    async with open_dispatcher(settings, app[ENGINE], app[CLOCK]) as dispatcher:
        sending = asyncio.ensure_future(dispatch_forever(dispatcher))
        yield
        sending.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sending


async def _jobs(app: web.Application) -> AsyncIterator[None]:
    """Long work asked for over HTTP: enqueued for the arq workers when dispatch is arq, run as
    tasks of this process otherwise; either way, jobs whose process died are marked failed."""
    settings = app[SETTINGS]
    deps = Dependencies(settings, app[ENGINE], app[STRATEGIES], app[CLOCK])
    runner = ArqJobs(app[REDIS]) if settings.dispatch == "arq" else InProcessJobs(deps)
    app[JOBS] = runner
    sweeping = asyncio.ensure_future(sweep_every(deps))
    yield
    sweeping.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sweeping
    await runner.close()
