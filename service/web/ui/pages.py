"""Server-rendered pages (Jinja2): the landing page and login; the workspace and dashboard land
here."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy import select

from service import __version__, auth
from service.db.models import ImportRun, Role
from service.portfolio.reads import bucket_summary, portfolio_counts
from service.web.api.session import set_session_cookie
from service.web.keys import ENGINE, SESSION_COOKIE, SESSION_TOKEN, SETTINGS, TEMPLATES, USER


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    page = request.app[TEMPLATES].get_template(template)
    html = page.render(user=request.get(USER), version=__version__, **context)
    return web.Response(text=html, content_type="text/html", status=status)


async def index(request: web.Request) -> web.Response:
    user = request.get(USER)
    counts: dict[str, int] | None = None
    imports: list[Any] = []
    buckets: list[dict[str, Any]] = []
    if user is not None:
        async with request.app[ENGINE].connect() as conn:
            counts = await portfolio_counts(conn, user)
            buckets = await bucket_summary(conn, user, request.app[SETTINGS].bucket_edges)
            if user.role in (Role.supervisor, Role.admin):
                imports = list(
                    (
                        await conn.execute(select(ImportRun).order_by(ImportRun.id.desc()).limit(5))
                    ).all()
                )
    return render(request, "index.html", counts=counts, imports=imports, buckets=buckets)


def _safe_next(target: str) -> str:
    # Only local paths: an open redirect after login is a phishing aid.
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


async def login_form(request: web.Request) -> web.Response:
    return render(
        request, "login.html", error=None, next=_safe_next(request.query.get("next", "/"))
    )


async def login_submit(request: web.Request) -> web.Response:
    form = await request.post()
    username = str(form.get("username", ""))
    password = str(form.get("password", ""))
    target = _safe_next(str(form.get("next", "/")))
    settings = request.app[SETTINGS]
    async with request.app[ENGINE].begin() as conn:
        result = await auth.login(
            conn, username, password, dt.timedelta(hours=settings.session_ttl_hours)
        )
    if result is None:
        return render(
            request, "login.html", status=401, error="Wrong username or password.", next=target
        )
    token, _user = result
    response = web.HTTPSeeOther(target)
    set_session_cookie(response, token, settings.cookie_secure, settings.session_ttl_hours)
    raise response


async def logout(request: web.Request) -> web.Response:
    token = request.get(SESSION_TOKEN)
    if token:
        async with request.app[ENGINE].begin() as conn:
            await auth.logout(conn, token)
    response = web.HTTPSeeOther("/")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/", index)
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login_submit)
    app.router.add_post("/logout", logout)
