"""Users, for administrators: the list, creating a user, changing a role, deactivating, and
resetting a password. Each form calls the service its API twin calls (service.web.api.users)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from service import auth
from service.assignment import staff
from service.auth import CurrentUser
from service.db.models import Role
from service.errors import ArrearsError
from service.web.api.users import NewUser, PasswordReset, RoleChange
from service.web.keys import ENGINE
from service.web.ui.framework import ADMIN, Form, Pages, see_other
from service.web.ui.i18n import gettext as _
from service.web.ui.render import render
from service.web.ui.task_view import Problem, api_body, field_text, problem
from service.web.ui.tools.common import flash

pages = Pages("tools")

FLASHES = {
    "created": lambda: _("The user is created."),
    "role": lambda: _("The role is changed; the user signs in again."),
    "deactivated": lambda: _("The user is deactivated and signed out."),
    "password": lambda: _("The password is set; the user's sessions have ended."),
}


def _refusal(exc: ArrearsError) -> Problem:
    rule = exc.details.get("rule") if isinstance(exc.details, dict) else None
    if rule == "holds_accounts":
        text = _("This collector still holds open accounts: hand them over first.")
        return Problem(text, exc.message, 409)
    if rule == "last_admin":
        return Problem(_("The last active administrator stays one."), exc.message, 409)
    found = problem(exc)
    if "password" in found.fields:
        text = _("A password has at least %(count)s characters.", count=auth.MIN_PASSWORD_LENGTH)
        return Problem(text, exc.message, 422, found.fields)
    if "username" in found.fields:
        text = _("A username is letters, digits and . _ @ - only.")
        return Problem(text, exc.message, 422, found.fields)
    if found.text in (_("Please correct the form."), _("This could not be done.")):
        return Problem(_("This could not be done."), exc.message, found.status, found.fields)
    return found


def _entered(form: Form | None) -> dict[str, str]:
    # Never shown again: a password typed.
    skip = {"csrf_token", "password"}
    return {k: str(form[k]) for k in form if k not in skip} if form else {}


async def _list_page(
    request: web.Request, refused: Problem | None = None, entered: Form | None = None
) -> web.Response:
    async with request.app[ENGINE].connect() as conn:
        users = await staff.list_users(conn)
    return render(
        request,
        "tools/users.html",
        status=refused.status if refused else 200,
        users=users,
        roles=list(Role),
        refused=refused,
        entered=_entered(entered),
        flash=flash(request, FLASHES),
        min_password=auth.MIN_PASSWORD_LENGTH,
    )


async def _user_page(
    request: web.Request, refused: Problem | None = None, **context: Any
) -> web.Response:
    async with request.app[ENGINE].connect() as conn:
        shown = await staff.show_user(conn, user_id=int(request.match_info["id"]))
    return render(
        request,
        "tools/user.html",
        status=refused.status if refused else 200,
        shown=shown,
        roles=list(Role),
        refused=refused,
        flash=flash(request, FLASHES),
        min_password=auth.MIN_PASSWORD_LENGTH,
        **context,
    )


@pages.get("/tools/users", roles=ADMIN)
async def user_list(request: web.Request) -> web.StreamResponse:
    return await _list_page(request)


@pages.post("/tools/users", roles=ADMIN)
async def create(request: web.Request, user: CurrentUser, form: Form) -> web.StreamResponse:
    """POST /api/users."""
    try:
        body = api_body(
            NewUser,
            {
                "username": field_text(form, "username"),
                "display_name": field_text(form, "display_name"),
                "role": field_text(form, "role"),
                "password": str(form.get("password", "")),
                "languages": field_text(form, "languages") or "zh-CN",
            },
        )
        async with request.app[ENGINE].begin() as conn:
            user_id = await auth.create_user(conn, actor=user.username, **body.model_dump())
    except ArrearsError as exc:
        return await _list_page(request, _refusal(exc), form)
    raise see_other(f"/tools/users/{user_id}?flash=created")


@pages.get("/tools/users/{id:[0-9]{1,9}}", roles=ADMIN)
async def user_detail(request: web.Request) -> web.StreamResponse:
    return await _user_page(request)


async def _username(request: web.Request) -> str:
    async with request.app[ENGINE].connect() as conn:
        shown = await staff.show_user(conn, user_id=int(request.match_info["id"]))
    return str(shown["username"])


@pages.post("/tools/users/{id:[0-9]{1,9}}/role", roles=ADMIN)
async def set_role(request: web.Request, user: CurrentUser, form: Form) -> web.StreamResponse:
    """POST /api/users/{username}/role."""
    username = await _username(request)
    try:
        body = api_body(RoleChange, {"role": field_text(form, "role")})
        async with request.app[ENGINE].begin() as conn:
            await staff.set_role(conn, username, body.role, user.username, user.id)
    except ArrearsError as exc:
        return await _user_page(request, _refusal(exc))
    raise see_other(f"/tools/users/{request.match_info['id']}?flash=role")


@pages.post("/tools/users/{id:[0-9]{1,9}}/deactivate", roles=ADMIN)
async def deactivate(request: web.Request, user: CurrentUser) -> web.StreamResponse:
    """POST /api/users/{username}/deactivate."""
    username = await _username(request)
    try:
        async with request.app[ENGINE].begin() as conn:
            await staff.deactivate(conn, username, user.username, user.id)
    except ArrearsError as exc:
        return await _user_page(request, _refusal(exc))
    raise see_other(f"/tools/users/{request.match_info['id']}?flash=deactivated")


@pages.post("/tools/users/{id:[0-9]{1,9}}/password", roles=ADMIN)
async def reset_password(request: web.Request, user: CurrentUser, form: Form) -> web.StreamResponse:
    """POST /api/users/{username}/password."""
    username = await _username(request)
    try:
        body = api_body(PasswordReset, {"password": str(form.get("password", ""))})
        async with request.app[ENGINE].begin() as conn:
            await staff.reset_password(conn, username, body.password, user.username)
    except ArrearsError as exc:
        return await _user_page(request, _refusal(exc), opened="password")
    raise see_other(f"/tools/users/{request.match_info['id']}?flash=password")
