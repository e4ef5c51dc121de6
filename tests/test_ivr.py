"""The call's script and keypad menu, driven through the webhooks as Twilio drives them: each
answer's ``<Gather action>`` is the next URL, signed and posted with the keys pressed."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from service.contact.ivr import MAX_DAYS_AHEAD, MenuState, next_turn
from service.settings import Settings
from tests.twilio_support import (
    BASE,
    CALL_SID,
    COLLECTOR,
    Client,
    Floor,
    attempt,
    gather_of,
    post,
    rows,
    said,
    seed,
    twilio_client,
)


@pytest.fixture
async def twilio(aiohttp_client: Any, settings: Settings) -> Client:
    return await twilio_client(aiohttp_client, settings)


async def answered(client: Client, floor: Floor, answered_by: str = "human") -> str:
    form = {"CallSid": CALL_SID, "AnsweredBy": answered_by, "CallStatus": "in-progress"}
    response = await post(client, f"/webhooks/twilio/voice?outbox={floor.call_outbox}", form)
    assert response.status == 200
    assert response.content_type == "text/xml"
    return await response.text()


async def press(client: Client, twiml: str, digits: str) -> str:
    """Key ``digits`` into the menu ``twiml`` offers (at the URL its Gather names)."""
    gather = gather_of(twiml)
    assert gather is not None, twiml
    action = gather.attrib["action"]
    assert action.startswith(BASE)
    response = await post(
        client, action.removeprefix(BASE), {"CallSid": CALL_SID, "Digits": digits}
    )
    assert response.status == 200, await response.text()
    return await response.text()


async def test_a_person_hears_the_script_and_the_menu(twilio: Client, engine: AsyncEngine) -> None:
    floor = await seed(engine)
    script = await answered(twilio, floor)
    assert "Maria Lopez" in said(script)
    gather = gather_of(script)
    assert gather is not None
    assert gather.attrib["numDigits"] == "1"
    assert (
        gather.attrib["action"] == f"{BASE}/webhooks/twilio/voice/menu?outbox={floor.call_outbox}"
    )
    assert "press 1" in said(script)
    assert "press 3" in said(script)


@pytest.mark.parametrize("machine", ["machine_start", "machine_end_beep"])
async def test_a_voicemail_gets_the_script_without_the_menu(
    twilio: Client, engine: AsyncEngine, machine: str
) -> None:
    floor = await seed(engine)
    script = await answered(twilio, floor, machine)
    assert "Maria Lopez" in said(script)
    assert gather_of(script) is None
    assert "press" not in said(script)


async def test_a_us_voicemail_gets_the_limited_script(
    aiohttp_client: Any, settings: Settings, engine: AsyncEngine
) -> None:
    client = await twilio_client(aiohttp_client, settings, compliance_profile="us")
    floor = await seed(engine)
    script = await answered(client, floor, "machine_start")
    assert "important business matter" in said(script)
    assert "overdue" not in said(script)


async def test_the_whole_promise_through_the_keypad(twilio: Client, engine: AsyncEngine) -> None:
    floor = await seed(engine)
    menu = await answered(twilio, floor)
    ask_amount = await press(twilio, menu, "1")
    assert gather_of(ask_amount) is not None
    assert gather_of(ask_amount).attrib["finishOnKey"] == "#"  # type: ignore[union-attr]
    assert "whole yuan" in said(ask_amount)
    ask_date = await press(twilio, ask_amount, "500")
    assert "In how many days will you pay 500 yuan" in said(ask_date)
    read_back = await press(twilio, ask_date, "11")  # 24 November + 11 days
    assert "You promise 500 yuan on 5 December. Press 1 to confirm, 2 to start again" in said(
        read_back
    )
    thanks = await press(twilio, read_back, "1")
    assert "Thank you" in said(thanks)
    assert gather_of(thanks) is None
    promises = await rows(
        engine, "SELECT amount, promised_on, status, source, attempt_id, loan_id FROM promises"
    )
    assert len(promises) == 1
    amount, promised_on, status, source, attempt_id, loan_id = promises[0]
    assert Decimal(str(amount)) == Decimal(500)
    assert str(promised_on) == "2026-12-05"
    assert (status, source, attempt_id, loan_id) == (
        "pending",
        "ivr",
        floor.call_attempt,
        floor.loan_id,
    )
    call = await attempt(engine, id=floor.call_attempt)
    assert call.disposition == "promise_to_pay"
    assert await rows(engine, "SELECT actor, action FROM audit_log") == [
        ("twilio", "promise.pending")
    ]
    # Twilio delivering the confirmation again stores nothing new.
    again = await press(twilio, read_back, "1")
    assert "Thank you" in said(again)
    assert await rows(engine, "SELECT count(*) FROM promises") == [(1,)]


async def test_starting_again_from_the_read_back(twilio: Client, engine: AsyncEngine) -> None:
    floor = await seed(engine)
    read_back = await press(
        twilio,
        await press(twilio, await press(twilio, await answered(twilio, floor), "1"), "300"),
        "0",
    )
    assert "on 24 November" in said(read_back)
    restart = await press(twilio, read_back, "2")
    assert "key the amount" in said(restart)
    assert await rows(engine, "SELECT count(*) FROM promises") == [(0,)]


async def test_bad_keys_are_explained_and_asked_again_three_times_at_most(
    twilio: Client, engine: AsyncEngine
) -> None:
    floor = await seed(engine)
    ask_amount = await press(twilio, await answered(twilio, floor), "1")
    zero = await press(twilio, ask_amount, "0")
    assert "above zero" in said(zero)
    assert "key the amount" in said(zero)
    too_much = await press(twilio, zero, "6000")  # owes 5,230.00
    assert "more than the 5,230.00 yuan you owe" in said(too_much)
    goodbye = await press(twilio, too_much, "*")
    assert gather_of(goodbye) is None
    assert "Goodbye" in said(goodbye)
    call = await attempt(engine, id=floor.call_attempt)
    assert call.disposition == "rpc"  # a person was there, and promised nothing
    assert await rows(engine, "SELECT count(*) FROM promises") == [(0,)]


async def test_a_date_past_the_horizon_is_refused(twilio: Client, engine: AsyncEngine) -> None:
    floor = await seed(engine)
    ask_date = await press(twilio, await press(twilio, await answered(twilio, floor), "1"), "100")
    far = await press(twilio, ask_date, str(MAX_DAYS_AHEAD + 1))
    assert f"at most {MAX_DAYS_AHEAD} days" in said(far)
    assert "In how many days" in said(far)


async def test_a_wrong_menu_key_repeats_the_menu(twilio: Client, engine: AsyncEngine) -> None:
    floor = await seed(engine)
    again = await press(twilio, await answered(twilio, floor), "9")
    assert "not one of the choices" in said(again)
    assert gather_of(again) is not None


async def test_2_connects_a_collector(twilio: Client, engine: AsyncEngine) -> None:
    floor = await seed(engine)
    connect = await press(twilio, await answered(twilio, floor), "2")
    assert f"<Dial>{COLLECTOR}</Dial>" in connect
    call = await attempt(engine, id=floor.call_attempt)
    assert call.disposition == "callback_requested"


async def test_2_without_a_collector_number_gives_the_office_hours(
    aiohttp_client: Any, settings: Settings, engine: AsyncEngine
) -> None:
    client = await twilio_client(aiohttp_client, settings, collector_number=None)
    floor = await seed(engine)
    closed = await press(client, await answered(client, floor), "2")
    assert "<Dial>" not in closed
    assert "<Hangup" in closed
    assert "09:00-18:00" in said(closed)
    assert (await attempt(engine, id=floor.call_attempt)).disposition == "callback_requested"


async def test_3_records_that_they_say_they_paid(twilio: Client, engine: AsyncEngine) -> None:
    floor = await seed(engine)
    paid = await press(twilio, await answered(twilio, floor), "3")
    assert "already paid" not in paid
    assert "Thank you for letting us know" in said(paid)
    assert (await attempt(engine, id=floor.call_attempt)).disposition == "claims_paid"


async def test_the_menu_speaks_chinese_to_a_chinese_borrower(
    twilio: Client, engine: AsyncEngine
) -> None:
    floor = await seed(engine, locale="zh-CN")
    menu = await answered(twilio, floor)
    assert "承诺还款请按1" in said(menu)
    read_back = await press(
        twilio, await press(twilio, await press(twilio, menu, "1"), "500"), "11"
    )
    assert "您承诺于12月5日还款500元" in said(read_back)


async def test_a_changed_menu_query_is_not_signed(twilio: Client, engine: AsyncEngine) -> None:
    floor = await seed(engine)
    ask_date = await press(twilio, await press(twilio, await answered(twilio, floor), "1"), "500")
    action = gather_of(ask_date).attrib["action"]  # type: ignore[union-attr]
    forged = action.replace("amount=500", "amount=1")
    response = await post(
        twilio,
        forged.removeprefix(BASE),
        {"Digits": "1"},
        signed_url=action,
    )
    assert response.status == 403


def test_the_menu_machine_never_takes_a_date_in_the_past_or_more_than_owed() -> None:
    today = dt.date(2026, 11, 24)
    stale = MenuState("confirm", 500, dt.date(2026, 11, 23))
    turn = next_turn(stale, "1", today=today, owed=Decimal(5230), can_dial=False)
    assert turn.outcome is None
    assert turn.say == "date"
    over = MenuState("confirm", 9000, today)
    assert next_turn(over, "1", today=today, owed=Decimal(5230), can_dial=False).outcome is None


async def test_a_debtor_calling_in_is_logged_and_put_through_to_a_collector(
    aiohttp_client: Any, settings: Settings, engine: AsyncEngine
) -> None:
    from tests.twilio_support import DEBTOR

    await seed(engine)
    twilio = await twilio_client(aiohttp_client, settings)
    path = "/webhooks/twilio/voice/inbound"
    call = {"CallSid": "CA" + "9" * 32, "From": DEBTOR, "To": "+8610950000"}
    assert (await twilio.post(path, data=call)).status == 403  # unsigned
    answer = await post(twilio, path, call)
    assert answer.status == 200
    script = await answer.text()
    assert f"<Dial>{COLLECTOR}</Dial>" in script
    # On the debtor's account, once however often Twilio asks (a right-party contact).
    assert (await post(twilio, path, call)).status == 200
    logged = await rows(
        engine,
        "SELECT l.loan_ref, a.direction, a.channel, a.result FROM contact_log a "
        "JOIN loans l ON l.id = a.loan_id WHERE a.source = 'inbound'",
    )
    assert logged == [("L-1", "inbound", "call", "conversation")]
    # A caller nobody knows, with no collector number: the office hours, nothing logged.
    closed = await twilio_client(aiohttp_client, settings, collector_number=None)
    stranger = {**call, "CallSid": "CA" + "8" * 32, "From": "+8613900000000"}
    script = await (await post(closed, path, stranger)).text()
    assert "<Dial>" not in script
    assert "<Hangup" in script
    count = await rows(engine, "SELECT count(*) FROM attempts WHERE source = 'inbound'")
    assert count == [(1,)]
