"""A promise's whole life on both databases, through the real ``twilio`` SDK and the local
Twilio-compatible server: the debtor promises on a reminder call's keypad → the day before its
date a reminder SMS goes out (the guard lets it through the pending promise that defers the
dunning) → a partial payment arrives in an import → after the date and its grace the promise
is partially kept → the plan's follow-up is planned that night."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from service.cli import main
from service.clock import FixedClock
from service.contact.dispatch import open_dispatcher
from service.contact.sweeper import dispatch_once
from service.settings import Settings
from tests.test_dispatch_twilio import NOON, SHANGHAI, _loop, _rows, _until
from tests.test_treatment import DAY
from tests.test_treatment import portfolio as portfolio  # the fixture, shared

GRACE = 1
PROMISED_ON = DAY + dt.timedelta(days=3)  # keyed in as "in 3 days"
OUTBOX = (
    "SELECT o.step, o.channel, o.status, o.reasons, o.body, o.context FROM outbox o "
    "JOIN loans l ON l.id = o.loan_id WHERE l.loan_ref = 'L-CALL' AND o.planned_for = '{day}' "
    "ORDER BY o.id"
)


def _cob(day: dt.date) -> None:
    assert main(["cob", "--as-of", day.isoformat()]) == 0


async def test_a_keypad_promise_is_reminded_partly_kept_and_followed_up(
    portfolio: Path,
    aiohttp_server: Any,
    settings: Settings,
    engine: AsyncEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ARREARS_PROMISE_GRACE_DAYS", str(GRACE))
    settings = dataclasses.replace(settings, promise_grace_days=GRACE)
    await asyncio.to_thread(_cob, DAY)
    fake, ours, (fake_context, _) = await _loop(aiohttp_server, settings, engine, FixedClock(NOON))
    try:
        # The reminder call: 1 (promise), 500#, in 3# days, 1 (confirm).
        await fake.post(
            "/_fake/scripts",
            {"+8613800138004": {"outcome": "answered", "digits": ["1", "500#", "3#", "1"]}},
        )
        async with open_dispatcher(ours, engine, FixedClock(NOON)) as dispatcher:
            await dispatch_once(dispatcher)

        async def promised() -> bool:
            return bool(await _rows(engine, "SELECT id FROM promises WHERE source = 'ivr'"))

        await _until(promised)
        ((amount, promised_on, status),) = await _rows(
            engine, "SELECT amount, promised_on, status FROM promises"
        )
        assert (Decimal(str(amount)), str(promised_on), status) == (
            Decimal(500),
            str(PROMISED_ON),
            "pending",
        )

        # The day before its date: the promise's reminder is planned and sent, while the
        # day's reminder call waits for the promise (date + grace).
        eve = PROMISED_ON - dt.timedelta(days=1)
        await asyncio.to_thread(_cob, eve)
        planned = {row[0]: row[1:] for row in await _rows(engine, OUTBOX.format(day=eve))}
        assert planned["promise_reminder"][:2] == ("sms", "pending")
        assert planned["reminder_call"][:3] == ("call", "deferred", "promise_pending")
        morning = dt.datetime.combine(eve, dt.time(10, 5), SHANGHAI)
        async with open_dispatcher(ours, engine, FixedClock(morning)) as dispatcher:
            await dispatch_once(dispatcher)
        sent = {row[0]: row[1:] for row in await _rows(engine, OUTBOX.format(day=eve))}
        assert sent["promise_reminder"][1] == "sent"
        body = sent["promise_reminder"][3]
        assert "500.00" in body
        assert PROMISED_ON.isoformat() in body
        delivered = (await fake.stats())["deliveries"].get("+8613800138004", {})
        assert sum(delivered.values()) >= 1

        # 200 of the 500 arrives in the lender's file on the promised day: counted at once.
        drop = portfolio.parent / "payments"
        drop.mkdir()
        (drop / "payments.csv").write_text(
            f"payment_ref,loan_ref,paid_on,amount\nPAY-1,L-CALL,{PROMISED_ON},200.00\n"
        )
        imported = await asyncio.to_thread(
            main, ["import", str(drop), "--as-of", PROMISED_ON.isoformat()]
        )
        assert imported == 0
        ((status, paid),) = await _rows(engine, "SELECT status, paid_amount FROM promises")
        assert (status, Decimal(str(paid))) == ("pending", Decimal(200))

        # The night after the date and its grace: partially kept, the follow-up planned.
        missed = PROMISED_ON + dt.timedelta(days=GRACE + 1)
        await asyncio.to_thread(_cob, missed)
        ((status, paid, settled_on),) = await _rows(
            engine, "SELECT status, paid_amount, settled_on FROM promises"
        )
        assert (status, Decimal(str(paid)), str(settled_on)) == (
            "partially_kept",
            Decimal(200),
            str(missed),
        )
        follow_up = {row[0]: row[1:] for row in await _rows(engine, OUTBOX.format(day=missed))}
        assert follow_up["promise_missed"][:2] == ("sms", "pending")
        assert '"promise_left": "300.00"' in follow_up["promise_missed"][4]  # still due
        events = [
            action
            for (action,) in await _rows(
                engine, "SELECT action FROM audit_log WHERE action LIKE 'promise.%' ORDER BY id"
            )
        ]
        assert events == ["promise.pending", "promise.partially_kept"]
    finally:
        await fake_context.__aexit__(None, None, None)
