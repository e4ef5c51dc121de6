"""Click-to-call end to end through the real ``twilio`` SDK and the local Twilio-compatible
server: the collector's own phone is rung, the debtor's number dialled with the lender's caller
id once they answer, and the attempt logged on the account with the dial's result. The guard
decides before ringing and again before dialling; the scripts' webhooks are signed; and the
fake's ``<Dial>`` places a second leg and posts its end to the ``action``."""

from __future__ import annotations

import dataclasses
import socket
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine
from twilio.request_validator import RequestValidator

from service.clock import FixedClock
from service.db.models import OptOut
from service.settings import Settings
from service.web.app import create_app
from tests.conftest import login
from tests.contact_floor import (
    NIGHT,
    NOON,
    PRIMARY,
    Client,
    app_client,
    form_fields,
    post_page_form,
    rows,
    seed,
    set_phone,
    sign_in,
)
from tests.twilio_fake import SID, TOKEN, Fake, Recorder, StartFake, running_fake, twiml, until

PANEL = "/accounts/L1/contact"
SENDER = "+8610690002"  # the lender's number: the caller id the debtor sees
COLLECTOR_PHONE = "+8618600186000"


async def signed_post(
    client: Client, path_qs: str, form: dict[str, str], *, signed_url: str
) -> Any:
    """POST ``form`` as Twilio does, signed (with the fake's token) for ``signed_url``."""
    signature = RequestValidator(TOKEN).compute_signature(signed_url, form)
    return await client.post(path_qs, data=form, headers={"X-Twilio-Signature": signature})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _twilio(settings: Settings, fake_url: str, public: str) -> Settings:
    return dataclasses.replace(
        settings,
        channel="twilio",
        twilio_account_sid=SID,
        twilio_auth_token=TOKEN,
        twilio_from_number=SENDER,
        twilio_base_url=fake_url,
        public_base_url=public,
    )


async def _serve(
    aiohttp_server: Any, aiohttp_client: Any, settings: Settings, fake: Fake
) -> Client:
    """Our app on a port chosen first (the URL Twilio signs), its clock at noon, on the fake."""
    port = _free_port()
    ours = _twilio(settings, fake.base_url, f"http://127.0.0.1:{port}")
    server = await aiohttp_server(create_app(ours, FixedClock(NOON)), port=port)
    client: Client = await aiohttp_client(server)
    return client


async def _attempt(engine: AsyncEngine) -> list[tuple[Any, ...]]:
    return await rows(
        engine,
        "SELECT a.phone, a.channel, a.direction, a.result, a.source, u.username, a.contact_id, "
        "a.provider_ref, a.provider_status FROM contact_log a "
        "LEFT JOIN users u ON u.id = a.collector_id WHERE a.attempt_ref LIKE 'cc-%'",
    )


@pytest.mark.parametrize(("outcome", "result"), [("answered", "conversation"), ("busy", "busy")])
async def test_the_collectors_phone_rings_then_the_debtor_is_dialled_and_the_dial_logged(
    aiohttp_server: Any,
    aiohttp_client: Any,
    settings: Settings,
    engine: AsyncEngine,
    tmp_path: Path,
    outcome: str,
    result: str,
) -> None:
    floor = await seed(engine, tmp_path / "drop")
    await set_phone(engine, floor.collector, COLLECTOR_PHONE)
    async with running_fake(aiohttp_server) as fake:
        await fake.post("/_fake/scripts", {PRIMARY: {"outcome": outcome, "talk_seconds": 42}})
        client = await _serve(aiohttp_server, aiohttp_client, settings, fake)
        await sign_in(client, "col")
        html = await (await client.get(PANEL)).text()
        call = form_fields(html, "/accounts/L1/call")  # the first: the debtor's primary number
        assert call["phone"] == PRIMARY
        started = await post_page_form(client, "/accounts/L1/call", call, PANEL)
        assert started.status == 200
        assert started.url.query.get("contact") == "call_ringing"
        assert "Your phone is ringing" in await started.text()

        async def logged() -> bool:
            found = await _attempt(engine)
            return bool(found) and found[0][3] != "pending"

        await until(logged, seconds=20)
        again = await post_page_form(client, "/accounts/L1/call", call, PANEL)  # a double submit
        assert again.status == 200
        calls = await fake.twilio.calls.list_async()
        stats = await fake.stats()
        (leg,) = [c for c in calls if c.to == COLLECTOR_PHONE]
        transcript = await fake.get(f"/_fake/calls/{leg.sid}")

    assert stats["calls"]["created"] == 2  # the collector's leg and the leg it dialled: once
    (dialled,) = [c for c in calls if c.to == PRIMARY]
    assert leg._from == SENDER
    assert (dialled._from, dialled.parent_call_sid) == (SENDER, leg.sid)  # the lender's caller id
    assert dialled.direction == "outbound-dial"
    final = "completed" if outcome == "answered" else "busy"
    assert await _attempt(engine) == [
        (PRIMARY, "call", "outbound", result, "collector", "col", None, dialled.sid, final)
    ]
    decisions = await rows(
        engine, "SELECT stage, verdict FROM guard_decisions WHERE channel = 'call' ORDER BY id"
    )
    assert decisions == [("collector", "allow"), ("collector", "allow")]  # asked, and at the dial
    # What the collector heard, and what their leg dialled.
    assert transcript["said"] == ["Connecting you now."]
    assert transcript["dialed"] == [PRIMARY]


