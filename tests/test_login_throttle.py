"""Login throttling: failures per account and per client address slow down, then lock out for a
while — counted from the audit log, so every web process sees the same count — and every login
through the API or the form is audited."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from service import auth
from service.clock import utcnow
from service.db.models import AuditEvent, Role
from service.settings import Settings
from service.web.app import create_app
from tests.conftest import PASSWORD, make_user
from tests.test_pages import form_token, origin

Client = TestClient[Any, Any]
WRONG = "not the password"


@pytest.fixture
def strict(settings: Settings) -> Settings:
    """Small thresholds; no slowing down (its own test measures that)."""
    return dataclasses.replace(
        settings, login_lock_after=3, login_client_lock_after=6, login_slow_after=100
    )


@pytest.fixture
async def app_client(aiohttp_client: Any, strict: Settings, engine: AsyncEngine) -> Client:
    await make_user(engine, "sup", Role.supervisor)
    await make_user(engine, "col", Role.collector)
    client: Client = await aiohttp_client(create_app(strict))
    return client


@pytest.fixture
def password_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password the server actually checked."""
    checked: list[str] = []
    real = auth.verify_password

    def counting(password: str, stored: str) -> bool:
        checked.append(password)
        return real(password, stored)

    monkeypatch.setattr(auth, "verify_password", counting)
    return checked


async def _api_login(client: Client, username: str, password: str) -> Any:
    return await client.post("/api/session", json={"username": username, "password": password})


async def _events(engine: AsyncEngine, *actions: str) -> list[tuple[str, str, str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(
                AuditEvent.action,
                AuditEvent.entity_type,
                AuditEvent.entity_ref,
                AuditEvent.details,
            )
            .where(AuditEvent.action.in_(actions))
            .order_by(AuditEvent.id)
        )
        return [tuple(row) for row in rows]


async def test_an_account_locks_after_its_failures_without_checking_the_password(
    app_client: Client, engine: AsyncEngine, password_checks: list[str]
) -> None:
    for _ in range(3):
        assert (await _api_login(app_client, "sup", WRONG)).status == 401
    checked = len(password_checks)

    locked = await _api_login(app_client, "sup", PASSWORD)

    assert locked.status == 429
    body = await locked.json()
    assert body["error"]["code"] == "too_many_attempts"
    assert set(body["error"]) == {"code", "message", "details"}
    assert 14 * 60 < int(locked.headers["Retry-After"]) <= 15 * 60
    assert len(password_checks) == checked  # refused before the password was looked at
    assert (await _api_login(app_client, "col", PASSWORD)).status == 201  # others log in
    failures = await _events(engine, auth.LOGIN_FAILED)
    assert [(a, t, r) for a, t, r, _ in failures] == [
        *[(auth.LOGIN_FAILED, "user", "sup"), (auth.LOGIN_FAILED, "client", "127.0.0.1")] * 3
    ]
    assert failures[0][3] == {"client": "127.0.0.1", "channel": "api", "username": "sup"}
    (lockout,) = await _events(engine, auth.LOCKED_OUT)
    assert lockout[1:3] == ("user", "sup")


async def test_an_unknown_user_locks_the_same_way(app_client: Client) -> None:
    for _ in range(3):
        assert (await _api_login(app_client, "nobody", WRONG)).status == 401
    assert (await _api_login(app_client, "nobody", WRONG)).status == 429


async def test_a_client_address_locks_after_its_failures_on_any_accounts(
    app_client: Client,
) -> None:
    for n in range(6):
        assert (await _api_login(app_client, f"guess{n}", WRONG)).status == 401
    assert (await _api_login(app_client, "col", PASSWORD)).status == 429


async def test_a_successful_login_forgives_the_accounts_earlier_failures(
    app_client: Client,
) -> None:
    for _ in range(2):
        assert (await _api_login(app_client, "sup", WRONG)).status == 401
    assert (await _api_login(app_client, "sup", PASSWORD)).status == 201
    for _ in range(2):
        assert (await _api_login(app_client, "sup", WRONG)).status == 401
    assert (await _api_login(app_client, "sup", PASSWORD)).status == 201


async def test_the_lockout_ends_with_the_window(
    app_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(3):
        await _api_login(app_client, "sup", WRONG)
    assert (await _api_login(app_client, "sup", PASSWORD)).status == 429
    later = utcnow() + dt.timedelta(minutes=15, seconds=1)
    monkeypatch.setattr(auth, "utcnow", lambda: later)
    assert (await _api_login(app_client, "sup", PASSWORD)).status == 201


async def test_the_count_is_shared_by_every_web_process(
    app_client: Client, aiohttp_client: Any, strict: Settings
) -> None:
    other: Client = await aiohttp_client(create_app(strict))  # a second process, same database
    assert (await _api_login(app_client, "sup", WRONG)).status == 401
    assert (await _api_login(other, "sup", WRONG)).status == 401
    assert (await _api_login(app_client, "sup", WRONG)).status == 401
    assert (await _api_login(other, "sup", PASSWORD)).status == 429


async def test_failures_past_the_slow_threshold_wait(
    aiohttp_client: Any, settings: Settings, engine: AsyncEngine
) -> None:
    await make_user(engine, "sup", Role.supervisor)
    slow = dataclasses.replace(settings, login_slow_after=2, login_lock_after=10)
    client: Client = await aiohttp_client(create_app(slow))
    loop = asyncio.get_running_loop()
    timings = []
    for _ in range(3):
        started = loop.time()
        assert (await _api_login(client, "sup", WRONG)).status == 401
        timings.append(loop.time() - started)
    assert max(timings[:2]) < 0.9  # the first failures answer at once
    assert timings[2] >= 1.0  # the third waits a second first


async def test_form_logins_are_throttled_and_audited_like_api_ones(
    app_client: Client, engine: AsyncEngine
) -> None:
    async def form_login(password: str) -> Any:
        token = await form_token(app_client)
        data = {"username": "sup", "password": password, "csrf_token": token}
        return await app_client.post("/login", data=data, headers=origin(app_client))

    assert (await form_login(PASSWORD)).status == 200
    (success,) = await _events(engine, auth.LOGIN)
    assert success[1:] == ("user", "sup", {"client": "127.0.0.1", "channel": "form"})
    app_client.session.cookie_jar.clear()
    for _ in range(3):
        assert (await form_login(WRONG)).status == 401
    locked = await form_login(PASSWORD)
    assert locked.status == 429
    assert "Too many failed logins. Try again in 15 minutes." in await locked.text()
    assert int(locked.headers["Retry-After"]) > 14 * 60
    assert [d["channel"] for *_, d in await _events(engine, auth.LOGIN_FAILED)] == ["form"] * 6
