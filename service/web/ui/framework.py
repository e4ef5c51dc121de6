"""How a page is declared: its path, who may open it, and (for a form's POST) the CSRF check,
in one decorator, so no page forgets either.

    pages = Pages("workspace")

    @pages.get("/work", roles=COLLECTING)
    async def my_queues(request: web.Request, user: CurrentUser) -> web.StreamResponse:
        return render(request, "work/queues.html", ...)

    @pages.post("/accounts/{ref}/outcome", roles=COLLECTING)
    async def log_outcome(request, user, form) -> web.StreamResponse: ...

Anonymous visitors are sent to the login page (and back after it); a user without the role,
and a form without this session's token, get a page saying so (403). A service's refusal
(:class:`~service.errors.ArrearsError`) becomes a page with its message and status, never a
server error; a handler that wants the form shown again with the error catches it itself.
Every declared route is listed in :data:`Pages.routes`, which the access sweep walks.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from aiohttp import BodyPartReader, MultipartReader, web
from multidict import MultiDictProxy

from service.auth import CurrentUser
from service.db.models import Role
from service.errors import ArrearsError, NotFound, PermissionDenied
from service.web.keys import USER
from service.web.ui import csrf, i18n
from service.web.ui.i18n import gettext as _
from service.web.ui.render import page_locale, render

Handler = Callable[..., Awaitable[web.StreamResponse]]
Form = MultiDictProxy[Any]

EVERYONE: tuple[Role, ...] = ()  # any logged-in user
COLLECTING = (Role.collector, Role.supervisor, Role.admin)  # who works accounts
STAFF = (Role.supervisor, Role.admin)
ADMIN = (Role.admin,)
PUBLIC = None  # no login


@dataclasses.dataclass(frozen=True, slots=True)
class PageRoute:
    method: str
    path: str
    roles: tuple[Role, ...] | None  # None: public
    area: str
    handler: Handler


_STATUS = {NotFound: 404, PermissionDenied: 403}


def _status_for(exc: ArrearsError) -> int:
    for cls in type(exc).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    return 409 if exc.code == "conflict" else 400


def refused(request: web.Request, exc: ArrearsError) -> web.Response:
    """The page for a service's refusal: its message, with the status an API client gets."""
    status = _status_for(exc)
    message = _("Not found.") if status == 404 else exc.message
    return render(request, "message.html", status=status, message=message)


def forbidden(request: web.Request) -> web.Response:
    return render(
        request, "message.html", status=403, message=_("You do not have access to this page.")
    )


class Pages:
    """The pages of one area of the UI."""

    def __init__(self, area: str) -> None:
        self.area = area
        self.routes: list[PageRoute] = []

    def get(self, path: str, *, roles: tuple[Role, ...] | None) -> Callable[[Handler], Handler]:
        return self._route("GET", path, roles)

    def post(
        self, path: str, *, roles: tuple[Role, ...] | None, upload: bool = False
    ) -> Callable[[Handler], Handler]:
        """A form's POST. ``upload``: a multipart form with files, streamed (the body may be
        larger than a form's limit): its **first** field must be the CSRF token, checked before
        anything else is read; the handler takes ``parts``, the reader positioned after it."""
        return self._route("POST", path, roles, upload)

    def _route(
        self, method: str, path: str, roles: tuple[Role, ...] | None, upload: bool = False
    ) -> Callable[[Handler], Handler]:
        def decorate(handler: Handler) -> Handler:
            wrapped = _wrap(handler, roles, upload)
            self.routes.append(PageRoute(method, path, roles, self.area, wrapped))
            return handler

        return decorate

    def setup(self, app: web.Application) -> None:
        for route in self.routes:
            app.router.add_route(route.method, route.path, route.handler)


async def _csrf_part(request: web.Request) -> MultipartReader | None:
    """The multipart reader after a first field that is this request's CSRF token, or None."""
    if not request.content_type.startswith("multipart/form-data"):
        return None
    reader = await request.multipart()
    first = await reader.next()
    if not isinstance(first, BodyPartReader) or first.name != csrf.FIELD:
        return None
    token = (await first.read(decode=True))[:256].decode("ascii", "replace")
    return reader if csrf.valid(request, {csrf.FIELD: token}) else None


def _wrap(handler: Handler, roles: tuple[Role, ...] | None, upload: bool) -> Handler:
    wants = inspect.signature(handler).parameters

    async def page(request: web.Request) -> web.StreamResponse:
        token = i18n.activate(page_locale(request))
        try:
            return await _serve(request)
        finally:
            i18n.deactivate(token)

    async def _serve(request: web.Request) -> web.StreamResponse:
        user: CurrentUser | None = request.get(USER)
        arguments: dict[str, Any] = {}
        if roles is not None:
            if user is None:
                target = request.path_qs if request.method == "GET" else "/"
                raise web.HTTPSeeOther(f"/login?next={quote(target, safe='/?=&')}")
            if roles and user.role not in roles:
                return forbidden(request)
        if "user" in wants:
            arguments["user"] = user
        if request.method == "POST" and upload:
            parts = await _csrf_part(request)
            if parts is None:
                return render(request, "message.html", status=403, message=csrf.expired_message())
            arguments["parts"] = parts
        elif request.method == "POST":
            form = await request.post()
            if not csrf.valid(request, form):
                return render(request, "message.html", status=403, message=csrf.expired_message())
            if "form" in wants:
                arguments["form"] = form
        try:
            return await handler(request, **arguments)
        except ArrearsError as exc:
            return refused(request, exc)

    page.__name__ = handler.__name__
    page.__doc__ = handler.__doc__
    return page


def see_other(location: str) -> web.HTTPSeeOther:
    """After a form: the browser fetches the result page (a reload does not post twice)."""
    return web.HTTPSeeOther(location)
