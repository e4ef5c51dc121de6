"""The field visit on a phone's screen, in a real browser (Debian's Chromium through Playwright,
at an iPhone-sized 390×844 viewport): no sideways scrolling, every control of the visit's form
at least 44 px high and inside the screen, the promise's fields shown only for a promise, and
the visit recorded with a photo from the form."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Page, ViewportSize, async_playwright

from service.clock import FixedClock
from service.db.engine import create_engine
from service.settings import Settings
from service.web.app import create_app
from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.conftest import PASSWORD
from tests.task_floor import PNG, build_floor, moment

PHONE: ViewportSize = {"width": 390, "height": 844}
TAP = 44  # px: WCAG 2.5.5's target size, Apple's and Google's minimum
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"


async def serious_violations(page: Page) -> list[str]:
    """axe-core's serious and critical findings on the page as it stands (the context bypasses
    the CSP for the injected script only)."""
    await page.add_script_tag(path=str(AXE))
    found = await page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".filter(v => ['serious', 'critical'].includes(v.impact))"
        ".map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))"
    )
    return list(found)


@pytest.fixture
def sqlite_settings(sqlite_template: Path, tmp_path: Path) -> Settings:
    path = tmp_path / "arrears.db"
    shutil.copy(sqlite_template, path)
    return Settings(
        database_url=f"sqlite+aiosqlite:///{path}", var_dir=tmp_path / "var", dispatch="off"
    )


async def test_a_field_collector_records_a_visit_on_a_phone(
    aiohttp_server: Any, sqlite_settings: Settings, tmp_path: Path
) -> None:
    clock = FixedClock(moment(25))
    engine = create_engine(sqlite_settings)
    try:
        floor = await build_floor(engine, sqlite_settings, clock, tmp_path / "drop")
        visit = await floor.task("L-LOST", "field_visit")
        server: TestServer = await aiohttp_server(create_app(sqlite_settings, clock))
        base = f"http://127.0.0.1:{server.port}"
        door = tmp_path / "door.png"
        door.write_bytes(PNG)

        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                context = await browser.new_context(
                    viewport=PHONE,
                    device_scale_factor=3,
                    is_mobile=True,
                    has_touch=True,
                    bypass_csp=True,  # for axe-core's script only
                )
                page = await context.new_page()
                await page.goto(f"{base}/login?next=/tasks")
                await page.get_by_label("Username").fill("field")
                await page.get_by_label("Password").fill(PASSWORD)
                await page.get_by_role("button", name="Log in").click()
                await page.get_by_role("heading", name="Tasks").wait_for()
                await page.locator(f'a[href="/tasks/{visit}"]').click()
                await page.get_by_role("heading", name="Record the visit").wait_for()
                await page.screenshot(path=str(tmp_path / "visit-phone.png"), full_page=True)
                assert await serious_violations(page) == []

                # Nothing wider than the screen: no sideways scrolling, no zoom needed.
                width = await page.evaluate("document.documentElement.scrollWidth")
                assert width <= PHONE["width"], f"the page is {width} px wide"
                form = page.get_by_test_id("visit-form")
                box = await form.bounding_box()
                assert box is not None
                assert box["x"] >= 0
                assert box["x"] + box["width"] <= PHONE["width"]
                # Every control a finger taps is at least 44 px high and on the screen.
                targets = form.locator(
                    "label.choice, input:not([type=hidden]):not([type=radio]), textarea, "
                    "button, select"
                )
                assert await targets.count() >= 10
                for index in range(await targets.count()):
                    target = targets.nth(index)
                    if not await target.is_visible():
                        continue
                    found = await target.bounding_box()
                    assert found is not None
                    what = await target.evaluate("e => e.outerHTML.slice(0, 80)")
                    assert found["height"] >= TAP, what
                    assert found["x"] + found["width"] <= PHONE["width"], what

                # The promise's fields appear with the outcome that takes them.
                amount = page.get_by_label("Amount promised")
                assert not await amount.is_visible()
                await page.get_by_label("The debtor promised to pay").check()
                assert await amount.is_visible()
                await page.get_by_label("Nobody at the address").check()
                assert not await amount.is_visible()

                await page.get_by_label("Notes").fill("门锁着, 邻居说很久没人")
                await page.locator("#visit-photos").set_input_files(str(door))
                await page.get_by_test_id("record-visit").click()
                await page.get_by_text("The visit is recorded.").wait_for()
                assert await page.get_by_test_id("task-status").inner_text() == "Unsuccessful"
                assert await page.locator(".photos img").count() == 1
                source = await page.locator(".photos img").get_attribute("src")
                served = await page.request.get(f"{base}{source}")
                assert served.status == 200
                assert await served.body() == PNG
                width = await page.evaluate("document.documentElement.scrollWidth")
                assert width <= PHONE["width"]
                await page.screenshot(path=str(tmp_path / "visit-recorded.png"), full_page=True)
            finally:
                await browser.close()
        assert await floor.rows("SELECT status, outcome FROM tasks WHERE id = :id", id=visit) == [
            ("failed", "not_at_home")
        ]
        assert await floor.rows("SELECT filename FROM task_attachments") == [("door.png",)]
    finally:
        await engine.dispose()


async def test_the_supervisors_task_pages_pass_the_accessibility_check(
    aiohttp_server: Any, sqlite_settings: Settings, tmp_path: Path
) -> None:
    clock = FixedClock(moment(25))
    engine = create_engine(sqlite_settings)
    try:
        floor = await build_floor(engine, sqlite_settings, clock, tmp_path / "drop")
        proposal = await floor.task("L-LOSS", "write_off_proposal")
        review = await floor.task("L-M4", "legal_review")
        inspection = await floor.task("L-M4", "inspection")
        server: TestServer = await aiohttp_server(create_app(sqlite_settings, clock))
        base = f"http://127.0.0.1:{server.port}"
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                context = await browser.new_context(bypass_csp=True)
                page = await context.new_page()
                await page.goto(f"{base}/login?next=/tasks")
                await page.get_by_label("Username").fill("sup1")
                await page.get_by_label("Password").fill(PASSWORD)
                await page.get_by_role("button", name="Log in").click()
                await page.get_by_role("heading", name="Tasks").wait_for()
                assert await serious_violations(page) == []
                await page.goto(f"{base}/tasks/{proposal}")
                await page.get_by_label("Reason").fill("uncollectable")
                await page.get_by_role("button", name="Propose the write-off").click()
                await page.get_by_text("The write-off is proposed.").wait_for()
                pages = [f"/tasks/{review}", f"/tasks/{inspection}", "/write-offs", "/agencies"]
                for path in ["", *pages]:
                    if path:
                        await page.goto(base + path)
                    assert await serious_violations(page) == [], path or page.url
                    await page.screenshot(
                        path=str(
                            tmp_path / f"{path.strip('/').replace('/', '-') or 'write-off'}.png"
                        ),
                        full_page=True,
                    )
            finally:
                await browser.close()
    finally:
        await engine.dispose()
