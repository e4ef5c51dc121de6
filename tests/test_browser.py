"""The landing page and login in a real browser (Debian's Chromium driven by Playwright)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import async_playwright

from service.db.models import Role
from service.settings import Settings
from service.web.app import create_app
from tests.conftest import PASSWORD, make_user

CHROMIUM = "/usr/bin/chromium"
# Without these, Chromium reaches for Google's services, which this machine's network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def sqlite_settings(sqlite_template: Path, tmp_path: Path) -> Settings:
    path = tmp_path / "arrears.db"
    shutil.copy(sqlite_template, path)
    return Settings(database_url=f"sqlite+aiosqlite:///{path}", var_dir=tmp_path / "var")


async def test_a_supervisor_logs_in_and_sees_the_portfolio(
    aiohttp_server: Any, sqlite_settings: Settings, tmp_path: Path
) -> None:
    from service.db.engine import create_engine

    engine = create_engine(sqlite_settings)
    try:
        await make_user(engine, "supervisor", Role.supervisor)
    finally:
        await engine.dispose()
    server: TestServer = await aiohttp_server(create_app(sqlite_settings))
    base = f"http://127.0.0.1:{server.port}"

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            await page.goto(base + "/")
            await page.get_by_role("link", name="Log in").first.click()
            await page.get_by_label("Username").fill("supervisor")
            await page.get_by_label("Password").fill("wrong password!")
            await page.get_by_role("button", name="Log in").click()
            assert await page.get_by_role("alert").inner_text() == "Wrong username or password."

            await page.get_by_label("Username").fill("supervisor")
            await page.get_by_label("Password").fill(PASSWORD)
            await page.get_by_role("button", name="Log in").click()
            await page.get_by_role("heading", name="Portfolio").wait_for()
            assert await page.get_by_test_id("loans").inner_text() == "0"
            await page.screenshot(path=str(tmp_path / "portfolio.png"))

            await page.get_by_role("button", name="Log out").click()
            await page.get_by_role("link", name="Log in").first.wait_for()
        finally:
            await browser.close()
