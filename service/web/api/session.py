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
from service.web.api.framework import PUBLIC, Api, In, Out
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
    errors=(401,),
)
async def create_session(request: web.Request, body: Credentials) -> web.StreamResponse:
    """Check the password and open a session; the token comes back in the body and as an
    HTTP-only cookie."""
    settings = request.app[SETTINGS]
    async with request.app[ENGINE].begin() as conn:
        result = await auth.login(
            conn, body.username, body.password, dt.timedelta(hours=settings.session_ttl_hours)
        )
    if result is None:
        log.info("auth.login_failed", username=body.username)
        raise Unauthenticated("wrong username or password")
    token, user = result
    log.info("auth.login", username=user.username)
    answer = SessionOut(token=token, user=UserOut.of(user))
    response = web.Response(
        body=answer.model_dump_json().encode(), status=201, content_type="application/json"
    )
    set_session_cookie(response, token, settings.cookie_secure, settings.session_ttl_hours)
    return response


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
