"""The pages in Chinese and English: the catalogs hold every string the pages can show, a page
in zh-CN shows no English left, a user's language is remembered, and dates, money and numbers
are Babel's for the locale."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from service.db.models import Role, User
from service.devtools.catalogs import problems
from service.domain.delinquency import RiskClass
from service.web import ui
from service.web.ui import i18n
from service.web.ui.account_events import AccountEvent
from service.web.ui.labels import JobStep, label
from tests.conftest import make_user
from tests.test_access import _floor
from tests.test_page_access import _log_in, _path
from tests.test_pages import origin
from tests.ui_text import english_left

Client = TestClient[Any, Any]


def test_every_string_of_the_pages_is_in_both_catalogs_with_a_chinese_translation() -> None:
    assert list(problems()) == []


def test_the_five_categories_are_named_in_chinese_and_in_english() -> None:
    names = {}
    for locale in ("zh-CN", "en"):
        token = i18n.activate(locale)
        try:
            names[locale] = [label(risk) for risk in RiskClass]
        finally:
            i18n.deactivate(token)
    assert names["zh-CN"] == ["正常", "关注", "次级", "可疑", "损失"]
    assert names["en"] == ["Normal", "Special mention", "Substandard", "Doubtful", "Loss"]
    assert label("substandard", "classification") in ("Substandard", "次级")


def test_every_action_the_audit_trail_records_about_an_account_has_a_name() -> None:
    """The account's timeline names its audit events; a new action on a loan without a name
    would show as its code."""
    source = Path(__file__).resolve().parents[1] / "service"
    recorded = (  # audit.record(..., action=…, entity_type="loan"), and the set-based writers'
        re.compile(r'action="([a-z_]+\.[a-z_]+)",\s*entity_type="loan"'),
        re.compile(r'_audit\(\s*conn,\s*"([a-z_]+\.[a-z_]+)"'),
        re.compile(r'_record\(\s*conn,\s*"([a-z_]+\.[a-z_]+)"'),
    )
    actions = {
        action
        for path in source.rglob("*.py")
        for pattern in recorded
        for action in pattern.findall(path.read_text())
    }
    assert len(actions) >= 15
    assert sorted(actions - set(AccountEvent)) == []
    token = i18n.activate("zh-CN")
    try:
        assert label("attempt.logged", "account_event") == "已登记联系记录"
        assert label("promise.kept", "account_event") == "承诺已履行"
        assert label("something.new", "account_event") == "something.new"
    finally:
        i18n.deactivate(token)


def test_every_step_a_job_reports_has_a_name() -> None:
    root = Path(__file__).resolve().parents[1]
    reported = re.compile(r'(?:progress|\.step)\("([^"]+)"\)')
    steps = {
        step
        for folder in ("service", "workers")
        for path in (root / folder).rglob("*.py")
        for step in reported.findall(path.read_text())
    }
    assert len(steps) >= 8
    assert sorted(steps - set(JobStep)) == []


def test_money_numbers_and_dates_are_written_as_the_locale_writes_them() -> None:
    moment = dt.datetime(2026, 11, 24, 1, 30, tzinfo=dt.UTC)
    written = {}
    for locale in ("zh-CN", "en"):
        token = i18n.activate(locale)
        try:
            written[locale] = (
                i18n.format_money(Decimal("12345.5"), "CNY"),
                i18n.format_number(1234567),
                i18n.format_percent(Decimal("0.1234")),
                i18n.format_date(moment.date()),
                i18n.format_datetime(moment, "Asia/Shanghai"),
            )
        finally:
            i18n.deactivate(token)
    assert written["zh-CN"][:4] == ("¥12,345.50", "1,234,567", "12.3%", "2026年11月24日")
    assert written["zh-CN"][4].startswith("2026/11/24 09:30")
    assert written["en"][:4] == ("CN¥12,345.50", "1,234,567", "12.3%", "Nov 24, 2026")
    assert "9:30" in written["en"][4]


def test_the_browser_language_is_the_default_and_a_choice_wins() -> None:
    assert i18n.negotiate(None, None, "zh-CN,zh;q=0.9,en;q=0.8") == "zh-CN"
    assert i18n.negotiate(None, None, "zh-TW;q=0.9") == "zh-CN"
    assert i18n.negotiate(None, None, "fr-FR, en;q=0.5") == "en"
    assert i18n.negotiate(None, None, "q=;;,") == "en"
    assert i18n.negotiate(None, "zh-CN", "en") == "zh-CN"
    assert i18n.negotiate("en", "zh-CN", "zh-CN") == "en"


async def test_every_page_in_chinese_shows_no_english_and_the_choice_is_remembered(
    client: Client, engine: AsyncEngine, tmp_path: Path
) -> None:
    own, _other = await _floor(engine, tmp_path)
    await make_user(engine, "sup", Role.supervisor)
    # Before login: the visitor's choice is a cookie, and the login page follows it.
    page = await client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', await page.text())
    assert token is not None
    switched = await client.post(
        "/me/language",
        data={"locale": "zh-CN", "next": "/login", "csrf_token": token.group(1)},
        headers=origin(client),
    )
    assert switched.status == 200
    assert "<h1>登录</h1>" in await switched.text()

    left: dict[str, list[str]] = {}
    for username in ("col", "sup"):
        csrf = await _log_in(client, username)
        client.session.cookie_jar.clear()  # the user's saved choice, not the cookie, decides
        csrf = await _log_in(client, username)
        saved = await client.post(
            "/me/language",
            data={"locale": "zh-CN", "next": "/", "csrf_token": csrf},
            headers=origin(client),
        )
        assert saved.status == 200
        async with engine.connect() as conn:
            chosen = await conn.scalar(select(User.ui_locale).where(User.username == username))
        assert chosen == "zh-CN"
        client.session.cookie_jar.clear()
        await _log_in(client, username)  # a new session, no cookie: still Chinese
        for route in ui.routes():
            if route.method != "GET" or route.path.endswith(".csv"):
                continue
            response = await client.get(_path(route, own), headers={"Accept-Language": "en"})
            html = await response.text()
            if response.status == 200 and "text/html" in response.content_type:
                assert '<html lang="zh-CN">' in html, route.path
                found = english_left(html)
                if found:
                    left[f"{username} {route.path}"] = found
    assert left == {}, left
