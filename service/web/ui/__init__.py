"""The server-rendered pages (Jinja2, templates/web): one module per area, each a
:class:`~service.web.ui.framework.Pages`; the static files (CSS, JS, vendored libraries)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from aiohttp import web

from service.web.ui import (
    account,
    agency_pages,
    contact_panel,
    dashboard,
    home,
    session,
    tasks,
    visit_pages,
    work,
    write_off_pages,
)
from service.web.ui import tools as tools_index
from service.web.ui.framework import PageRoute, Pages
from service.web.ui.tools import compliance as tools_compliance
from service.web.ui.tools import imports as tools_imports
from service.web.ui.tools import moves as tools_moves
from service.web.ui.tools import outbox as tools_outbox
from service.web.ui.tools import plans as tools_plans
from service.web.ui.tools import queues as tools_queues
from service.web.ui.tools import users as tools_users

AREAS: tuple[Pages, ...] = (
    home.pages,
    session.pages,
    tasks.pages,
    visit_pages.pages,
    write_off_pages.pages,
    agency_pages.pages,
    work.pages,
    account.pages,
    contact_panel.pages,
    dashboard.pages,
    tools_index.pages,
    tools_outbox.pages,
    tools_compliance.pages,
    tools_imports.pages,
    tools_queues.pages,
    tools_moves.pages,
    tools_users.pages,
    tools_plans.pages,
)


def routes() -> list[PageRoute]:
    """Every page and form route, as the access sweep walks them."""
    return [route for area in AREAS for route in area.routes]


def setup(app: web.Application) -> None:
    for area in AREAS:
        area.setup(app)
    static = Path(str(resources.files("templates").joinpath("web", "static")))
    app.router.add_static("/static/", static, name="static", append_version=False)
