"""axe-core over every page in Chromium, as a collector and as a supervisor, in English and in
Chinese: no serious or critical violation (WCAG 2.1 A/AA and axe's best practices)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer
from playwright.async_api import async_playwright

from service.db.engine import create_engine
from service.db.models import Role
from service.settings import Settings
from service.web import ui
from service.web.app import create_app
from tests.browser import axe_violations, launch, log_in
from tests.conftest import make_user
from tests.test_access import _floor
from tests.test_page_access import _path


async def test_no_page_has_a_serious_or_critical_accessibility_violation(
    aiohttp_server: Any,
    sqlite_settings: Settings,
    tmp_path: Path,
) -> None:
    engine = create_engine(sqlite_settings)
    try:
        own, _other = await _floor(engine, tmp_path)
        await make_user(engine, "sup", Role.supervisor)
    finally:
        await engine.dispose()
    server: TestServer = await aiohttp_server(create_app(sqlite_settings))
    base = f"http://127.0.0.1:{server.port}"
    pages = [
        route for route in ui.routes() if route.method == "GET" and not route.path.endswith(".csv")
    ]
    found: dict[str, Any] = {}
    checked = 0
    async with async_playwright() as playwright:
        browser = await launch(playwright)
        try:
            for username, role, locale in (
                ("col", Role.collector, "en"),
                ("sup", Role.supervisor, "zh-CN"),
            ):
                context = await browser.new_context(locale=locale)
                page = await context.new_page()
                await page.goto(base + "/login")
                violations = await axe_violations(page)
                if violations:
                    found[f"anonymous /login ({locale})"] = violations
                await log_in(page, base, username)
                for route in pages:
                    if route.roles and role not in route.roles:
                        continue
                    response = await page.goto(base + _path(route, own))
                    assert response is not None
                    if response.status != 200 or "text/html" not in (
                        response.headers.get("content-type", "")
                    ):
                        continue
                    checked += 1
                    violations = await axe_violations(page)
                    if violations:
                        found[f"{username} {route.path} ({locale})"] = violations
                await context.close()
        finally:
            await browser.close()
    assert found == {}, found
    assert checked >= 3


async def test_the_check_finds_what_it_looks_for(aiohttp_server: Any) -> None:
    """A page with an unlabelled field and grey-on-grey text fails the same check."""
    from aiohttp import web

    async def bad(_request: web.Request) -> web.Response:
        return web.Response(
            text='<!doctype html><html lang="en"><head><title>x</title></head><body><main>'
            '<h1>Form</h1><input type="text"><p style="color:#aaa;background:#bbb">faint</p>'
            "</main></body></html>",
            content_type="text/html",
        )

    app = web.Application()
    app.router.add_get("/", bad)
    server: TestServer = await aiohttp_server(app)
    async with async_playwright() as playwright:
        browser = await launch(playwright)
        try:
            page = await browser.new_page()
            await page.goto(f"http://127.0.0.1:{server.port}/")
            rules = {violation["id"] for violation in await axe_violations(page)}
        finally:
            await browser.close()
    assert {"label", "color-contrast"} <= rules