async def test_the_guard_asked_again_at_the_dial_hangs_up_on_a_number_opted_out_since(
    aiohttp_server: Any,
    aiohttp_client: Any,
    settings: Settings,
    engine: AsyncEngine,
    tmp_path: Path,
) -> None:
    floor = await seed(engine, tmp_path / "drop")
    await set_phone(engine, floor.collector, COLLECTOR_PHONE)
    async with running_fake(aiohttp_server) as fake:
        # The collector does not pick up: the fake never asks for the script; the test does.
        await fake.post("/_fake/scripts", {COLLECTOR_PHONE: {"outcome": "no-answer"}})
        client = await _serve(aiohttp_server, aiohttp_client, settings, fake)
        headers = {"Authorization": f"Bearer {await login(client, 'col')}"}
        first = await client.post("/api/loans/L1/calls", json={"key": "one"}, headers=headers)
        assert first.status == 201, await first.text()
        call_id = (await first.json())["call"]
        assert (await first.json())["your_phone"] == COLLECTOR_PHONE
        async with engine.begin() as conn:
            await conn.execute(
                insert(OptOut).values(
                    phone=PRIMARY, channel="call", opted_out_at=NOON, source="verbal",
                    recorded_by="test",
                )
            )  # fmt: skip
        base = str(client.make_url("")).rstrip("/")
        form = {"CallSid": "CA" + "c" * 32, "CallStatus": "in-progress", "From": SENDER}
        script = await signed_post(
            client, f"/webhooks/twilio/bridge?call={call_id}", form,
            signed_url=f"{base}/webhooks/twilio/bridge?call={call_id}",
        )  # fmt: skip
        spoken = await script.text()
    assert script.status == 200
    assert "<Dial" not in spoken
    assert "This call cannot be made now: opted out." in spoken
    assert "<Hangup" in spoken
    assert await _attempt(engine) == []  # nobody was dialled
    assert await rows(
        engine, "SELECT verdict, reasons FROM guard_decisions WHERE channel = 'call' ORDER BY id"
    ) == [("allow", ""), ("block", "opted_out")]


async def test_without_a_phone_of_their_own_the_collector_is_sent_to_set_it(
    aiohttp_client: Any, settings: Settings, engine: AsyncEngine, tmp_path: Path
) -> None:
    await seed(engine, tmp_path / "drop")
    client = await app_client(
        aiohttp_client, settings, NOON, channel="twilio", twilio_account_sid=SID,
        twilio_auth_token=TOKEN, twilio_from_number=SENDER,
    )  # fmt: skip
    await sign_in(client, "col")
    html = await (await client.get(PANEL)).text()
    assert 'href="/me"' in html  # said before trying
    refused = await post_page_form(
        client, "/accounts/L1/call", form_fields(html, "/accounts/L1/call"), PANEL
    )
    assert refused.status == 409
    page = await refused.text()
    assert "rings your own phone first, and you have none on file" in page
    assert '<a href="/me">Set my phone</a>' in page


async def test_a_call_the_guard_does_not_allow_rings_nobody(
    aiohttp_client: Any, settings: Settings, engine: AsyncEngine, tmp_path: Path
) -> None:
    floor = await seed(engine, tmp_path / "drop")
    await set_phone(engine, floor.collector, COLLECTOR_PHONE)
    # No Twilio server at all: were anything rung, the request would fail to connect.
    client = await app_client(
        aiohttp_client, settings, NIGHT, channel="twilio", twilio_account_sid=SID,
        twilio_auth_token=TOKEN, twilio_from_number=SENDER,
        twilio_base_url="http://127.0.0.1:9",
    )  # fmt: skip
    headers = {"Authorization": f"Bearer {await login(client, 'col')}"}
    refused = await client.post("/api/loans/L1/calls", json={"party": "debtor"}, headers=headers)
    assert refused.status == 409
    details = (await refused.json())["error"]["details"]
    assert (details["verdict"], details["reasons"]) == ("defer", ["outside_window"])
    assert details["next_allowed_at"] == "2026-11-25T00:00:00+00:00"  # 08:00 in Shanghai
    emergency = await client.post("/api/loans/L1/calls", json={"party": "B1-E"}, headers=headers)
    assert emergency.status == 409
    assert "third_party_debtor_reachable" in (await emergency.json())["error"]["details"]["reasons"]
    assert await _attempt(engine) == []


