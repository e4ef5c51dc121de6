"""Server-rendered pages (Jinja2): the landing page and login; the workspace and dashboard land
here. Every form carries a CSRF token (service.web.ui.csrf), checked on POST."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy import select

from service import __version__, auth
from service.db.models import ImportRun, Role
from service.portfolio.reads import bucket_summary, portfolio_counts
from service.web.api.session import log_in, set_session_cookie
from service.web.keys import ENGINE, SESSION_COOKIE, SESSION_TOKEN, SETTINGS, TEMPLATES, USER
from service.web.ui import csrf

EXPIRED_FORM = "This form has expired or did not come from this site. Please try again."


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    page = request.app[TEMPLATES].get_template(template)
    html = page.render(
        user=request.get(USER),
        version=__version__,
        csrf_field=csrf.FIELD,
        csrf_token=csrf.form_token(request),
        **context,
    )
    response = web.Response(text=html, content_type="text/html", status=status)
    csrf.set_cookie(request, response)
    return response


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
    if not csrf.valid(request, form):
        return render(request, "login.html", status=403, error=EXPIRED_FORM, next=target)
    settings = request.app[SETTINGS]
    outcome = await log_in(request, username, password, channel="form")
    if outcome.locked_for is not None:
        minutes = max(1, -(-outcome.locked_for // 60))
        page = render(
            request,
            "login.html",
            status=429,
            error=f"Too many failed logins. Try again in {minutes} minute(s).",
            next=target,
        )
        page.headers["Retry-After"] = str(outcome.locked_for)
        return page
    if outcome.token is None:
        return render(
            request, "login.html", status=401, error="Wrong username or password.", next=target
        )
    response = web.HTTPSeeOther(target)
    set_session_cookie(response, outcome.token, settings.cookie_secure, settings.session_ttl_hours)
    raise response


async def logout(request: web.Request) -> web.Response:
    if not csrf.valid(request, await request.post()):
        return render(request, "message.html", status=403, message=EXPIRED_FORM)
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
