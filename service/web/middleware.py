"""What every request passes through: a request id bound to the logs, errors turned into the
API's one error shape (or a login redirect for pages), and the user found from the session."""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from service import auth
from service.errors import (
    ArrearsError,
    Conflict,
    InputError,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    ValidationFailed,
)
from service.web.api.framework import error_body, json_response
from service.web.keys import ENGINE, HOT_POOL, REQUEST_ID, SESSION_COOKIE, SESSION_TOKEN, USER

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


MIDDLEWARES = (request_context, errors, authentication)