async def test_the_bridge_webhooks_refuse_an_unsigned_request(
    aiohttp_client: Any, settings: Settings
) -> None:
    client = await app_client(
        aiohttp_client, settings, NOON, twilio_auth_token=TOKEN,
        public_base_url="https://arrears.example.com",
    )  # fmt: skip
    form = {"CallSid": "CA" + "d" * 32, "DialCallStatus": "completed"}
    for path in ("/webhooks/twilio/bridge?call=1", "/webhooks/twilio/bridge/dialed?call=1"):
        assert (await client.post(path, data=form)).status == 403
        forged = await client.post(path, data=form, headers={"X-Twilio-Signature": "bm90IGl0"})
        assert forged.status == 403
        # Signed for another URL (another call's): refused too.
        other = await signed_post(
            client, path, form, signed_url="https://arrears.example.com/webhooks/twilio/bridge?call=2"
        )  # fmt: skip
        assert other.status == 403


async def test_the_fakes_dial_places_a_second_leg_and_posts_its_end_to_the_action(
    start_fake_twilio: StartFake, recorder: Recorder
) -> None:
    fake = await start_fake_twilio(number_faults={"+15550100077": "busy"})
    await fake.post("/_fake/scripts", {"+15550100078": {"outcome": "answered", "talk_seconds": 9}})
    recorder.answers["/leg"] = lambda hit: twiml(
        '<Say>Connecting.</Say><Dial callerId="+15550100000" action="/dialed" timeout="20">'
        "<Number>+15550100077</Number></Dial>"
    )
    recorder.answers["/dialed"] = lambda hit: twiml("<Hangup/>")
    busy = await fake.twilio.calls.create_async(
        to="+15550100001", from_="+15550100000", url=recorder.url("/leg")
    )
    await until(lambda: len(recorder.at("/dialed")) == 1)
    ended = recorder.at("/dialed")[0]
    assert ended.signed()
    assert ended.params["DialCallStatus"] == "busy"
    assert ended.params["CallSid"] == busy.sid
    child = await fake.twilio.calls(ended.params["DialCallSid"]).fetch_async()
    assert (child.to, child._from, child.parent_call_sid) == (
        "+15550100077", "+15550100000", busy.sid,
    )  # fmt: skip
    transcript = await fake.get(f"/_fake/calls/{busy.sid}")
    assert transcript["dialed"] == ["+15550100077"]

    recorder.answers["/leg"] = lambda hit: twiml(
        '<Dial action="/dialed"><Number>+15550100078</Number></Dial>'
    )
    await fake.twilio.calls.create_async(
        to="+15550100002", from_="+15550100000", url=recorder.url("/leg")
    )
    await until(lambda: len(recorder.at("/dialed")) == 2)
    answered = recorder.at("/dialed")[1].params
    assert (answered["DialCallStatus"], answered["DialCallDuration"]) == ("completed", "9")


async def test_the_outcome_of_a_call_placed_from_the_account_is_written_on_its_attempt(
    aiohttp_server: Any,
    aiohttp_client: Any,
    settings: Settings,
    engine: AsyncEngine,
    tmp_path: Path,
) -> None:
    """One call, one attempt: the collector's outcome after a click-to-call says what the call
    produced on the attempt its dial logged, not on a second call nobody made."""
    floor = await seed(engine, tmp_path / "drop")
    await set_phone(engine, floor.collector, COLLECTOR_PHONE)
    page = "/accounts/L1"
    async with running_fake(aiohttp_server) as fake:
        await fake.post("/_fake/scripts", {PRIMARY: {"outcome": "answered", "talk_seconds": 42}})
        client = await _serve(aiohttp_server, aiohttp_client, settings, fake)
        await sign_in(client, "col")
        # The panel as the account page loads it into its place.
        panel = await (await client.get("/accounts/L1/contact?partial=1")).text()
        call = form_fields(panel, "/accounts/L1/call")
        assert call["next"] == page
        started = await post_page_form(client, "/accounts/L1/call", call, page)
        assert started.status == 200
        assert started.url.path == page
        dialled = started.url.query["call"]

        async def logged() -> bool:
            found = await _attempt(engine)
            return bool(found) and found[0][3] != "pending"

        await until(logged, seconds=20)
        html = await (await client.get(f"{page}?call={dialled}")).text()
        outcome = form_fields(html, "/accounts/L1/outcome")
        assert outcome["attempt_ref"] == dialled
        outcome |= {
            "party": "debtor",
            "phone": PRIMARY,
            "result": "conversation",
            "disposition": "rpc",
            "note": "pays on Friday",
        }
        saved = await post_page_form(client, "/accounts/L1/outcome", outcome, page)
        assert saved.status == 200
        assert saved.url.path == page
        # Another collector's ref, or one typed into the address, is a new attempt as before.
        forged = await (await client.get(f"{page}?call=cc-x")).text()
        assert 'value="cc-x"' not in forged

    calls = await rows(
        engine,
        "SELECT attempt_ref, result, disposition, note, source, provider_status FROM contact_log "
        "WHERE channel = 'call'",
    )
    assert calls == [(dialled, "conversation", "rpc", "pays on Friday", "collector", "completed")]
