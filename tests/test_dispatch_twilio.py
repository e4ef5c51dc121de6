"""The whole loop through the real ``twilio`` SDK and the local Twilio-compatible server: the
outbox sent, status callbacks signed and applied; a STOP reply blocks the next send within the
minute and gets one confirmation; a keypad promise on a call ends as a stored promise; and two
real dispatcher processes on one database never send a row twice."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from service.cli import main
from service.clock import FixedClock
from service.contact.dispatch import open_dispatcher
from service.contact.sweeper import dispatch_once, sweep
from service.devtools.outbox_load import seed_due_reminders
from service.settings import Settings
from service.web.app import create_app
from tests.test_treatment import DAY
from tests.test_treatment import portfolio as portfolio  # the fixture, shared
from tests.twilio_fake import SID, TOKEN, Fake, running_fake

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
NOON = dt.datetime.combine(DAY, dt.time(12), SHANGHAI)
SENDER = "+8610690002"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _twilio_settings(settings: Settings, fake_url: str, public: str) -> Settings:
    return dataclasses.replace(
        settings,
        lender_timezone="Asia/Shanghai",
        lender_name="测试银行",
        channel="twilio",
        twilio_account_sid=SID,
        twilio_auth_token=TOKEN,
        twilio_from_number=SENDER,
        twilio_base_url=fake_url,
        public_base_url=public,
        send_rate_per_second=1000,
    )


async def _rows(engine: AsyncEngine, sql: str) -> list[tuple[Any, ...]]:
    async with engine.connect() as conn:
        return [tuple(row) for row in await conn.execute(text(sql))]


async def _until(check: Callable[[], Awaitable[bool]], seconds: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "not within the deadline"
        await asyncio.sleep(0.05)


async def _loop(
    aiohttp_server: Any, settings: Settings, engine: AsyncEngine, app_clock: FixedClock
) -> tuple[Fake, Settings, Any]:
    """Our app on a port chosen first (the URL Twilio signs), and the fake posting to it."""
    port = _free_port()
    public = f"http://127.0.0.1:{port}"
    fake_context = running_fake(aiohttp_server, sms_url=f"{public}/webhooks/twilio/sms")
    fake = await fake_context.__aenter__()
    ours = _twilio_settings(settings, fake.base_url, public)
    server = await aiohttp_server(create_app(ours, clock=app_clock), port=port)
    return fake, ours, (fake_context, server)


async def test_a_stop_reply_blocks_the_next_send_and_is_confirmed_once(
    portfolio: Path, aiohttp_server: Any, settings: Settings, engine: AsyncEngine
) -> None:
    await asyncio.to_thread(main, ["cob", "--as-of", DAY.isoformat()])
    fake, ours, (fake_context, _) = await _loop(
        aiohttp_server, settings, engine, FixedClock(NOON - dt.timedelta(seconds=30))
    )
    try:
        stop = {"From": "+8613800138002", "To": SENDER, "Body": "TD"}
        first = await fake.post("/_fake/inbound", stop)
        second = await fake.post("/_fake/inbound", {**stop, "Body": "退订"})
        assert len(first["messages"]) == 1  # the one confirmation
        assert second["messages"] == []
        # Thirty seconds later the dispatcher sends the morning's reminders.
        async with open_dispatcher(ours, engine, FixedClock(NOON)) as dispatcher:
            report = await dispatch_once(dispatcher)
        assert report.outcomes["sent"] >= 2
        stats = await fake.stats()
        to_stopped = stats["deliveries"].get("+8613800138002", {})
        assert sum(to_stopped.values()) == 1  # the confirmation, not the reminder
        rows = await _rows(
            engine,
            "SELECT o.status, o.reasons FROM outbox o JOIN loans l ON l.id = o.loan_id "
            "WHERE l.loan_ref = 'L-DUE' AND o.channel = 'sms'",
        )
        assert rows == [("blocked", "opted_out")]
        sent = await _rows(
            engine, "SELECT provider_ref FROM outbox WHERE status = 'sent' AND channel = 'sms'"
        )
        assert sent
        assert all(ref.startswith("SM") for (ref,) in sent)
        assert stats["duplicates"] == []

        async def delivered() -> bool:
            async with open_dispatcher(ours, engine, FixedClock(NOON)) as each_tick:
                await sweep(each_tick)  # as every tick does: callbacks held meanwhile applied
            found = await _rows(
                engine,
                "SELECT a.provider_status, a.result FROM contact_log a "
                "JOIN outbox o ON o.id = a.outbox_id WHERE o.channel = 'sms'",
            )
            return bool(found) and all(row == ("delivered", "delivered") for row in found)

        await _until(delivered)  # the signed status callbacks came back through the webhook
    finally:
        await fake_context.__aexit__(None, None, None)


async def test_a_keypad_promise_on_a_reminder_call_is_stored(
    portfolio: Path, aiohttp_server: Any, settings: Settings, engine: AsyncEngine
) -> None:
    await asyncio.to_thread(main, ["cob", "--as-of", DAY.isoformat()])
    fake, ours, (fake_context, _) = await _loop(aiohttp_server, settings, engine, FixedClock(NOON))
    try:
        await fake.post(
            "/_fake/scripts",
            {"+8613800138004": {"outcome": "answered", "digits": ["1", "500#", "3#", "1"]}},
        )
        async with open_dispatcher(ours, engine, FixedClock(NOON)) as dispatcher:
            await dispatch_once(dispatcher)
        calls = await _rows(
            engine,
            "SELECT o.id, o.status, o.provider_ref FROM outbox o JOIN loans l "
            "ON l.id = o.loan_id WHERE l.loan_ref = 'L-CALL' AND o.channel = 'call'",
        )
        assert len(calls) == 1
        outbox_id, status, sid = calls[0]
        assert status == "sent"
        assert sid.startswith("CA")

        async def promised() -> bool:
            return bool(await _rows(engine, "SELECT id FROM promises WHERE source = 'ivr'"))

        await _until(promised)
        promise = await _rows(
            engine, "SELECT amount, promised_on, status, attempt_id FROM promises"
        )
        amount, promised_on, state, attempt_id = promise[0]
        assert Decimal(str(amount)) == Decimal(500)
        assert str(promised_on) == str(DAY + dt.timedelta(days=3))
        assert state == "pending"
        call = await _rows(
            engine,
            f"SELECT attempt_ref, disposition FROM contact_log WHERE outbox_id = {outbox_id}",
        )
        made_in = await _rows(engine, f"SELECT attempt_ref FROM attempts WHERE id = {attempt_id}")
        assert call == [(made_in[0][0], "promise_to_pay")]
        transcript = await fake.get(f"/_fake/calls/{sid}")
        assert [g["digits"] for g in transcript["gathers"]] == ["1", "500", "3", "1"]
    finally:
        await fake_context.__aexit__(None, None, None)


def _stats(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_fake/stats", timeout=10) as answer:
        found: dict[str, Any] = json.load(answer)
    return found


def test_two_dispatcher_processes_never_send_a_row_twice(
    backend: str, db: Any, tmp_path: Path
) -> None:
    if backend != "postgresql":
        pytest.skip("many processes at once: PostgreSQL (SQLite runs one writer at a time)")
    count = 600
    now = dt.datetime.now(dt.UTC)

    async def seed(engine: AsyncEngine) -> str:
        return await seed_due_reminders(engine, count, now, prefix="TP")

    zone = db.run(seed)
    port = _free_port()
    env = {
        **os.environ,
        "TWILIO_ACCOUNT_SID": SID,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_FROM_NUMBER": SENDER,
        "TWILIO_BASE_URL": f"http://127.0.0.1:{port}",
        "DATABASE_URL": db.settings.database_url,
        "ARREARS_CHANNEL": "twilio",
        "ARREARS_DISPATCH": "off",
        "ARREARS_LENDER_TIMEZONE": zone,
        "ARREARS_SEND_RATE_PER_SECOND": "100000",
        "ARREARS_DISPATCH_BATCH": "20",  # many small claims: the two fight over every one
        "ARREARS_VAR_DIR": str(tmp_path / "var"),
        "LOG_LEVEL": "WARNING",
    }
    env.pop("REDIS_URL", None)
    cli = [sys.executable, "-m", "service.cli"]
    fake = subprocess.Popen(  # noqa: S603  # our own command line
        [*cli, "fake-twilio", "--port", str(port), "--no-callbacks"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                _stats(port)
                break
            except OSError:
                assert time.monotonic() < deadline, "the fake server did not start"
                time.sleep(0.1)
        dispatchers = [
            subprocess.Popen(  # noqa: S603  # our own command line
                [*cli, "dispatch", "--burst"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for _ in range(2)
        ]
        outputs = [d.communicate(timeout=90) for d in dispatchers]
        stats = _stats(port)
    finally:
        fake.terminate()
        fake.wait(timeout=10)
    reports = [json.loads(out.decode().strip().splitlines()[-1]) for out, _ in outputs]
    sent = [report["outcomes"].get("sent", 0) for report in reports]
    assert sum(sent) == count
    assert all(n > 0 for n in sent), sent  # both took part
    assert stats["duplicates"] == []
    assert stats["messages"]["created"] == count
    assert db.rows("SELECT status, count(*) FROM outbox GROUP BY status") == [("sent", count)]
