"""The landing page and login in a real browser (Debian's Chromium driven by Playwright)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer
from playwright.async_api import async_playwright

from service.db.models import Role
from service.settings import Settings
from service.web.app import create_app
from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.conftest import PASSWORD, make_user


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


async def test_a_page_on_another_origin_cannot_post_with_the_supervisors_cookie(
    aiohttp_server: Any, sqlite_settings: Settings
) -> None:
    """A page served from another port of the same host (same site, other origin) auto-posts
    an upload of payments and a payment to the app while the browser holds a supervisor's
    session: both are refused and nothing is stored."""
    from aiohttp import web
    from sqlalchemy import func, select

    from service.db.engine import create_engine
    from service.db.models import ImportRun, Payment

    engine = create_engine(sqlite_settings)
    try:
        await make_user(engine, "supervisor", Role.supervisor)
        server: TestServer = await aiohttp_server(create_app(sqlite_settings))
        app = f"http://127.0.0.1:{server.port}"
        forged = f"""<!doctype html><html><body>
            <form id="upload" method="post" action="{app}/api/imports"
                  enctype="multipart/form-data" target="upload-frame">
              <textarea name="payments.csv">payment_ref,loan_ref,paid_on,amount
EVIL-1,L1,2026-11-20,9999.00
</textarea>
            </form>
            <form id="pay" method="post" action="{app}/api/payments" enctype="text/plain"
                  target="pay-frame">
              <input name='{{"payment_ref":"EVIL-2","loan_ref":"L1","paid_on":"2026-11-20","x":"'
                     value='","amount":"1.00"}}'>
            </form>
            <iframe name="upload-frame"></iframe><iframe name="pay-frame"></iframe>
            <script>
              document.getElementById("upload").submit();
              document.getElementById("pay").submit();
            </script></body></html>"""

        async def forged_page(_request: web.Request) -> web.Response:
            return web.Response(text=forged, content_type="text/html")

        attacker = web.Application()
        attacker.router.add_get("/", forged_page)
        evil: TestServer = await aiohttp_server(attacker)
        assert evil.port != server.port

        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page()
                await page.goto(app + "/login")
                await page.get_by_label("Username").fill("supervisor")
                await page.get_by_label("Password").fill(PASSWORD)
                await page.get_by_role("button", name="Log in").click()
                await page.get_by_role("heading", name="Portfolio").wait_for()

                answers: dict[str, Any] = {}
                page.on("response", lambda r: answers.setdefault(r.url.removeprefix(app), r))
                await page.goto(f"http://127.0.0.1:{evil.port}/")
                for _ in range(100):
                    if {"/api/imports", "/api/payments"} <= set(answers):
                        break
                    await page.wait_for_timeout(50)
                for path in ("/api/imports", "/api/payments"):
                    assert answers[path].status == 403, path
                    # The forger's frames cannot even show the answer (frame-ancestors 'none').
                    assert answers[path].headers["x-frame-options"] == "DENY"

                await page.goto(app + "/")  # the session itself is untouched
                await page.get_by_role("heading", name="Portfolio").wait_for()
            finally:
                await browser.close()
        async with engine.connect() as conn:
            assert await conn.scalar(select(func.count()).select_from(ImportRun)) == 0
            assert await conn.scalar(select(func.count()).select_from(Payment)) == 0
    finally:
        await engine.dispose()
