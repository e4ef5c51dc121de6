"""The contact panel in a real browser (Debian's Chromium through Playwright): a collector goes
to the text form with ``m``, previews and sends a text from the keyboard, and the page has no
serious or critical accessibility violation (axe-core), in English and in Chinese."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer
from playwright.async_api import Page, async_playwright

from service.clock import FixedClock
from service.db.engine import create_engine
from service.settings import Settings
from service.web.app import create_app
from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.conftest import PASSWORD
from tests.contact_floor import NOON, PRIMARY, rows, seed

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
SERIOUS = """async () => (await axe.run()).violations
    .filter(v => ["serious", "critical"].includes(v.impact))
    .map(v => v.id + ": " + v.nodes.map(n => n.target.join(" ")).join(", "))"""


async def _serious_violations(page: Page) -> list[str]:
    await page.add_script_tag(path=str(AXE))
    found: list[str] = await page.evaluate(SERIOUS)
    return found


async def test_a_collector_texts_from_the_keyboard_on_an_accessible_panel(
    aiohttp_server: Any, sqlite_settings: Settings, tmp_path: Path
) -> None:
    settings = dataclasses.replace(sqlite_settings, dispatch="off", default_phone_region="CN")
    engine = create_engine(settings)
    try:
        await seed(engine, tmp_path / "drop")
        server: TestServer = await aiohttp_server(create_app(settings, FixedClock(NOON)))
        base = f"http://127.0.0.1:{server.port}"
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                # axe is injected by the test: the page's own CSP would refuse it.
                context = await browser.new_context(bypass_csp=True)
                page = await context.new_page()
                await page.goto(f"{base}/login?next=/accounts/L1/contact")
                await page.get_by_label("Username").fill("col")
                await page.get_by_label("Password").fill(PASSWORD)
                await page.get_by_role("button", name="Log in").click()
                await page.get_by_role("heading", name="Contact", exact=True).wait_for()
                assert await _serious_violations(page) == []

                await page.keyboard.press("m")
                focused = await page.evaluate("document.activeElement.id")
                assert focused == "sms-template"
                await page.keyboard.press("Tab")  # the number
                await page.keyboard.press("Tab")  # Preview
                await page.keyboard.press("Enter")
                await page.get_by_test_id("sms-text").wait_for()
                assert (await page.get_by_test_id("sms-text").inner_text()).endswith("回复TD退订")
                await page.get_by_test_id("sms-send").focus()
                await page.keyboard.press("Enter")
                await page.get_by_role("status").wait_for()
                assert "on its way" in await page.get_by_role("status").inner_text()

                await page.select_option("#language", "zh-CN")
                await page.get_by_role("heading", name="联系", exact=True).wait_for()
                assert "现在可联系" in await page.get_by_test_id("contact-numbers").inner_text()
                assert await _serious_violations(page) == []
            finally:
                await browser.close()
        outbox = await rows(engine, "SELECT phone FROM outbox WHERE step = 'collector_sms'")
        assert outbox == [(PRIMARY,)]
    finally:
        await engine.dispose()
