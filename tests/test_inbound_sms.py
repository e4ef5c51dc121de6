"""Texts debtors send us: STOP answered once and effective at once, START lifting only what a
keyword made, HELP, and replies on the account's timeline — a promise among them proposed."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from service.contact.checks import check_contact
from service.db.models import OptOut
from service.settings import Settings
from tests.twilio_support import (
    DEBTOR,
    NOW,
    OUR_NUMBER,
    Client,
    parse_twiml,
    post,
    rows,
    seed,
    twilio_client,
    twilio_settings,
)

SMS = "/webhooks/twilio/sms"
_sids = itertools.count(1)


@pytest.fixture
async def twilio(aiohttp_client: Any, settings: Settings) -> Client:
    return await twilio_client(aiohttp_client, settings)


def _sid() -> str:
    return f"SM{next(_sids):032x}"


async def text(
    client: Client, body: str, sid: str | None = None, sender: str = DEBTOR
) -> str | None:
    """Send ``body`` as the debtor; the one message we answer with (None: an empty answer)."""
    form = {"MessageSid": sid or _sid(), "From": sender, "To": OUR_NUMBER, "Body": body}
    response = await post(client, SMS, form)
    assert response.status == 200, await response.text()
    assert response.content_type == "text/xml"
    messages = parse_twiml(await response.read()).findall("Message")
    assert len(messages) <= 1
    return messages[0].text if messages else None


async def sms_verdict(engine: AsyncEngine, settings: Settings) -> tuple[str, list[str]]:
    async with engine.connect() as conn:
        decision = await check_contact(
            conn,
            twilio_settings(settings),
            loan_ref="L-1",
            party_ref="debtor",
            channel="sms",
            at=NOW + dt.timedelta(minutes=1),
        )
    return decision.verdict.value, list(decision.reasons)


async def test_stop_is_confirmed_once_and_blocks_texts_at_once(
    twilio: Client, engine: AsyncEngine, settings: Settings
) -> None:
    await seed(engine, locale="zh-CN")
    assert "opted_out" not in (await sms_verdict(engine, settings))[1]
    confirmation = await text(twilio, " 退订 ")
    assert confirmation is not None
    assert "已退订" in confirmation
    assert "START" in confirmation  # how to come back, in the cn profile's word
    assert await text(twilio, "TD") is None  # a second opt-out: no second confirmation
    assert await text(twilio, "stop") is None
    assert await rows(engine, "SELECT phone, channel, source, keyword FROM opt_outs") == [
        (DEBTOR, "sms", "keyword", "退订")
    ]
    verdict, reasons = await sms_verdict(engine, settings)
    assert verdict == "block"
    assert "opted_out" in reasons
    # The texts and the one confirmation are on the account's timeline; the change is audited.
    logged = await rows(
        engine,
        "SELECT direction, source, result, note FROM contact_log WHERE source <> 'dispatch' "
        "ORDER BY id",
    )
    assert [row[:2] for row in logged] == [
        ("inbound", "inbound"),
        ("outbound", "reply"),
        ("inbound", "inbound"),
        ("inbound", "inbound"),
    ]
    assert logged[0][3] == " 退订 "
    assert logged[1][3] == confirmation
    assert await rows(engine, "SELECT actor, action, entity_ref FROM audit_log") == [
        ("twilio", "opt_out.keyword", DEBTOR)
    ]


async def test_a_text_delivered_twice_is_logged_and_answered_once(
    twilio: Client, engine: AsyncEngine
) -> None:
    await seed(engine)
    sid = _sid()
    assert await text(twilio, "HELP", sid) is not None
    assert await text(twilio, "HELP", sid) is None
    assert await rows(engine, "SELECT count(*) FROM contact_log WHERE source = 'inbound'") == [(1,)]


async def test_start_lifts_a_keyword_opt_out_with_one_confirmation(
    twilio: Client, engine: AsyncEngine, settings: Settings
) -> None:
    await seed(engine)
    assert await text(twilio, "STOP") is not None
    lifted = await text(twilio, "start")
    assert lifted is not None
    assert "again" in lifted
    opted = await rows(engine, "SELECT opted_in_at IS NOT NULL FROM opt_outs")
    assert opted == [(True,)]
    assert "opted_out" not in (await sms_verdict(engine, settings))[1]
    assert await text(twilio, "START") is None  # nothing left to lift
    assert await text(twilio, "STOP") is not None  # a new opt-out: confirmed again


async def test_start_answers_its_confirmation(twilio: Client, engine: AsyncEngine) -> None:
    await seed(engine)
    await text(twilio, "STOP")
    confirmation = await text(twilio, "START")
    assert confirmation is not None
    assert "again" in confirmation
    actions = await rows(engine, "SELECT action FROM audit_log ORDER BY id")
    assert actions == [("opt_out.keyword",), ("opt_out.lifted",)]


async def test_start_never_lifts_a_written_opt_out(
    twilio: Client, engine: AsyncEngine, settings: Settings
) -> None:
    await seed(engine)
    async with engine.begin() as conn:
        await conn.execute(
            insert(OptOut).values(
                phone=DEBTOR,
                channel="sms",
                opted_out_at=NOW - dt.timedelta(days=3),
                source="written",
                recorded_by="arrears",
            )
        )
    assert await text(twilio, "START") is None
    assert await rows(engine, "SELECT opted_in_at FROM opt_outs") == [(None,)]
    assert "opted_out" in (await sms_verdict(engine, settings))[1]


async def test_help_answers_the_profiles_help_text(twilio: Client, engine: AsyncEngine) -> None:
    await seed(engine)
    answer = await text(twilio, "Help")
    assert answer is not None
    assert "Arrears Demo Lender" in answer
    assert "TD" in answer
    assert "START" in answer
    assert "+8610955555" in answer
    assert await rows(engine, "SELECT template FROM contact_log WHERE source = 'reply'") == [
        ("help",)
    ]


@pytest.mark.parametrize(
    ("body", "locale", "amount", "on"),
    [
        ("PAY 500 FRI", "en", "500.00", dt.date(2026, 11, 27)),
        ("ok I will pay 1,200 on 12/5", "en", "1200.00", dt.date(2026, 12, 5)),
        ("明天还300元", "zh-CN", "300.00", dt.date(2026, 11, 25)),
        ("12月5日还款1000", "zh-CN", "1000.00", dt.date(2026, 12, 5)),
    ],
)
async def test_a_reply_that_reads_as_a_promise_is_proposed(
    twilio: Client, engine: AsyncEngine, body: str, locale: str, amount: str, on: dt.date
) -> None:
    floor = await seed(engine, locale=locale)
    assert await text(twilio, body) is None  # no answer: a collector confirms it
    promises = await rows(
        engine,
        "SELECT loan_id, amount, promised_on, status, source, attempt_id, note FROM promises",
    )
    (inbound,) = await rows(engine, "SELECT id, note FROM contact_log WHERE source = 'inbound'")
    assert len(promises) == 1
    loan_id, stored, promised_on, status, source, attempt_id, note = promises[0]
    assert (loan_id, status, source, attempt_id, note) == (
        floor.loan_id,
        "proposed",
        "sms",
        inbound[0],
        body,
    )
    assert Decimal(str(stored)) == Decimal(amount)
    assert str(promised_on) == on.isoformat()
    assert inbound[1] == body


async def test_other_replies_land_on_the_timeline_only(twilio: Client, engine: AsyncEngine) -> None:
    await seed(engine)
    assert await text(twilio, "who is this?") is None
    assert await rows(engine, "SELECT note, result FROM contact_log WHERE source = 'inbound'") == [
        ("who is this?", "delivered")
    ]
    assert await rows(engine, "SELECT count(*) FROM promises") == [(0,)]


async def test_an_unknown_sender_gets_an_empty_answer_but_stop_still_holds(
    twilio: Client, engine: AsyncEngine
) -> None:
    await seed(engine)
    stranger = "+8613900000000"
    assert await text(twilio, "PAY 500 FRI", sender=stranger) is None
    assert await rows(engine, "SELECT count(*) FROM contact_log WHERE source = 'inbound'") == [(0,)]
    assert await text(twilio, "STOP", sender=stranger) is not None
    assert await rows(engine, "SELECT phone FROM opt_outs") == [(stranger,)]
