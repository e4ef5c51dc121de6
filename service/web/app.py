"""The composition root of the web side: ``create_app(settings)``."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import structlog
from aiohttp import web
from redis.asyncio import Redis
from sqlalchemy.exc import SQLAlchemyError

from service import auth
from service.assignment.run import strategies_for
from service.db.engine import create_engine
from service.errors import (
    ArrearsError,
    Conflict,
    InputError,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    ValidationFailed,
)
from service.settings import Settings
from service.treatment.messages import environment
from service.web import api, contact, pages, queues
from service.web.jsonio import error_body, json_response
from service.web.keys import (
    ENGINE,
    HOT_POOL,
    REDIS,
    REQUEST_ID,
    SESSION_COOKIE,
    SESSION_TOKEN,
    SETTINGS,
    STRATEGIES,
    TEMPLATES,
    USER,
)

log = structlog.get_logger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_STATUS = {
    ValidationFailed: 422,
    InputError: 400,
    NotFound: 404,
    Conflict: 409,
    PermissionDenied: 403,
    Unauthenticated: 401,
}
_HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _status_for(exc: ArrearsError) -> int:
    for cls in type(exc).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    return 500


def _is_api(request: web.Request) -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz"


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    supplied = request.headers.get("X-Request-ID", "")
    request_id = supplied if _REQUEST_ID.match(supplied) else secrets.token_hex(8)
    request[REQUEST_ID] = request_id
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)
    response = await handler(request)
    response.headers["X-Request-ID"] = request_id
    return response


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ArrearsError as exc:
        status = _status_for(exc)
        if status == 500:
            log.exception("http.unhandled_error")
        if not _is_api(request) and status == 401:
            raise web.HTTPSeeOther(f"/login?next={request.path_qs}") from None
        return json_response(error_body(exc.code, exc.message, exc.details), status=status)
    except web.HTTPException as exc:
        if not _is_api(request) or exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "error")
        return json_response(error_body(code, exc.reason), status=exc.status)
    except SQLAlchemyError:
        log.exception("http.database_error")
        return json_response(
            error_body("database_error", "the database could not complete the request"), status=503
        )
    except Exception:
        if not _is_api(request):
            raise
        log.exception("http.unhandled_error")
        return json_response(error_body("internal_error", "unexpected error"), status=500)


@web.middleware
async def authentication(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Find the user from the session cookie or an ``Authorization: Bearer`` token."""
    token = request.cookies.get(SESSION_COOKIE, "")
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        token = header.removeprefix("Bearer ").strip()
    if token:
        pool = request.app.get(HOT_POOL)
        if pool is not None:
            user = await auth.user_for_token_raw(pool, token)
        else:
            async with request.app[ENGINE].connect() as conn:
                user = await auth.user_for_token(conn, token)
        if user is not None:
            request[USER] = user
            request[SESSION_TOKEN] = token
            structlog.contextvars.bind_contextvars(user=user.username)
    return await handler(request)


def create_app(settings: Settings) -> web.Application:
    app = web.Application(
        middlewares=[request_context, errors, authentication],
        client_max_size=512 * 1024**2,  # portfolio uploads; streamed to disk, not held
    )
    app[SETTINGS] = settings
    app[STRATEGIES] = strategies_for(settings)
    app[TEMPLATES] = environment("web")
    app.cleanup_ctx.append(_database)
    if not settings.is_sqlite:
        app.cleanup_ctx.append(_hot_pool)
    if settings.redis_url:
        app.cleanup_ctx.append(_redis)
    api.setup_routes(app)
    queues.setup_routes(app)
    contact.setup_routes(app)
    pages.setup_routes(app)
    return app


async def _database(app: web.Application) -> AsyncIterator[None]:
    engine = create_engine(app[SETTINGS])
    app[ENGINE] = engine
    yield
    await engine.dispose()


async def _hot_pool(app: web.Application) -> AsyncIterator[None]:
    dsn = app[SETTINGS].database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    pool = await asyncpg.create_pool(dsn, min_size=2, max_size=20)
    app[HOT_POOL] = pool
    yield
    await pool.close()


async def _redis(app: web.Application) -> AsyncIterator[None]:
    url = app[SETTINGS].redis_url
    assert url is not None
    client: Redis = Redis.from_url(url)
    app[REDIS] = client
    yield
    await client.aclose()
