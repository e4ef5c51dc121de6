"""The landing page: what Arrears is, before login; after it, each role's starting point."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select

from service.auth import CurrentUser
from service.db.models import ImportRun, Role
from service.portfolio.reads import bucket_summary, portfolio_counts
from service.web.keys import ENGINE, SETTINGS
from service.web.ui.framework import PUBLIC, Pages
from service.web.ui.render import render

pages = Pages("home")


@pages.get("/", roles=PUBLIC)
async def index(request: web.Request, user: CurrentUser | None) -> web.StreamResponse:
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
