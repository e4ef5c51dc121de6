"""Logging in and out over the API, and who the caller is."""

from __future__ import annotations

import datetime as dt

import structlog
from aiohttp import web
from pydantic import Field

from service import auth
from service.auth import CurrentUser
from service.db.models import Role
from service.errors import Unauthenticated
from service.web.api.framework import PUBLIC, Api, In, Out, Throttled
from service.web.keys import ENGINE, SESSION_COOKIE, SESSION_TOKEN, SETTINGS

log = structlog.get_logger(__name__)

api = Api("session")


class Credentials(In):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class UserOut(Out):
    id: int
    username: str
    display_name: str
    role: Role

    @classmethod
    def of(cls, user: CurrentUser) -> UserOut:
        return cls(
            id=user.id, username=user.username, display_name=user.display_name, role=user.role
        )


class SessionOut(Out):
    token: str = Field(description="send as `Authorization: Bearer …` (also set as a cookie)")
    user: UserOut


@api.post(
    "/api/session",
    summary="Log in",
    roles=PUBLIC,
    status=201,
    responses={201: SessionOut},
    errors=(401, 429),
)
async def create_session(request: web.Request, body: Credentials) -> web.StreamResponse:
    """Check the password and open a session; the token comes back in the body and as an
    HTTP-only cookie. Repeated failures for the account or from the address slow down, then
    lock out for a while (429 with Retry-After, the password not even checked)."""
    settings = request.app[SETTINGS]
    outcome = await log_in(request, body.username, body.password, channel="api")
    if outcome.locked_for is not None:
        raise Throttled("too many failed logins: try again later", retry_after=outcome.locked_for)
    if outcome.token is None or outcome.user is None:
        raise Unauthenticated("wrong username or password")
    answer = SessionOut(token=outcome.token, user=UserOut.of(outcome.user))
    response = web.Response(
        body=answer.model_dump_json().encode(), status=201, content_type="application/json"
    )
    set_session_cookie(response, outcome.token, settings.cookie_secure, settings.session_ttl_hours)
    return response


async def log_in(
    request: web.Request, username: str, password: str, *, channel: str
) -> auth.LoginOutcome:
    """A login through the throttle, audited and logged (the API's and the form's alike)."""
    settings = request.app[SETTINGS]
    outcome = await auth.authenticate(
        request.app[ENGINE],
        username,
        password,
        dt.timedelta(hours=settings.session_ttl_hours),
        client=request.remote or "unknown",
        channel=channel,
        policy=auth.LoginPolicy.of(settings),
    )
    if outcome.locked_for is not None:
        log.warning("auth.login_locked", username=username[:64], retry_after=outcome.locked_for)
    elif outcome.user is None:
        log.info("auth.login_failed", username=username[:64])
    else:
        log.info("auth.login", username=outcome.user.username)
    return outcome


def set_session_cookie(response: web.StreamResponse, token: str, secure: bool, hours: int) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="Lax",
        secure=secure,
        max_age=hours * 3600,
        path="/",
    )


@api.delete("/api/session", summary="Log out", status=204, responses={204: None})
async def delete_session(request: web.Request) -> web.StreamResponse:
    async with request.app[ENGINE].begin() as conn:
        await auth.logout(conn, request[SESSION_TOKEN])
    response = web.Response(status=204)
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


@api.get("/api/me", summary="The logged-in user")
async def me(user: CurrentUser) -> UserOut:
    return UserOut.of(user)
