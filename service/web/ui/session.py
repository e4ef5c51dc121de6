"""Signing in and out, and the signed-in user's own settings: page language, password, phone.

The login form goes through the same throttle and audit as ``POST /api/session``
(:func:`service.web.api.session.log_in`); the page language is remembered on the user (and in a
cookie before login, so the login page itself is in the visitor's language).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy import select

from service import auth
from service.auth import CurrentUser
from service.db.models import User
from service.domain.phones import InvalidPhone, normalise
from service.errors import InputError
from service.web.api.session import log_in, set_session_cookie
from service.web.keys import ENGINE, SESSION_COOKIE, SESSION_TOKEN, SETTINGS
from service.web.ui import i18n
from service.web.ui.framework import EVERYONE, PUBLIC, Form, Pages, see_other
from service.web.ui.i18n import gettext as _
from service.web.ui.render import render

pages = Pages("session")


def safe_next(target: str) -> str:
    """Only a local path: an open redirect after login is a phishing aid."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


@pages.get("/login", roles=PUBLIC)
async def login_form(request: web.Request) -> web.StreamResponse:
    return render(request, "login.html", error=None, next=safe_next(request.query.get("next", "/")))


@pages.post("/login", roles=PUBLIC)
async def login_submit(request: web.Request, form: Form) -> web.StreamResponse:
    username = str(form.get("username", ""))
    password = str(form.get("password", ""))
    target = safe_next(str(form.get("next", "/")))
    settings = request.app[SETTINGS]
    outcome = await log_in(request, username, password, channel="form")
    if outcome.locked_for is not None:
        minutes = max(1, -(-outcome.locked_for // 60))
        page = render(
            request,
            "login.html",
            status=429,
            error=i18n.ngettext(
                "Too many failed logins. Try again in %(num)d minute.",
                "Too many failed logins. Try again in %(num)d minutes.",
                minutes,
            ),
            next=target,
        )
        page.headers["Retry-After"] = str(outcome.locked_for)
        return page
    if outcome.token is None:
        return render(
            request, "login.html", status=401, error=_("Wrong username or password."), next=target
        )
    response = see_other(target)
    set_session_cookie(response, outcome.token, settings.cookie_secure, settings.session_ttl_hours)
    raise response


@pages.post("/logout", roles=PUBLIC)
async def logout(request: web.Request) -> web.StreamResponse:
    token = request.get(SESSION_TOKEN)
    if token:
        async with request.app[ENGINE].begin() as conn:
            await auth.logout(conn, token)
    response = see_other("/")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


@pages.post("/me/language", roles=PUBLIC)
async def change_language(
    request: web.Request, user: CurrentUser | None, form: Form
) -> web.StreamResponse:
    locale = str(form.get("locale", ""))
    if locale not in i18n.LOCALES:
        raise InputError(f"unknown language {locale[:16]!r}")
    if user is not None:
        async with request.app[ENGINE].begin() as conn:
            await auth.set_preferences(conn, user.id, ui_locale=locale)
    response = see_other(safe_next(str(form.get("next", "/"))))
    response.set_cookie(
        i18n.COOKIE,
        locale,
        max_age=365 * 24 * 3600,
        samesite="Lax",
        secure=request.app[SETTINGS].cookie_secure,
        path="/",
    )
    raise response


async def _profile(
    request: web.Request, user: CurrentUser, status: int = 200, **context: Any
) -> web.Response:
    async with request.app[ENGINE].connect() as conn:
        phone = await conn.scalar(select(User.phone).where(User.id == user.id))
    context.setdefault("error", None)
    context.setdefault("flash", None)
    return render(request, "me.html", status=status, phone=phone or "", **context)


@pages.get("/me", roles=EVERYONE)
async def profile(request: web.Request, user: CurrentUser) -> web.StreamResponse:
    flash = {"password": _("Your password is changed."), "phone": _("Your phone is saved.")}
    return await _profile(request, user, flash=flash.get(request.query.get("saved", "")))


@pages.post("/me/password", roles=EVERYONE)
async def change_password(
    request: web.Request, user: CurrentUser, form: Form
) -> web.StreamResponse:
    current = str(form.get("current", ""))
    new = str(form.get("new", ""))
    if new != str(form.get("confirm", "")):
        return await _profile(
            request, user, status=400, error=_("The new password and its confirmation differ.")
        )
    if len(new) < auth.MIN_PASSWORD_LENGTH:
        return await _profile(
            request,
            user,
            status=400,
            error=_(
                "A password has at least %(count)d characters.", count=auth.MIN_PASSWORD_LENGTH
            ),
        )
    try:
        async with request.app[ENGINE].begin() as conn:
            await auth.change_own_password(conn, user.id, current, new)
    except InputError as exc:
        message = {
            "the current password is wrong": _("The current password is wrong."),
            "the new password is the current one": _("The new password is the current one."),
        }.get(exc.message, exc.message)
        return await _profile(request, user, status=400, error=message)
    # Every session ended with the change (a leak is the usual reason); this one goes on anew.
    settings = request.app[SETTINGS]
    outcome = await log_in(request, user.username, new, channel="form")
    response = see_other("/me?saved=password")
    if outcome.token is not None:
        set_session_cookie(
            response, outcome.token, settings.cookie_secure, settings.session_ttl_hours
        )
    raise response


@pages.post("/me/phone", roles=EVERYONE)
async def change_phone(request: web.Request, user: CurrentUser, form: Form) -> web.StreamResponse:
    raw = str(form.get("phone", "")).strip()
    phone = ""
    if raw:
        try:
            phone = normalise(raw, request.app[SETTINGS].default_phone_region)
        except InvalidPhone:
            return await _profile(
                request, user, status=400, error=_("That is not a phone number we can call.")
            )
    async with request.app[ENGINE].begin() as conn:
        await auth.set_preferences(conn, user.id, phone=phone)
    raise see_other("/me?saved=phone")
