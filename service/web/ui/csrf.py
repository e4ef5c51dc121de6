"""CSRF tokens for the HTML forms, on top of the origin check every cookie request passes
(service.web.middleware.cross_origin).

Logged in, a form's token is bound to the session: an HMAC of the session token, which only the
browser holding the HttpOnly cookie and the server know (the database keeps only the token's
hash, so a reader of the database cannot mint it either). Before login (the login form) there
is no session to bind to, so the token is a double submit: a random value in a cookie of its
own and the same value in the form. Nothing is stored, so any web process checks any form.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from service.web.keys import SESSION_TOKEN, SETTINGS
from service.web.ui.i18n import lazy_gettext as _l

FIELD = "csrf_token"
EXPIRED_FORM = _l("This form has expired or did not come from this site. Please try again.")
COOKIE = "arrears_csrf"
_MINTED = web.RequestKey("csrf_minted", str)


def form_token(request: web.Request) -> str:
    """The token this request's forms carry (minting the pre-login cookie when needed)."""
    session = request.get(SESSION_TOKEN)
    if session:
        return hmac.new(session.encode(), b"arrears form", hashlib.sha256).hexdigest()
    token = request.get(_MINTED) or request.cookies.get(COOKIE, "")
    if len(token) < 32:
        token = secrets.token_urlsafe(32)
        request[_MINTED] = token
    return token


def set_cookie(request: web.Request, response: web.StreamResponse) -> None:
    """Send the pre-login token's cookie if this request minted one."""
    minted = request.get(_MINTED)
    if minted:
        settings = request.app[SETTINGS]
        response.set_cookie(
            COOKIE,
            minted,
            httponly=True,
            samesite="Strict",
            secure=settings.cookie_secure,
            path="/",
        )


def valid(request: web.Request, form: Mapping[str, Any]) -> bool:
    """Whether the submitted form carries this request's token."""
    sent = form.get(FIELD)
    if not isinstance(sent, str) or not sent:
        return False
    session = request.get(SESSION_TOKEN)
    expected = form_token(request) if session else request.cookies.get(COOKIE, "")
    return bool(expected) and hmac.compare_digest(sent.encode(), expected.encode())


def expired_message() -> str:
    return str(EXPIRED_FORM)
