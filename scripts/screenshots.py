"""Screenshots of the main pages in English and Chinese, for the README (docs/screenshots/).

    .venv/bin/python scripts/screenshots.py [--borrowers 1500] [--out docs/screenshots]

Loads the demo lender into a throw-away embedded database (exactly what ``arrears run`` loads),
serves the app on 127.0.0.1, and drives Debian's Chromium through the pages a collector and a
supervisor use, at a desktop's size, and the field-visit page at a phone's.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp import web
from playwright.async_api import Page, async_playwright

from service.assignment.run import strategies_for
from service.cli.common import migrated
from service.devtools.demo import write_demo_portfolio
from service.devtools.floor import create_demo_users, open_floor
from service.ingest.pipeline import ImportOptions, import_directory
from service.settings import Settings
from service.web.app import create_app
from tests.browser import launch

AS_OF = dt.date(2026, 11, 24)
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}


async def _load(settings: Settings, borrowers: int) -> dict[str, str]:
    directory = settings.var_dir / "demo"
    write_demo_portfolio(directory, borrowers=borrowers, as_of=AS_OF, seed=20261124)
    async with migrated(settings) as engine:
        await import_directory(engine, directory, ImportOptions(source="demo", actor="demo"))
        users = {name: password for name, _role, password in await create_demo_users(engine)}
        await open_floor(engine, settings, strategies_for(settings), AS_OF)
    return users


async def _log_in(page: Page, base: str, username: str, password: str) -> None:
    await page.goto(base + "/login")
    await page.locator("#username").fill(username)
    await page.locator("#password").fill(password)
    await page.locator("form[action='/login'] button[type=submit]").click()
    await page.wait_for_load_state("networkidle")


async def _shoot(page: Page, base: str, path: str, target: Path) -> bool:
    response = await page.goto(base + path)
    if response is None or response.status != 200:
        print(f"  skipped {path}: {response.status if response else 'no answer'}")
        return False
    await page.wait_for_load_state("networkidle")
    await page.screenshot(path=str(target), full_page=True)
    print(f"  {target}")
    return True


async def _first(page: Page, base: str, path: str, selector: str) -> str | None:
    """The href of the first link matching ``selector`` on ``path``."""
    await page.goto(base + path)
    link = page.locator(selector).first
    return await link.get_attribute("href") if await link.count() else None


async def main(arguments: argparse.Namespace, out: Path) -> int:
    with tempfile.TemporaryDirectory() as scratch:
        var = Path(scratch)
        settings = Settings(database_url=f"sqlite+aiosqlite:///{var / 'arrears.db'}", var_dir=var)
        passwords = await _load(settings, arguments.borrowers)
        runner = web.AppRunner(create_app(settings))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        server: Any = site._server  # the port the OS chose
        base = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        try:
            async with async_playwright() as playwright:
                browser = await launch(playwright)
                try:
                    for locale in ("en", "zh-CN"):
                        print(locale)
                        context = await browser.new_context(locale=locale, viewport=DESKTOP)
                        page = await context.new_page()
                        await _shoot(page, base, "/login", out / f"login.{locale}.png")
                        await _log_in(page, base, "collector1", passwords["collector1"])
                        await _shoot(page, base, "/work", out / f"work.{locale}.png")
                        account = await _first(page, base, "/work", "a[href^='/accounts/']")
                        if account:
                            await _shoot(page, base, account, out / f"account.{locale}.png")
                        await _shoot(page, base, "/tasks", out / f"tasks.{locale}.png")
                        await context.close()

                        context = await browser.new_context(locale=locale, viewport=DESKTOP)
                        page = await context.new_page()
                        await _log_in(page, base, "supervisor", passwords["supervisor"])
                        for name in ("dashboard", "tools"):
                            await _shoot(page, base, f"/{name}", out / f"{name}.{locale}.png")
                        await context.close()

                        context = await browser.new_context(
                            locale=locale, viewport=PHONE, is_mobile=True, has_touch=True
                        )
                        page = await context.new_page()
                        await _log_in(page, base, "collector2", passwords["collector2"])
                        visit = await _first(page, base, "/tasks", "a[href^='/tasks/']")
                        if visit:
                            await _shoot(page, base, visit, out / f"field-visit.{locale}.png")
                        await context.close()
                finally:
                    await browser.close()
        finally:
            await runner.cleanup()
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--borrowers", type=int, default=1_500)
    parser.add_argument("--out", default="docs/screenshots")
    parsed = parser.parse_args()
    target = Path(parsed.out)
    target.mkdir(parents=True, exist_ok=True)
    raise SystemExit(asyncio.run(main(parsed, target)))
