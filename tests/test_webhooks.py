"""Twilio's webhooks: only signed requests are served, and status callbacks move attempts
forward only, whatever order and however often they arrive."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from service.settings import Settings
from tests.twilio_support import (
    BASE,
    CALL_SID,
    DEBTOR,
    SMS_SID,
    Client,
    attempt,
    post,
    rows,
    seed,
    signature,
    twilio_client,
)

STATUS = "/webhooks/twilio/status?outbox=1"
PATHS = (
    STATUS,
    "/webhooks/twilio/sms",
    "/webhooks/twilio/voice?outbox=2",
    "/webhooks/twilio/voice/menu?outbox=2&step=menu&tries=0",
)
FORM = {"MessageSid": SMS_SID, "MessageStatus": "delivered", "From": DEBTOR, "To": "+8610950000"}


@pytest.fixture
async def twilio(aiohttp_client: Any, settings: Settings) -> Client:
    return await twilio_client(aiohttp_client, settings)


@pytest.mark.parametrize("path", PATHS)
async def test_unsigned_tampered_or_misaddressed_requests_are_refused(
    twilio: Client, engine: AsyncEngine, path: str
) -> None:
    await seed(engine)
    unsigned = await twilio.post(path, data=FORM)
    assert unsigned.status == 403
    assert "X-Twilio-Signature" in await unsigned.text()
    tampered = await post(twilio, path, {**FORM, "MessageStatus": "failed"}, signed_form=FORM)
    assert tampered.status == 403
    wrong_host = await post(twilio, path, FORM, signed_url="https://elsewhere.example" + path)
    assert wrong_host.status == 403
    other_query = path.replace("=", "=9", 1) if "?" in path else path + "?outbox=1"
    wrong_query = await post(twilio, path, FORM, signed_url=BASE + other_query)
    assert wrong_query.status == 403
    other_token = await twilio.post(
        path, data=FORM, headers={"X-Twilio-Signature": signature(BASE + path, FORM, "other")}
    )
    assert other_token.status == 403
    # Nothing was applied by any of them.
    sms = await attempt(engine, provider_ref=SMS_SID)
    assert sms.provider_status == "queued"


async def test_without_a_token_configured_every_webhook_is_refused(
    aiohttp_client: Any, settings: Settings, engine: AsyncEngine
) -> None:
    client = await twilio_client(aiohttp_client, settings, twilio_auth_token=None)
    await seed(engine)
    response = await post(client, STATUS, FORM)
    assert response.status == 403
    assert (await attempt(engine, provider_ref=SMS_SID)).provider_status == "queued"


async def test_a_shared_key_signature_needs_the_shared_key(
    aiohttp_client: Any, settings: Settings, engine: AsyncEngine
) -> None:
    await seed(engine)
    scheme = {"X-Twilio-Webhooks-Signature-Settings": "key=KS1,algorithm=HMAC_SHA1"}
    without = await twilio_client(aiohttp_client, settings)
    # Signed with the Auth Token but claiming a shared key: not accepted without the key.
    assert (await post(without, STATUS, FORM, headers=scheme)).status == 403
    shared = await twilio_client(aiohttp_client, settings, twilio_webhook_shared_key="KEY")
    sig = signature(BASE + STATUS, FORM, "KEY")
    answer = await shared.post(STATUS, data=FORM, headers={"X-Twilio-Signature": sig, **scheme})
    assert answer.status == 204
    assert (await attempt(engine, provider_ref=SMS_SID)).provider_status == "delivered"


async def test_garbage_is_a_400_never_a_500(twilio: Client, engine: AsyncEngine) -> None:
    await seed(engine)
    sig = {"X-Twilio-Signature": signature(BASE + STATUS, {})}
    as_json = await twilio.post(STATUS, json=FORM, headers=sig)
    assert as_json.status == 400
    huge = await twilio.post(
        STATUS,
        data=b"Body=" + b"x" * 200_000,
        headers={**sig, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert huge.status == 400
    bad_utf8 = await twilio.post(
        STATUS,
        data=b"Body=%ff%fe",
        headers={**sig, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert bad_utf8.status in (400, 403)
    missing = await post(twilio, STATUS, {"MessageStatus": "sent"})
    assert missing.status == 400
    too_long = await post(twilio, STATUS, {"MessageSid": "S" * 500, "MessageStatus": "sent"})
    assert too_long.status == 400
    no_outbox = await post(twilio, "/webhooks/twilio/voice?outbox=abc", {"CallSid": CALL_SID})
    assert no_outbox.status == 400
    forged_step = await post(
        twilio, "/webhooks/twilio/voice/menu?outbox=2&step=nope", {"Digits": "1"}
    )
    assert forged_step.status == 400
    assert (await twilio.get(STATUS)).status == 405


async def test_the_session_and_csrf_checks_do_not_apply_to_signed_webhooks(
    twilio: Client, engine: AsyncEngine
) -> None:
    await seed(engine)
    cross_site = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
    response = await post(twilio, STATUS, FORM, headers=cross_site)
    assert response.status == 204


async def test_sms_statuses_out_of_order_and_repeated_keep_the_furthest(
    twilio: Client, engine: AsyncEngine
) -> None:
    await seed(engine)
    for status in ("sent", "delivered", "queued", "sending", "delivered", "sent"):
        form = {"MessageSid": SMS_SID, "MessageStatus": status}
        response = await post(twilio, STATUS, form)
        assert response.status == 204
        assert await response.read() == b""
    sms = await attempt(engine, provider_ref=SMS_SID)
    assert (sms.provider_status, sms.result, sms.error_code) == ("delivered", "delivered", None)


async def test_a_failure_records_one_error_code_and_marks_the_number(
    twilio: Client, engine: AsyncEngine
) -> None:
    await seed(engine)
    failed = {"MessageSid": SMS_SID, "MessageStatus": "undelivered", "ErrorCode": "30005"}
    for form in (failed, failed, {"MessageSid": SMS_SID, "MessageStatus": "sent"}):
        assert (await post(twilio, STATUS, form)).status == 204
    sms = await attempt(engine, provider_ref=SMS_SID)
    assert (sms.provider_status, sms.result, sms.error_code) == ("undelivered", "failed", "30005")
    assert await rows(engine, "SELECT e164, status FROM phone_numbers") == [(DEBTOR, "invalid")]


async def test_error_21610_is_a_provider_opt_out_of_texts(
    twilio: Client, engine: AsyncEngine
) -> None:
    await seed(engine)
    form = {"MessageSid": SMS_SID, "MessageStatus": "failed", "ErrorCode": "21610"}
    assert (await post(twilio, STATUS, form)).status == 204
    assert await rows(engine, "SELECT phone, channel, source FROM opt_outs") == [
        (DEBTOR, "sms", "provider")
    ]
    # The number itself is fine: only texts are refused.
    assert await rows(engine, "SELECT status FROM phone_numbers") == [("active",)]


async def test_a_call_s_statuses_end_in_its_result(twilio: Client, engine: AsyncEngine) -> None:
    await seed(engine)
    path = "/webhooks/twilio/status?outbox=2"
    for status in ("ringing", "in-progress", "completed", "ringing"):
        form = {"CallSid": CALL_SID, "CallStatus": status, "AnsweredBy": "human"}
        if status == "completed":
            form["CallDuration"] = "42"
        assert (await post(twilio, path, form)).status == 204
    call = await attempt(engine, provider_ref=CALL_SID)
    assert (call.provider_status, call.result) == ("completed", "conversation")


async def test_a_callback_for_an_unknown_sid_is_answered_and_changes_nothing(
    twilio: Client, engine: AsyncEngine
) -> None:
    await seed(engine)
    form = {"MessageSid": "SM" + "f" * 32, "MessageStatus": "delivered", "ErrorCode": "30005"}
    response = await post(twilio, STATUS, form)
    assert response.status == 204
    assert await rows(engine, "SELECT status FROM phone_numbers") == [("active",)]
    assert (await attempt(engine, provider_ref=SMS_SID)).provider_status == "queued"
