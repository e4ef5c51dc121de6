"""The supervisor tools (/tools): one module per tool, each a Pages object listed in
service.web.ui.AREAS, and the index page linking to them."""

from __future__ import annotations

from aiohttp import web

from service.auth import CurrentUser
from service.web.ui.framework import ADMIN, STAFF, Pages
from service.web.ui.i18n import lazy_gettext as _l
from service.web.ui.render import render

pages = Pages("tools")

# (path, name, what it is for, who may open it): the index's list, in the order of work.
TOOLS = (
    (
        "/tools/queues",
        _l("Queues and members"),
        _l("Each queue with its accounts and members; create or edit a queue, change its members."),
        STAFF,
    ),
    (
        "/tools/handover",
        _l("Reassign and hand over"),
        _l("Move an account to another queue or collector; hand a leaver's work to another."),
        STAFF,
    ),
    (
        "/tools/plans",
        _l("Treatment plans"),
        _l("The plans in force and their versions; what a day's plan would do (dry run)."),
        STAFF,
    ),
    (
        "/tools/compliance",
        _l("Compliance report"),
        _l("What the guard blocked or deferred, and why, by reason, down to each decision."),
        STAFF,
    ),
    (
        "/tools/outbox",
        _l("Outbox"),
        _l("What was planned and what left, with the console channel's record of each message."),
        STAFF,
    ),
    (
        "/tools/imports",
        _l("Imports and jobs"),
        _l("Upload the lender's files, follow the progress, read the rejected lines; the jobs."),
        STAFF,
    ),
    (
        "/tools/users",
        _l("Users"),
        _l("Create users, set their roles, deactivate them, reset a password."),
        ADMIN,
    ),
)


@pages.get("/tools", roles=STAFF)
async def tools_index(request: web.Request, user: CurrentUser) -> web.StreamResponse:
    shown = [
        {"path": path, "name": str(name), "purpose": str(purpose)}
        for path, name, purpose, roles in TOOLS
        if user.role in roles
    ]
    return render(request, "tools/index.html", tools=shown)
