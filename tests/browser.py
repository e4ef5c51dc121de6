"""Driving Debian's Chromium through Playwright (it cannot download a browser of its own here),
and the accessibility check: axe-core (vendored from npm, tests/vendor/axe-core) run in the page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page, Playwright

from tests.conftest import PASSWORD

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
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
# WCAG 2.1 A and AA, and axe's best practices (landmarks, one h1, headings in order…).
AXE_RULES = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
SERIOUS = ("serious", "critical")


async def launch(playwright: Playwright) -> Browser:
    return await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


async def log_in(page: Page, base: str, username: str, password: str = PASSWORD) -> None:
    await page.goto(base + "/login")
    await page.locator("#username").fill(username)
    await page.locator("#password").fill(password)
    await page.locator("form[action='/login'] button[type=submit]").click()
    await page.wait_for_load_state()


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it stands. The script is
    evaluated through the DevTools protocol, which the page's CSP (script-src 'self') does not
    govern, so the page is checked under its real policy."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.evaluate(AXE.read_text(encoding="utf-8"))
    result = await page.evaluate(
        "rules => axe.run(document, {runOnly: {type: 'tag', values: rules}})", AXE_RULES
    )
    return [
        {
            "id": violation["id"],
            "impact": violation["impact"],
            "help": violation["help"],
            "nodes": [node["target"] for node in violation["nodes"][:5]],
        }
        for violation in result["violations"]
        if violation["impact"] in SERIOUS
    ]
