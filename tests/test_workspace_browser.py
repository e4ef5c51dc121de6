"""A collector's shift without the mouse, in Chromium: n takes the next account, o goes to the
outcome form, Enter logs it and leaves the focus on "Next account"; p opens the promise form,
Enter records it; both are on the timeline; the older items append in place."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer
from playwright.async_api import Page, async_playwright
from sqlalchemy import select

from service.db.engine import create_engine
from service.db.models import Attempt, Promise
from service.settings import Settings
from service.web.app import create_app
from tests.browser import axe_violations, launch, log_in
from tests.test_workspace import demo_floor


async def _focused(page: Page) -> str:
    return str(await page.evaluate("document.activeElement && document.activeElement.id"))


async def test_a_collector_works_an_account_from_the_keyboard(
    aiohttp_server: Any, sqlite_settings: Settings, tmp_path: Path
) -> None:
    engine = create_engine(sqlite_settings)
    try:
        today = await demo_floor(engine, sqlite_settings, tmp_path)
    finally:
        await engine.dispose()
    server: TestServer = await aiohttp_server(create_app(sqlite_settings))
    base = f"http://127.0.0.1:{server.port}"
    promised_on = (today + dt.timedelta(days=4)).isoformat()

    async with async_playwright() as playwright:
        browser = await launch(playwright)
        try:
            page = await browser.new_page()
            await log_in(page, base, "collector1")
            await page.goto(base + "/work")
            assert await _focused(page) == "next"  # the page opens on "Next account"
            await page.keyboard.press("n")
            await page.wait_for_url("**/accounts/*")
            ref = page.url.rsplit("/accounts/", 1)[1].split("?")[0]
            assert "Your next account" in await page.get_by_role("status").first.inner_text()
            # The contact panel's live states load into their place after the page.
            await page.get_by_test_id("contact-panel").wait_for()
            assert "Debtor" in await page.get_by_test_id("contact-panel").inner_text()
            assert await axe_violations(page) == []

            await page.keyboard.press("o")
            assert await _focused(page) == "outcome-party"
            await page.locator("#outcome-result").select_option("no_answer")
            await page.locator("#outcome-note").focus()
            await page.keyboard.type("rang twice, no answer")
            await page.keyboard.press("Enter")  # a note's Enter sends the form
            await page.wait_for_url(f"**/accounts/{ref}?saved=outcome*")
            assert await _focused(page) == "next"  # done with it: next account is one key away
            timeline = page.locator("#timeline")
            assert "rang twice, no answer" in await timeline.inner_text()

            await page.keyboard.press("p")
            assert await _focused(page) == "promise-amount"
            await page.keyboard.type("250")
            await page.locator("#promise-promised_on").fill(promised_on)
            await page.locator("#promise-amount").press("Enter")
            await page.wait_for_url(f"**/accounts/{ref}?saved=promise*")
            assert (
                "The promise to pay is recorded." in await page.get_by_role("status").inner_text()
            )
            assert "250.00" in await page.locator("#timeline").inner_text()
            assert "250.00" in await page.get_by_test_id("promises").inner_text()

            # The shortcuts are listed on "?".
            await page.keyboard.press("?")
            listed = await page.locator("#shortcuts-list").inner_text()
            for name in ("Next account", "Log a call outcome", "Record a promise"):
                assert name in listed
            await page.keyboard.press("Escape")

            await page.keyboard.press("n")
            await page.wait_for_url(lambda url: "/accounts/" in url and ref not in url)
        finally:
            await browser.close()
    engine = create_engine(sqlite_settings)
    try:
        async with engine.connect() as conn:
            notes = list(
                await conn.scalars(select(Attempt.note).where(Attempt.source == "collector"))
            )
            amounts = list(
                await conn.scalars(select(Promise.amount).where(Promise.created_by == "collector1"))
            )
    finally:
        await engine.dispose()
    assert notes == ["rang twice, no answer"]
    assert [str(amount) for amount in amounts] == ["250.00"]


async def test_the_older_link_appends_the_timeline_in_place(
    aiohttp_server: Any, sqlite_settings: Settings, tmp_path: Path
) -> None:
    from service.devtools.floor import DEMO_MEMBERS
    from tests.test_account_page import _history, an_account

    engine = create_engine(sqlite_settings)
    try:
        await demo_floor(engine, sqlite_settings, tmp_path)
        account = await an_account(engine, DEMO_MEMBERS["collector1"])
        await _history(engine, account, 45)
    finally:
        await engine.dispose()
    server: TestServer = await aiohttp_server(create_app(sqlite_settings))
    base = f"http://127.0.0.1:{server.port}"
    async with async_playwright() as playwright:
        browser = await launch(playwright)
        try:
            page = await browser.new_page()
            await log_in(page, base, "collector1")
            await page.goto(f"{base}/accounts/{account.loan_ref}")
            items = page.locator("#timeline li.tl")
            assert await items.count() == 20
            await page.locator("#timeline a[data-more]").click()
            await page.locator("#timeline li.tl").nth(44).wait_for()  # appended: 20 + 25 more
            assert page.url.endswith(f"/accounts/{account.loan_ref}")  # stayed on the page
            text = await page.locator("#timeline").inner_text()
            assert "history note 0" in text
            assert "history note 44" in text
        finally:
            await browser.close()
