"""Rendering a page: the web templates' Jinja2 environment (with ``jinja2.ext.i18n`` and Babel's
formatting as filters) and :func:`render`, which gives every page the signed-in user, their
language, the CSRF field and the navigation their role has."""

from __future__ import annotations

from functools import cache
from typing import Any

import jinja2
from aiohttp import web
from babel.support import LazyProxy
from markupsafe import Markup

from service import __version__
from service.auth import CurrentUser
from service.db.models import Role
from service.web.keys import SETTINGS, TEMPLATES, USER
from service.web.ui import csrf, i18n
from service.web.ui.i18n import lazy_gettext as _l
from service.web.ui.labels import label

# (path, label msgid, roles that see it, keyboard shortcut): the header's navigation.
NAVIGATION: tuple[tuple[str, LazyProxy, tuple[Role, ...], str], ...] = (
    ("/work", _l("My queues"), (Role.collector, Role.supervisor, Role.admin), "q"),
    ("/tasks", _l("Tasks"), (Role.collector, Role.supervisor, Role.admin), "t"),
    ("/dashboard", _l("Dashboard"), (Role.supervisor, Role.admin), "d"),
    ("/tools", _l("Supervisor tools"), (Role.supervisor, Role.admin), "s"),
)


def _gettext(message: str) -> str:
    return i18n.translations(i18n.current_locale()).gettext(message)


def _ngettext(singular: str, plural: str, count: int) -> str:
    return i18n.translations(i18n.current_locale()).ngettext(singular, plural, count)


@cache
def web_environment() -> jinja2.Environment:
    """The web pages' environment (templates/web)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("templates", "web"),
        autoescape=jinja2.select_autoescape(["html", "xml"]),
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(
        money=i18n.format_money,
        number=i18n.format_number,
        percent=i18n.format_percent,
        date=i18n.format_date,
        label=label,
    )
    return env


def static_url(name: str) -> str:
    """A file of templates/web/static, its URL changing with each release (cached for long)."""
    return f"/static/{name}?v={__version__}"


def nav_for(user: CurrentUser | None) -> list[dict[str, str]]:
    if user is None:
        return []
    return [
        {"path": path, "label": str(name), "key": key}
        for path, name, roles, key in NAVIGATION
        if user.role in roles
    ]


def page_locale(request: web.Request) -> str:
    user: CurrentUser | None = request.get(USER)
    return i18n.negotiate(
        user.locale if user else None,
        request.cookies.get(i18n.COOKIE),
        request.headers.get("Accept-Language", ""),
    )


def _html(request: web.Request, template: str, context: dict[str, Any], status: int = 200) -> str:
    user: CurrentUser | None = request.get(USER)
    locale = page_locale(request)
    context.setdefault("flash", None)
    token = i18n.activate(locale)
    try:
        zone = request.app[SETTINGS].lender_timezone
        page = request.app[TEMPLATES].get_template(template)
        return page.render(
            user=user,
            locale=locale,
            locales=[(code, i18n.language_name(code)) for code in i18n.LOCALES],
            version=__version__,
            csrf_field=csrf.FIELD,
            csrf_token=csrf.form_token(request),
            csrf_input=Markup('<input type="hidden" name="{}" value="{}">').format(
                csrf.FIELD, csrf.form_token(request)
            ),
            nav=nav_for(user),
            # A refusal does not repeat the address it refused (its ref may be another
            # queue's account): its language switch goes back home.
            path="/" if status in (403, 404) else request.path,
            static_url=static_url,
            zone=zone,
            datetime=lambda moment, form="short": i18n.format_datetime(moment, zone, form),
            time=lambda moment: i18n.format_time(moment, zone),
            **context,
        )
    finally:
        i18n.deactivate(token)


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    """``template`` rendered for this request, in the user's language, as an HTML response."""
    html = _html(request, template, context, status)
    response = web.Response(text=html, content_type="text/html", status=status)
    csrf.set_cookie(request, response)
    return response


def render_fragment(request: web.Request, template: str, **context: Any) -> Markup:
    """A part of a page (a panel another page includes: no ``extends``), rendered with what
    every page gets, for the page that includes it (whose :func:`render` sets the CSRF cookie
    its forms need)."""
    return Markup(_html(request, template, context))  # noqa: S704  # autoescaped by Jinja2
