"""The supervisor tools in a real browser (Debian's Chromium through Playwright): a supervisor
adds a collector to a queue and takes them off again, then hands a leaving collector's work to
a successor — previewed, then confirmed; and axe-core finds no serious or critical violation on
any tools page, in English as a supervisor and in Chinese as an administrator."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Page, async_playwright, expect

from service.clock import FixedClock
from service.db.engine import create_engine
from service.db.models import Role
from service.settings import Settings
from service.web.app import create_app
from tests.browser import axe_violations, launch, log_in
from tests.conftest import make_user
from tests.task_floor import Floor, build_floor, moment


@pytest.fixture
def sqlite_settings(sqlite_template: Path, tmp_path: Path) -> Settings:
    path = tmp_path / "arrears.db"
    shutil.copy(sqlite_template, path)
    return Settings(
        database_url=f"sqlite+aiosqlite:///{path}", var_dir=tmp_path / "var", dispatch="off"
    )


async def _floor(
    sqlite_settings: Settings, tmp_path: Path, aiohttp_server: Any
) -> tuple[Floor, str]:
    clock = FixedClock(moment(25))
    engine = create_engine(sqlite_settings)
    floor = await build_floor(engine, sqlite_settings, clock, tmp_path / "drop")
    await make_user(engine, "boss", Role.admin)
    server: TestServer = await aiohttp_server(create_app(sqlite_settings, clock))
    return floor, f"http://127.0.0.1:{server.port}"


async def _holder(floor: Floor, loan_ref: str) -> str:
    ((name,),) = await floor.rows(
        "SELECT u.username FROM loans l JOIN users u ON u.id = l.collector_id "
        "WHERE l.loan_ref = :ref",
        ref=loan_ref,
    )
    return str(name)


async def test_a_supervisor_changes_a_queues_members_and_hands_over_a_leaver(
    aiohttp_server: Any, sqlite_settings: Settings, tmp_path: Path
) -> None:
    floor, base = await _floor(sqlite_settings, tmp_path, aiohttp_server)
    try:
        async with async_playwright() as playwright:
            browser = await launch(playwright)
            try:
                page = await browser.new_page()
                await log_in(page, base, "sup1")
                await page.goto(base + "/tools")
                await page.get_by_role("link", name="Queues and members").click()
                await page.get_by_role("link", name="M1 early", exact=True).click()
                await page.get_by_label("Add a collector").select_option("legal")
                await page.get_by_role("button", name="Add", exact=True).click()
                await expect(page.get_by_role("status")).to_have_text(
                    "The collector now works this queue."
                )
                await expect(page.locator('tr[data-member="legal"]')).to_be_visible()
                await page.get_by_role("button", name="Remove legal").click()
                await expect(page.get_by_role("status")).to_have_text(
                    "The collector no longer works this queue."
                )
                await expect(page.locator('tr[data-member="legal"]')).to_have_count(0)
                assert await floor.rows(
                    "SELECT u.username FROM queue_members m JOIN users u ON u.id = m.user_id "
                    "JOIN queues q ON q.id = m.queue_id WHERE q.name = 'M1 early'"
                ) == [("early",)]

                # The handover: previewed (nothing moves), then confirmed.
                await page.goto(base + "/tools")
                await page.get_by_role("link", name="Reassign and hand over").click()
                await page.get_by_label("Leaving collector").select_option("field")
                await page.get_by_label("Successor").select_option("early")
                await page.get_by_role("button", name="Preview").click()
                preview = page.get_by_test_id("preview")
                await expect(preview.get_by_test_id("accounts")).to_have_text("1")
                await expect(preview).to_contain_text("Field visits")
                assert await _holder(floor, "L-LOST") == "field"
                await preview.get_by_role("button", name="Confirm the handover").click()
                await expect(page.get_by_role("status")).to_contain_text(
                    "The handover is done: 1 accounts"
                )
                assert await _holder(floor, "L-LOST") == "early"
            finally:
                await browser.close()
    finally:
        await floor.engine.dispose()


async def _paths(floor: Floor) -> tuple[list[str], list[str]]:
    await floor.execute(
        "INSERT INTO guard_decisions (loan_id, stage, party, channel, contact_at, verdict, "
        "reasons, inputs, decided_at) SELECT id, 'plan', 'debtor', 'sms', :at, 'block', "
        "'outside_window', '{}', :at FROM loans WHERE loan_ref = 'L-LOST'",
        at=moment(25),
    )
    ((decision,),) = await floor.rows("SELECT max(id) FROM guard_decisions")
    ((outbox,),) = await floor.rows("SELECT min(id) FROM outbox")
    ((run,),) = await floor.rows("SELECT min(id) FROM import_runs")
    ((queue,),) = await floor.rows("SELECT id FROM queues WHERE name = 'Field visits'")
    ((user,),) = await floor.rows("SELECT id FROM users WHERE username = 'field'")
    period = "from=2026-11-19&to=2026-11-25"
    return [
        "/tools",
        "/tools/outbox",
        f"/tools/outbox/{outbox}",
        f"/tools/compliance?{period}",
        f"/tools/compliance/decisions?{period}&reason=outside_window",
        f"/tools/compliance/decisions/{decision}",
        "/tools/imports",
        f"/tools/imports/{run}",
        "/tools/jobs",
        "/tools/queues",
        f"/tools/queues/{queue}",
        "/tools/handover",
        "/tools/handover/preview?from=field&to=early",
        "/tools/plans",
    ], [f"/tools/users/{user}", "/tools/users"]


async def _check(page: Page, base: str, paths: list[str]) -> dict[str, Any]:
    found = {}
    for path in paths:
        answer = await page.goto(base + path)
        assert answer is not None
        assert answer.status == 200, path
        # Every <details> open, so what it holds is checked too.
        await page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        violations = await axe_violations(page)
        if violations:
            found[path] = violations
    return found


async def test_the_tools_pages_have_no_serious_accessibility_violation(
    aiohttp_server: Any, sqlite_settings: Settings, tmp_path: Path
) -> None:
    floor, base = await _floor(sqlite_settings, tmp_path, aiohttp_server)
    try:
        staff_paths, admin_paths = await _paths(floor)
        await floor.execute("UPDATE users SET ui_locale = 'zh-CN' WHERE username = 'boss'")
        async with async_playwright() as playwright:
            browser = await launch(playwright)
            try:
                english = await browser.new_page()
                await log_in(english, base, "sup1")
                assert await _check(english, base, staff_paths) == {}
                chinese = await browser.new_page()
                await log_in(chinese, base, "boss")
                await chinese.goto(base + "/tools")
                assert await chinese.get_attribute("html", "lang") == "zh-CN"
                await expect(chinese.get_by_role("heading", level=1)).to_have_text("主管工具")
                assert await _check(chinese, base, staff_paths + admin_paths) == {}
            finally:
                await browser.close()
    finally:
        await floor.engine.dispose()
