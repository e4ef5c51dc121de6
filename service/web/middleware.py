"""What every request passes through: a request id bound to the logs, errors turned into the
API's one error shape (or a login redirect for pages), the user found from the session — and,
for a state-changing request on the session cookie, the proof that it came from our own pages
(CSRF) — and the security headers on every response."""

from __future__ import annotations

import asyncio
import random
import re
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import structlog
from aiohttp import web
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from service import auth
from service.db import dialect
from service.errors import (
    ArrearsError,
    Conflict,
    InputError,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    ValidationFailed,
)
from service.web.api.framework import CrossOrigin, Throttled, error_body, json_response
from service.web.keys import (
    CROSS_ORIGIN,
    ENGINE,
    HOT_POOL,
    REQUEST_ID,
    SESSION_COOKIE,
    SESSION_TOKEN,
    SETTINGS,
    USER,
)

log = structlog.get_logger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_STATUS: dict[type[ArrearsError], int] = {
    ValidationFailed: 422,
    InputError: 400,
    NotFound: 404,
    Conflict: 409,
    PermissionDenied: 403,
    Unauthenticated: 401,
    Throttled: 429,
}
_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    429: "too_many_attempts",
}
# Headers an error answer keeps from aiohttp's own exception (405 names the methods it allows).
_KEPT_HEADERS = ("Allow", "Retry-After")
# Every response: no MIME sniffing, never framed (clickjacking), no full URLs leaked to others.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Pages load scripts and styles from this server only (vendored libraries, no CDN) and
    # carry no inline script; charts set styles from script, hence 'unsafe-inline' for style.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "Referrer-Policy": "same-origin",
}
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
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


# SQLite runs one writer at a time: a transaction that read first and writes second cannot
# wait for its turn — if another writer (the in-process dispatcher, another request) committed
# meanwhile, its first write fails at once with "database is locked". Its transaction rolled
# back, so the request is served again, a few times, before it is a 503. Not a multipart upload:
# its body was streamed away.
_LOCKED_TRIES = 4


async def _served(request: web.Request, handler: Handler) -> web.StreamResponse:
    retryable = not request.content_type.startswith("multipart/")
    for attempt in range(1, _LOCKED_TRIES + 1):
        try:
            return await handler(request)
        except DBAPIError as exc:
            if not (retryable and dialect.try_again(exc)) or attempt == _LOCKED_TRIES:
                raise
            log.info("http.transaction_retry", attempt=attempt)
            await asyncio.sleep(0.05 * attempt * (1 + random.random()))  # noqa: S311
    raise AssertionError("unreachable")  # the loop returns or raises


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await _served(request, handler)
    except ArrearsError as exc:
        status = _status_for(exc)
        if status == 500:
            log.exception("http.unhandled_error")
        if not _is_api(request) and status == 401:
            raise web.HTTPSeeOther(f"/login?next={request.path_qs}") from None
        answer = json_response(error_body(exc.code, exc.message, exc.details), status=status)
        if isinstance(exc, Throttled):
            answer.headers["Retry-After"] = str(exc.retry_after)
        return answer
    except web.HTTPException as exc:
        if not _is_api(request) or exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "error")
        answer = json_response(error_body(code, exc.reason), status=exc.status)
        for name in _KEPT_HEADERS:
            if name in exc.headers:
                answer.headers[name] = exc.headers[name]
        return answer
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
    """Find the user from an ``Authorization: Bearer`` token (the scheme in any case) or the
    session cookie. A state-changing request on the cookie must show it came from our own
    pages (:func:`cross_origin`): a cross-site one is refused at once; one that proves nothing
    is served without the cookie's authority (an endpoint that needs a login answers 403).
    Twilio's webhooks carry no session: their signature is their proof (service.web.webhooks)."""
    if request.path.startswith("/webhooks/"):
        return await handler(request)
    bearer = _bearer_token(request.headers.get("Authorization", ""))
    token = bearer or request.cookies.get(SESSION_COOKIE, "")
    if request.method in UNSAFE_METHODS and bearer is None:
        # A browser never adds an Authorization header cross-site, so only cookie requests
        # (and anonymous ones a browser sends, e.g. a forged login) need the check.
        evidence, proven = cross_origin(request)
        if evidence is not None:
            raise CrossOrigin(f"refused: a cross-site request ({evidence})")
        if token and not proven:
            request[CROSS_ORIGIN] = "neither Origin nor Sec-Fetch-Site: same-origin was sent"
            token = ""
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


def _bearer_token(header: str) -> str | None:
    # RFC 9110: the scheme is case-insensitive ("bearer TOKEN" is as good as "Bearer TOKEN").
    scheme, _, credentials = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


def cross_origin(request: web.Request) -> tuple[str | None, bool]:
    """(evidence that the request is cross-site, whether it proved to be same-origin).

    ``Sec-Fetch-Site``, when sent, must be ``same-origin``; ``Origin``, when sent, must be this
    server's own origin (the Host it was sent to, or ``ARREARS_PUBLIC_BASE_URL``'s behind a
    proxy). Proof is either header saying so; every browser that sends cookies sends one of
    them with a POST, so a cookie request with neither is not taken as the user's own."""
    site = request.headers.get("Sec-Fetch-Site")
    origin = request.headers.get("Origin")
    if site is not None and site != "same-origin":
        return f"Sec-Fetch-Site: {site}", False
    if origin is not None:
        if origin.lower() not in _own_origins(request):
            return f"Origin: {origin}", False
        return None, True
    return None, site == "same-origin"


def _own_origins(request: web.Request) -> set[str]:
    public = urlsplit(request.app[SETTINGS].public_base_url)
    return {
        f"{request.scheme}://{request.host}".lower(),
        f"{public.scheme}://{public.netloc}".lower(),
    }


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: every answer, errors and redirects included, carries them."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


MIDDLEWARES = (request_context, errors, authentication)
