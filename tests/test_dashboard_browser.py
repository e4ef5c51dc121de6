"""The supervisor dashboard in a real browser (Debian's Chromium through Playwright): a
supervisor signs in, opens the dashboard for November, finds on it the JSON API's numbers for
the same range, the charts drawn on their canvases, no serious accessibility violation; then
switches to Chinese and reads the page in Chinese."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Page, async_playwright

from service.db.engine import create_engine
from service.settings import Settings
from service.web.app import create_app
from tests import dashboard_floor
from tests.browser import axe_violations, launch, log_in

RANGE = "from=2026-11-01&to=2026-11-30&group=queue"
# Each KPI cell of the page (data-kpi) and the endpoint and field it comes from.
SHOWN = {
    "recovery_rate": ("recovery", "rows"),
    "collected": ("recovery", "rows"),
    "contact_rate": ("contact", "rows"),
    "rpc_rate": ("contact", "rows"),
    "attempts": ("contact", "rows"),
    "kept_rate": ("promises", "rows"),
    "kept_amount_rate": ("promises", "rows"),
    "roll_rate": ("rolls", "rates"),
    "cure_rate": ("rolls", "rates"),
    "cure_rate_balance": ("rolls", "rates"),
}


@pytest.fixture
def sqlite_settings(sqlite_template: Path, tmp_path: Path) -> Settings:
    path = tmp_path / "arrears.db"
    shutil.copy(sqlite_template, path)
    return Settings(
        database_url=f"sqlite+aiosqlite:///{path}", var_dir=tmp_path / "var", dispatch="off"
    )


async def painted(page: Page, chart: str) -> bool:
    """Whether the chart's canvas has anything drawn on it (a pixel not transparent)."""
    return bool(
        await page.evaluate(
            """id => {
                const canvas = document.querySelector('#' + id + ' canvas');
                if (!canvas) return false;
                const pixels = canvas.getContext('2d')
                    .getImageData(0, 0, canvas.width, canvas.height).data;
                for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) return true;
                return false;
            }""",
            chart,
        )
    )


async def test_a_supervisor_finds_the_apis_numbers_on_the_dashboard_in_both_languages(
    aiohttp_server: Any, sqlite_settings: Settings, tmp_path: Path
) -> None:
    engine = create_engine(sqlite_settings)
    try:
        await dashboard_floor.build(engine, tmp_path / "drop")
    finally:
        await engine.dispose()
    server: TestServer = await aiohttp_server(create_app(sqlite_settings))
    base = f"http://127.0.0.1:{server.port}"
    async with async_playwright() as playwright:
        browser = await launch(playwright)
        try:
            page = await browser.new_page()
            await log_in(page, base, "sup")
            api: dict[str, Any] = {}
            for endpoint in ("recovery", "contact", "promises", "rolls"):
                answer = await page.request.get(f"{base}/api/dashboard/{endpoint}?{RANGE}")
                assert answer.status == 200, await answer.text()
                api[endpoint] = await answer.json()
            await page.goto(f"{base}/dashboard?{RANGE}")
            await page.get_by_role("heading", name="Dashboard", exact=True).wait_for()
            for kpi, (endpoint, rows) in SHOWN.items():
                shown = await page.locator(f'[data-kpi="{kpi}"]').evaluate_all(
                    "cells => cells.map(c => c.dataset.value)"
                )
                expected = [
                    "" if row[kpi] is None else str(row[kpi]) for row in api[endpoint][rows]
                ]
                assert shown == expected, kpi
                assert shown, kpi
            # What a reader sees: Q1's contact rate, 1 of 3 calls answered.
            assert "33.33%" in await page.locator('[data-testid="contact"]').inner_text()
            await page.wait_for_function(
                "() => document.querySelectorAll('#chart-portfolio canvas, #chart-roll canvas')"
                ".length === 2"
            )
            assert await painted(page, "chart-portfolio")
            assert await painted(page, "chart-roll")
            assert await axe_violations(page) == []

            await page.locator("#language").select_option("zh-CN")
            await page.get_by_role("heading", name="管理看板").wait_for()
            text = await page.locator("main").inner_text()
            for words in ("回收率", "迁徙率矩阵", "承诺兑现率", "本人接听率", "各项指标的含义"):
                assert words in text
            assert "Recovery rate" not in text
            assert await painted(page, "chart-portfolio")
            assert await axe_violations(page) == []
        finally:
            await browser.close()
