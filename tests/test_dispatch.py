"""Dispatch: the outbox leaves once, decided again at send time with fresh facts; the error
policy at the channel boundary; the sweeper's recovery of claims and sends left unfinished.

The channel here is the console (the embedded default) or a scripted double of the channel
interface for failures a provider makes; the Twilio SDK against the local Twilio-compatible
server is tests/test_dispatch_twilio.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from service.cli import main
from service.clock import FixedClock
from service.contact.channels import Accepted, Outgoing, PermanentError, TransientError
from service.contact.dispatch import Dispatcher, claim_due, deliver, open_dispatcher
from service.contact.ratelimit import LocalSendRate
from service.contact.sweeper import dispatch_once, sweep
from service.db.models import (
    Attempt,
    Hold,
    OptOut,
    OutboxMessage,
    OutboxStatus,
    PhoneNumber,
    Role,
)
from service.db.models.contact import current
from service.domain.contact import Channel
from service.settings import Settings
from tests.conftest import Db
from tests.test_treatment import DAY
from tests.test_treatment import portfolio as portfolio  # the fixture, shared

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
NOON = dt.datetime.combine(DAY, dt.time(12), SHANGHAI)
EVENING = dt.datetime.combine(DAY, dt.time(21, 30), SHANGHAI)


def _settings(settings: Settings, **changes: object) -> Settings:
    base = dataclasses.replace(
        settings, lender_timezone="Asia/Shanghai", lender_name="测试银行", dispatch="off"
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@dataclasses.dataclass
class ScriptedChannel:
    """A channel that answers each number as told: an error to raise for the first N sends,
    or acceptance; ``taken`` records what the provider would hold (for reconciliation)."""

    name: str = "scripted"
    failures: dict[str, list[Exception]] = dataclasses.field(default_factory=dict)
    sent: list[Outgoing] = dataclasses.field(default_factory=list)
    taken: list[tuple[str, Outgoing]] = dataclasses.field(default_factory=list)
    found_calls: int = 0

    async def send(self, message: Outgoing) -> Accepted:
        queue = self.failures.get(message.to, [])
        if queue:
            error = queue.pop(0)
            if isinstance(error, TransientError) and error.ambiguous:
                self.taken.append((f"SM{len(self.taken):032d}", message))  # taken, then lost
            raise error
        self.sent.append(message)
        ref = f"SM{len(self.taken):032d}"
        self.taken.append((ref, message))
        return Accepted(ref, "queued")

    async def find(self, message: Outgoing, since: dt.datetime) -> list[str]:
        self.found_calls += 1
        return [ref for ref, m in self.taken if m.to == message.to and m.body == message.body]

    async def close(self) -> None:
        return None


@contextlib.asynccontextmanager
async def scripted(
    engine: AsyncEngine, settings: Settings, channel: ScriptedChannel, at: dt.datetime
) -> AsyncIterator[Dispatcher]:
    yield Dispatcher(
        engine, settings, channel, LocalSendRate(1000), FixedClock(at), asyncio.Semaphore(10)
    )


def _statuses(db: Db) -> dict[str, tuple[str, str, str | None]]:
    rows = db.rows(
        "SELECT l.loan_ref, o.channel, o.status, o.reasons FROM outbox o "
        "JOIN loans l ON l.id = o.loan_id WHERE o.channel = 'sms'"
    )
    return {ref: (channel, status, reasons) for ref, channel, status, reasons in rows}


def test_due_reminders_leave_once_through_the_console_with_the_sender_s_footer(
    portfolio: Path, db: Db
) -> None:
    assert main(["cob", "--as-of", DAY.isoformat()]) == 0
    settings = _settings(db.settings)
    pending = db.rows("SELECT count(*) FROM outbox WHERE channel = 'sms' AND status = 'pending'")
    assert pending[0][0] >= 2

    async def go(engine: AsyncEngine) -> tuple[int, int]:
        async with open_dispatcher(settings, engine, FixedClock(NOON)) as dispatcher:
            first = await dispatch_once(dispatcher)
            second = await dispatch_once(dispatcher)
        return first.outcomes["sent"], second.claimed

    sent, again = db.run(go)
    assert sent >= 2
    assert again == 0  # nothing sent twice
    rows = db.rows(
        "SELECT o.id, o.body, o.sender, a.outbox_id, a.result, a.provider_ref, a.template "
        "FROM outbox o JOIN contact_log a ON a.outbox_id = o.id WHERE o.channel = 'sms'"
    )
    assert len(rows) >= 2
    for outbox_id, body, sender, attempt_outbox, result, ref, template in rows:
        assert body.endswith("回复TD退订")  # the profile's footer, added by the sender
        assert body.count("回复TD退订") == 1
        assert sender == "console"
        assert attempt_outbox == outbox_id
        assert result == "delivered"
        assert ref.startswith("CO")
        assert template
    decisions = db.rows("SELECT count(*) FROM guard_decisions WHERE stage = 'dispatch'")
    assert decisions[0][0] >= len(rows)


def test_an_opt_out_and_a_hold_recorded_after_planning_stop_the_send(
    portfolio: Path, db: Db
) -> None:
    assert main(["cob", "--as-of", DAY.isoformat()]) == 0
    planned = _statuses(db)
    assert planned["L-DUE"][1] == "pending"
    assert planned["L-DPD1"][1] == "pending"

    async def record_then_send(engine: AsyncEngine) -> None:
        async with engine.begin() as conn:
            await conn.execute(
                insert(OptOut).values(
                    phone="+8613800138002",
                    channel=Channel.sms,
                    opted_out_at=NOON - dt.timedelta(minutes=30),
                    source="keyword",
                    keyword="TD",
                    recorded_by="arrears",
                )
            )
            borrower = await conn.scalar(
                text("SELECT id FROM borrowers WHERE borrower_ref = 'B-DPD1'")
            )
            await conn.execute(
                insert(Hold).values(
                    hold_ref="H-LATE",
                    borrower_id=borrower,
                    loan_id=None,
                    code="dispute",
                    started_on=DAY,
                    ends_on=None,
                    note="raised after the plan",
                    created_by="test",
                )
            )
        async with open_dispatcher(_settings(db.settings), engine, FixedClock(NOON)) as d:
            await dispatch_once(d)

    db.run(record_then_send)
    after = _statuses(db)
    assert after["L-DUE"][1:] == ("blocked", "opted_out")
    assert after["L-DPD1"][1] == "blocked"
    assert "hold_dispute" in (after["L-DPD1"][2] or "")
    sent_to = {
        phone for (phone,) in db.rows("SELECT phone FROM contact_log WHERE source='dispatch'")
    }
    assert "+8613800138002" not in sent_to


def test_a_defer_at_send_time_is_rescheduled_for_the_first_allowed_moment(
    portfolio: Path, db: Db
) -> None:
    assert main(["cob", "--as-of", DAY.isoformat()]) == 0

    async def late_evening(engine: AsyncEngine) -> None:
        # Due, but the worker only gets to it at 22:30, outside the 08:00-22:00 window.
        async with open_dispatcher(
            _settings(db.settings), engine, FixedClock(EVENING + dt.timedelta(hours=1))
        ) as d:
            await dispatch_once(d)

    db.run(late_evening)
    rows = db.rows(
        "SELECT status, reasons, not_before, next_allowed_at FROM outbox WHERE channel = 'sms'"
    )
    assert rows
    for status, reasons, not_before, next_allowed in rows:
        if "outside_window" in (reasons or ""):
            assert status == "pending"  # never dropped
            assert str(not_before)[:16] == str(next_allowed)[:16]
            assert str(not_before).startswith("2026-11-26 00:00")  # 08:00 Shanghai, next day


async def _planned_day(engine: AsyncEngine, settings: Settings) -> list[int]:
    async with engine.connect() as conn:
        return list(
            (
                await conn.scalars(
                    select(OutboxMessage.id).where(
                        OutboxMessage.status == OutboxStatus.pending,
                        OutboxMessage.channel == "sms",
                    )
                )
            ).all()
        )


def test_transient_failures_are_retried_with_backoff_and_permanent_ones_never(
    portfolio: Path, db: Db
) -> None:
    assert main(["cob", "--as-of", DAY.isoformat()]) == 0
    settings = _settings(db.settings, dispatch_max_tries=3, dispatch_backoff_seconds=10.0)
    channel = ScriptedChannel(
        failures={
            "+8613800138002": [TransientError("HTTP 429", "20429")] * 5,  # never gets through
            "+8613800138003": [PermanentError("HTTP 400 code 21610", "21610")],
            "+8613800138001": [PermanentError("HTTP 400 code 21211", "21211")],
        }
    )

    async def go(engine: AsyncEngine) -> list[tuple[str, str, int, str | None]]:
        moment = NOON
        for _ in range(4):
            async with scripted(engine, settings, channel, moment) as dispatcher:
                await dispatch_once(dispatcher)
            moment += dt.timedelta(minutes=5)  # past every backoff (10 s, 20 s)
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(
                    OutboxMessage.phone,
                    OutboxMessage.status,
                    OutboxMessage.tries,
                    OutboxMessage.error_code,
                ).where(OutboxMessage.channel == "sms")
            )
            return [(p or "", str(s), t, c) for p, s, t, c in rows]

    rows = {phone: (status, tries, code) for phone, status, tries, code in db.run(go)}
    assert rows["+8613800138002"] == ("failed", 3, "20429")  # three tries, then failed
    assert rows["+8613800138003"] == ("failed", 1, "21610")  # never retried
    assert rows["+8613800138001"][:2] == ("failed", 1)
    opted = db.rows("SELECT phone, channel, source FROM opt_outs")
    assert ("+8613800138003", "sms", "provider") in opted
    invalid = db.rows("SELECT e164, status FROM phone_numbers WHERE e164 = '+8613800138001'")
    assert invalid == [("+8613800138001", "invalid")]
    results = dict(db.rows("SELECT phone, result FROM contact_log WHERE source = 'dispatch'"))
    assert results["+8613800138001"] == "not_in_service"  # counts toward 失联
    assert "+8613800138002" not in results  # nothing reached the provider
    reasons = db.rows("SELECT reasons FROM outbox WHERE phone = '+8613800138002'")
    assert reasons == [("retries_spent",)]


def test_a_timeout_after_the_provider_took_the_message_is_reconciled_not_resent(
    portfolio: Path, db: Db
) -> None:
    assert main(["cob", "--as-of", DAY.isoformat()]) == 0
    settings = _settings(db.settings, dispatch_backoff_seconds=1.0)
    channel = ScriptedChannel(
        failures={"+8613800138002": [TransientError("timeout", ambiguous=True)]}
    )

    async def go(engine: AsyncEngine) -> int:
        for moment in (NOON, NOON + dt.timedelta(minutes=1)):
            async with scripted(engine, settings, channel, moment) as dispatcher:
                await dispatch_once(dispatcher)
        return channel.found_calls

    looked = db.run(go)
    assert looked >= 1
    to_that = [m for m in channel.sent if m.to == "+8613800138002"]
    assert to_that == []  # not sent again: the first copy was found at the provider
    held = [ref for ref, m in channel.taken if m.to == "+8613800138002"]
    assert len(held) == 1
    rows = db.rows("SELECT status, provider_ref FROM outbox WHERE phone = '+8613800138002'")
    assert rows == [("sent", held[0])]


def test_claims_of_two_dispatchers_never_overlap(portfolio: Path, db: Db) -> None:
    assert main(["cob", "--as-of", DAY.isoformat()]) == 0

    async def go(engine: AsyncEngine) -> tuple[list[int], list[int], int]:
        async with engine.begin() as conn:
            # Every planned row due now, so there is plenty to fight over.
            await conn.execute(
                update(OutboxMessage)
                .where(OutboxMessage.status.in_((OutboxStatus.blocked, OutboxStatus.deferred)))
                .values(status=OutboxStatus.pending, not_before=NOON)
            )
            total = len(
                (
                    await conn.scalars(
                        select(OutboxMessage.id).where(OutboxMessage.status == OutboxStatus.pending)
                    )
                ).all()
            )
        results = await asyncio.gather(
            *(claim_due(engine, NOON + dt.timedelta(days=2), 3) for _ in range(8))
        )
        mine = [ids for _, ids in results]
        flat = [i for ids in mine for i in ids]
        return flat, sorted(set(flat)), total

    flat, unique, total = db.run(go)
    assert len(flat) == len(unique)  # no row in two claims
    assert len(unique) == min(total, 24)


def test_a_claim_lost_with_its_queue_and_a_send_left_unfinished_are_taken_back(
    portfolio: Path, db: Db
) -> None:
    assert main(["cob", "--as-of", DAY.isoformat()]) == 0
    settings = _settings(db.settings, dispatch_lease_seconds=60)
    channel = ScriptedChannel()

    async def go(engine: AsyncEngine) -> tuple[int, int, int]:
        # A claim whose job Redis lost, and one row a killed worker left "sending" after the
        # provider took it (it is in the provider's list, with no attempt logged here).
        _, ids = await claim_due(engine, NOON, 100)
        assert len(ids) >= 2
        lost_send = ids[0]
        async with engine.begin() as conn:
            await conn.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == lost_send)
                .values(status=OutboxStatus.sending, updated_at=NOON, body="已发出的短信")
            )
            phone = await conn.scalar(
                select(OutboxMessage.phone).where(OutboxMessage.id == lost_send)
            )
        channel.taken.append(
            ("SM" + "7" * 32, Outgoing(lost_send, "sms", phone or "", "x", "已发出的短信"))
        )
        later = NOON + dt.timedelta(minutes=2)
        async with scripted(engine, settings, channel, later) as dispatcher:
            report = await sweep(dispatcher)
            again = await dispatch_once(dispatcher)
        async with engine.connect() as conn:
            attempts = len(
                (
                    await conn.scalars(
                        select(Attempt.id).where(Attempt.outbox_id == lost_send, current())
                    )
                ).all()
            )
        return report.reconciled, report.requeued + again.requeued, attempts

    reconciled, requeued, attempts = db.run(go)
    assert reconciled == 1
    assert requeued >= 1
    assert attempts == 1
    assert len(channel.sent) >= 1
    assert all(m.body != "已发出的短信" for m in channel.sent)  # the reconciled one not resent


def test_a_second_delivery_of_the_same_claim_sends_nothing(portfolio: Path, db: Db) -> None:
    assert main(["cob", "--as-of", DAY.isoformat()]) == 0
    channel = ScriptedChannel()

    async def go(engine: AsyncEngine) -> int:
        claim, ids = await claim_due(engine, NOON, 100)
        async with scripted(engine, _settings(db.settings), channel, NOON) as dispatcher:
            await asyncio.gather(deliver(dispatcher, claim, ids), deliver(dispatcher, claim, ids))
            await deliver(dispatcher, claim, ids)
        return len(ids)

    claimed = db.run(go)
    assert claimed >= 2
    assert len(channel.sent) == len({m.outbox_id for m in channel.sent})


@pytest.mark.parametrize("number", ["+8613800138002"])
def test_a_number_marked_invalid_is_not_dialled_as_the_debtor_s(
    portfolio: Path, db: Db, number: str
) -> None:
    assert main(["cob", "--as-of", DAY.isoformat()]) == 0

    async def invalidate(engine: AsyncEngine) -> None:
        async with engine.begin() as conn:
            await conn.execute(
                update(PhoneNumber).where(PhoneNumber.e164 == number).values(status="invalid")
            )
        async with open_dispatcher(_settings(db.settings), engine, FixedClock(NOON)) as d:
            await dispatch_once(d)

    db.run(invalidate)
    assert db.rows(f"SELECT count(*) FROM contact_log WHERE phone = '{number}'") == [(0,)]


async def test_the_api_shows_what_left_and_serves_the_letter_ready_to_print(
    portfolio: Path, client: Any, engine: AsyncEngine, settings: Settings
) -> None:
    from tests.conftest import login, make_user

    await make_user(engine, "sup", Role.supervisor)
    await make_user(engine, "col", Role.collector)
    staff = {"Authorization": f"Bearer {await login(client, 'sup')}"}
    collector = {"Authorization": f"Bearer {await login(client, 'col')}"}
    await asyncio.to_thread(main, ["cob", "--as-of", DAY.isoformat()])
    later = dt.datetime.combine(DAY, dt.time(18), SHANGHAI)
    async with open_dispatcher(_settings(settings), engine, FixedClock(later)) as dispatcher:
        await dispatch_once(dispatcher)

    page = await (await client.get("/api/outbox?channel=sms&status=sent", headers=staff)).json()
    assert page["total"] >= 2
    first = page["items"][0]
    detail = await (await client.get(f"/api/outbox/{first['id']}", headers=staff)).json()
    assert detail["body"].endswith("回复TD退订")
    assert detail["provider_ref"] == first["provider_ref"]
    assert detail["result"] == "delivered"
    # A collector of no queue sees none of it.
    mine = await (await client.get("/api/outbox", headers=collector)).json()
    assert mine == {"total": 0, "items": []}
    assert (await client.get(f"/api/outbox/{first['id']}", headers=collector)).status == 404

    letters = await (await client.get("/api/outbox?channel=letter", headers=staff)).json()
    ready = [row for row in letters["items"] if "ready_for_print" in row["reasons"]]
    assert ready, letters
    # Handed to print, each letter is in the contact log as sent.
    async with engine.connect() as conn:
        logged = (
            await conn.execute(
                text("SELECT channel, result, template FROM contact_log WHERE channel = 'letter'")
            )
        ).all()
    assert len(logged) == len(ready)
    assert {(channel, result) for channel, result, _ in logged} == {("letter", "sent")}
    html = await client.get(f"/api/outbox/{ready[0]['id']}/letter", headers=staff)
    assert html.status == 200
    assert "逾期" in await html.text() or "到期" in await html.text()
    pdf = await client.get(f"/api/outbox/{ready[0]['id']}/letter?format=pdf", headers=staff)
    assert (await pdf.read()).startswith(b"%PDF")
    assert (await client.get(f"/api/outbox/{first['id']}/letter", headers=staff)).status == 404


def test_a_claim_takes_no_more_than_its_limit(portfolio: Path, db: Db) -> None:
    assert main(["cob", "--as-of", DAY.isoformat()]) == 0

    async def go(engine: AsyncEngine) -> tuple[int, int]:
        _, first = await claim_due(engine, NOON + dt.timedelta(days=2), 2)
        _, second = await claim_due(engine, NOON + dt.timedelta(days=2), 3)
        return len(first), len(second)

    assert db.run(go) == (2, 3)


def test_a_callback_quicker_than_the_batch_is_applied_when_the_attempt_is_stored(
    portfolio: Path, db: Db
) -> None:
    from service.contact.inbound import StatusReport, apply_status

    assert main(["cob", "--as-of", DAY.isoformat()]) == 0
    channel = ScriptedChannel()
    first_sid = "SM" + "0" * 32  # what the scripted provider names its first message

    async def go(engine: AsyncEngine) -> tuple[str, list[tuple[Any, ...]]]:
        async with engine.begin() as conn:
            early = await apply_status(conn, StatusReport(first_sid, "delivered"), NOON)
        async with scripted(engine, _settings(db.settings), channel, NOON) as dispatcher:
            await dispatch_once(dispatcher)
        async with engine.connect() as conn:
            found = (
                await conn.execute(
                    text("SELECT provider_status, result FROM contact_log WHERE provider_ref = :r"),
                    {"r": first_sid},
                )
            ).all()
            held = await conn.scalar(text("SELECT count(*) FROM provider_reports"))
        assert held == 0
        return early, [tuple(row) for row in found]

    early, found = db.run(go)
    assert early == "held"
    assert found == [("delivered", "delivered")]
