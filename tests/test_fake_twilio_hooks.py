"""What the local fake Twilio posts to the application: signed status callbacks in order (and
retried), the inbound-SMS webhook whose TwiML reply becomes a message, and the voice simulator
walking a Gather menu with the callee's scripted digits."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from aiohttp import web
from twilio.base.exceptions import TwilioRestException

from tests.twilio_fake import Hit, Recorder, StartFake, twiml, until

FROM = "+15550100000"
DEBTOR = "+15550100001"


async def test_status_callbacks_arrive_in_order_and_signed(
    start_fake_twilio: StartFake, recorder: Recorder
) -> None:
    fake = await start_fake_twilio(number_faults={"+15550100031": "fail"})
    url = recorder.url("/status")
    ok = await fake.twilio.messages.create_async(
        to=DEBTOR, from_=FROM, body="x", status_callback=url
    )
    failed = await fake.twilio.messages.create_async(
        to="+15550100031", from_=FROM, body="x", status_callback=url
    )
    await until(lambda: len(recorder.at("/status")) == 3)
    by_sid: dict[str, list[Hit]] = {}
    for hit in recorder.at("/status"):
        by_sid.setdefault(hit.params["MessageSid"], []).append(hit)
    assert [h.params["MessageStatus"] for h in by_sid[ok.sid]] == ["sent", "delivered"]
    assert [h.params["MessageStatus"] for h in by_sid[failed.sid]] == ["failed"]
    delivered = by_sid[ok.sid][1]
    assert delivered.params == {
        "AccountSid": fake.config.account_sid,
        "ApiVersion": "2010-04-01",
        "From": FROM,
        "MessageSid": ok.sid,
        "MessageStatus": "delivered",
        "SmsSid": ok.sid,
        "SmsStatus": "delivered",
        "To": DEBTOR,
    }
    assert by_sid[failed.sid][0].params["ErrorCode"] == "30003"
    assert all(hit.signed() for hit in recorder.hits)
    tampered = dataclasses.replace(
        delivered, params={**delivered.params, "MessageStatus": "failed"}
    )
    assert not tampered.signed()
    assert not delivered.signed("another-token")
    assert (await fake.stats())["callbacks"] == {"sent": 3, "failed": 0, "retried": 0}


async def test_failed_callbacks_are_retried_then_dropped(
    start_fake_twilio: StartFake, recorder: Recorder
) -> None:
    fake = await start_fake_twilio(callback_tries=3, callback_backoff_seconds=0.01)
    answers = iter([500, 503])
    recorder.answers["/flaky"] = lambda hit: web.Response(status=next(answers, 200))
    recorder.answers["/down"] = lambda hit: web.Response(status=500)
    await fake.twilio.messages.create_async(
        to=DEBTOR, from_=FROM, body="x", status_callback=recorder.url("/flaky")
    )
    await fake.twilio.messages.create_async(
        to="+15550100002", from_=FROM, body="x", status_callback=recorder.url("/down")
    )
    stats = await until(lambda: _settled(fake))
    # /flaky: "sent" after two refusals, then "delivered" at once; /down: both dropped.
    assert [h.params["MessageStatus"] for h in recorder.at("/flaky")] == [
        "sent",
        "sent",
        "sent",
        "delivered",
    ]
    assert len(recorder.at("/down")) == 6
    assert stats["callbacks"] == {"sent": 2, "failed": 2, "retried": 6}


async def _settled(fake: Any) -> dict[str, Any] | None:
    stats: dict[str, Any] = await fake.stats()
    return stats if stats["pending_tasks"] == 0 else None


async def test_shuffled_callbacks_come_out_of_order(
    start_fake_twilio: StartFake, recorder: Recorder
) -> None:
    fake = await start_fake_twilio(shuffle_callbacks=True, seed=3)
    for n in range(12):
        await fake.twilio.messages.create_async(
            to=f"+1555010{n:04d}", from_=FROM, body="x", status_callback=recorder.url("/status")
        )
    await until(lambda: len(recorder.hits) == 24)
    orders: dict[str, list[str]] = {}
    for hit in recorder.hits:
        orders.setdefault(hit.params["MessageSid"], []).append(hit.params["MessageStatus"])
    assert ["delivered", "sent"] in orders.values()
    assert all(sorted(order) == ["delivered", "sent"] for order in orders.values())


async def test_inbound_text_posts_a_signed_webhook_and_sends_the_reply(
    start_fake_twilio: StartFake, recorder: Recorder
) -> None:
    recorder.answers["/sms"] = lambda hit: twiml(
        "<Message>You will get no more texts. Reply START to resume.</Message>"
    )
    fake = await start_fake_twilio(sms_url=recorder.url("/sms"))
    outcome = await fake.post("/_fake/inbound", {"From": DEBTOR, "To": FROM, "Body": "STOP"})
    [webhook] = recorder.at("/sms")
    assert webhook.signed()
    assert {k: webhook.params[k] for k in ("From", "To", "Body", "NumMedia", "FromCountry")} == {
        "From": DEBTOR,
        "To": FROM,
        "Body": "STOP",
        "NumMedia": "0",
        "FromCountry": "US",
    }
    assert webhook.params["MessageSid"] == webhook.params["SmsSid"] == outcome["sid"]
    assert webhook.params["AccountSid"] == fake.config.account_sid
    assert outcome["status"] == 200
    [reply] = outcome["messages"]
    assert (reply["to"], reply["from"], reply["direction"]) == (DEBTOR, FROM, "outbound-api")
    assert reply["body"].startswith("You will get no more texts")
    stats = await fake.stats()
    assert (stats["messages"]["created"], stats["messages"]["inbound"]) == (1, 1)
    assert stats["deliveries"] == {DEBTOR: {reply["body"]: 1}}
    # The STOP took: the next send to the number is refused as Twilio refuses it.
    with pytest.raises(TwilioRestException) as refused:
        await fake.twilio.messages.create_async(to=DEBTOR, from_=FROM, body="reminder")
    assert refused.value.code == 21610
    await fake.post("/_fake/inbound", {"From": DEBTOR, "To": FROM, "Body": "START"})
    await fake.twilio.messages.create_async(to=DEBTOR, from_=FROM, body="reminder")


def _menu(recorder: Recorder) -> None:
    """A tiny IVR: a promise-to-pay menu of three documents."""
    recorder.answers["/voice"] = lambda hit: twiml(
        '<Gather numDigits="1" action="/voice/menu" method="POST">'
        "<Say>Press 1 to promise a payment.</Say></Gather>"
        "<Say>We did not get your answer.</Say>"
    )

    def menu(hit: Hit) -> web.Response:
        if hit.params.get("Digits") != "1":
            return twiml("<Say>Goodbye.</Say><Hangup/>")
        return twiml(
            '<Gather finishOnKey="#" action="amount"><Say>Enter the amount, then hash.</Say>'
            "</Gather>"
        )

    recorder.answers["/voice/menu"] = menu
    recorder.answers["/voice/amount"] = lambda hit: twiml(
        f'<Say>Thank you: {hit.params.get("Digits")}.</Say><Pause length="2"/>'
        "<Dial>+15550109999</Dial><Say>never said</Say>"
    )


async def test_the_voice_simulator_walks_a_gather_menu(
    start_fake_twilio: StartFake, recorder: Recorder
) -> None:
    _menu(recorder)
    fake = await start_fake_twilio()
    await fake.post("/_fake/scripts", {DEBTOR: {"outcome": "answered", "digits": ["1", "500#"]}})
    call = await fake.twilio.calls.create_async(
        to=DEBTOR,
        from_=FROM,
        url=recorder.url("/voice"),
        status_callback=recorder.url("/call-status"),
        status_callback_event=["initiated", "ringing", "answered", "completed"],
    )
    assert call.sid.startswith("CA")
    assert len(call.sid) == 34
    assert call.status == "queued"
    await until(lambda: len(recorder.at("/call-status")) == 4)
    transcript = await fake.get(f"/_fake/calls/{call.sid}")
    assert transcript["said"] == [
        "Press 1 to promise a payment.",
        "Enter the amount, then hash.",
        "Thank you: 500.",
    ]
    assert [(g["digits"], g["action"]) for g in transcript["gathers"]] == [
        ("1", recorder.url("/voice/menu")),
        ("500", recorder.url("/voice/amount")),  # relative to the document that held it
    ]
    assert transcript["dialed"] == ["+15550109999"]
    assert (transcript["status"], transcript["answered_by"]) == ("completed", "human")
    first = recorder.at("/voice")[0]
    assert first.signed()
    assert first.params["CallStatus"] == "in-progress"
    assert first.params["AnsweredBy"] == "human"
    assert recorder.at("/voice/amount")[0].params["Digits"] == "500"
    statuses = [h.params["CallStatus"] for h in recorder.at("/call-status")]
    assert statuses == ["initiated", "ringing", "in-progress", "completed"]
    completed = recorder.at("/call-status")[-1]
    assert completed.signed()
    assert int(completed.params["CallDuration"]) >= 2
    fetched = await fake.twilio.calls(call.sid).fetch_async()
    assert fetched.status == "completed"
    assert fetched.duration == completed.params["CallDuration"]


async def test_no_input_carries_on_after_the_gather(
    start_fake_twilio: StartFake, recorder: Recorder
) -> None:
    _menu(recorder)
    fake = await start_fake_twilio()
    call = await fake.twilio.calls.create_async(to=DEBTOR, from_=FROM, url=recorder.url("/voice"))
    transcript = await until(lambda: _finished(fake, call.sid))
    assert transcript["said"] == ["Press 1 to promise a payment.", "We did not get your answer."]
    assert [g["digits"] for g in transcript["gathers"]] == [None]
    assert recorder.at("/voice/menu") == []


async def _finished(fake: Any, sid: str) -> dict[str, Any] | None:
    transcript: dict[str, Any] = await fake.get(f"/_fake/calls/{sid}")
    return transcript if transcript["status"] == "completed" else None


async def test_call_outcomes_and_the_calls_list(
    start_fake_twilio: StartFake, recorder: Recorder
) -> None:
    recorder.answers["/voice"] = lambda hit: twiml("<Say>Please call us back.</Say>")
    fake = await start_fake_twilio(
        number_faults={"+15550100041": "busy", "+15550100042": "no-answer"}
    )
    await fake.post("/_fake/scripts", {"+15550100043": {"outcome": "voicemail"}})
    calls = {
        to: await fake.twilio.calls.create_async(
            to=to,
            from_=FROM,
            url=recorder.url("/voice"),
            status_callback=recorder.url("/call-status"),
            machine_detection="DetectMessageEnd",
        )
        for to in ("+15550100041", "+15550100042", "+15550100043")
    }
    await until(lambda: len(recorder.at("/call-status")) == 3)
    final = {h.params["To"]: h.params for h in recorder.at("/call-status")}
    assert final["+15550100041"]["CallStatus"] == "busy"
    assert final["+15550100042"]["CallStatus"] == "no-answer"
    assert final["+15550100043"]["CallStatus"] == "completed"
    assert final["+15550100043"]["AnsweredBy"] == "machine_end_beep"
    assert [h.params["AnsweredBy"] for h in recorder.at("/voice")] == ["machine_end_beep"]
    busy = await fake.twilio.calls.list_async(status="busy")
    assert [c.sid for c in busy] == [calls["+15550100041"].sid]
    assert len(await fake.twilio.calls.list_async(to="+15550100043")) == 1
    stats = await fake.stats()
    assert stats["calls"]["by_status"] == {"busy": 1, "completed": 1, "no-answer": 1}


async def test_a_document_with_a_doctype_is_refused(
    start_fake_twilio: StartFake, recorder: Recorder
) -> None:
    recorder.answers["/voice"] = lambda hit: web.Response(
        text='<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><Response><Say>&a;</Say>'
        "</Response>",
        content_type="text/xml",
    )
    fake = await start_fake_twilio()
    call = await fake.twilio.calls.create_async(to=DEBTOR, from_=FROM, url=recorder.url("/voice"))
    transcript = await until(lambda: _finished(fake, call.sid))
    assert transcript["said"] == []
    assert transcript["events"][0]["code"] == 12100


async def test_a_redirect_loop_ends(start_fake_twilio: StartFake, recorder: Recorder) -> None:
    recorder.answers["/voice"] = lambda hit: twiml("<Say>again</Say><Redirect>/voice</Redirect>")
    fake = await start_fake_twilio(max_documents=5)
    call = await fake.twilio.calls.create_async(to=DEBTOR, from_=FROM, url=recorder.url("/voice"))
    transcript = await until(lambda: _finished(fake, call.sid))
    assert transcript["said"] == ["again"] * 5
    assert transcript["events"][-1]["code"] == 11000
