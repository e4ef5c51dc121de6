"""The local fake Twilio through the real ``twilio`` SDK: resources, SIDs, lists with filters
and paging, authentication, injected faults, and the counts of the control API."""

from __future__ import annotations

import base64
import datetime as dt
import re
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException

from service.cli import build_parser
from tests.twilio_fake import SID, TOKEN, BaseUrlTwilioHttpClient, StartFake, until

FROM = "+15550100000"
SM_SID = re.compile(r"SM[0-9a-f]{32}")
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()}


async def test_create_fetch_and_list_with_filters_and_paging(
    start_fake_twilio: StartFake,
) -> None:
    fake = await start_fake_twilio()
    messages = fake.twilio.messages
    to_a, to_b = "+15550100001", "+15550100002"
    created = [
        await messages.create_async(to=to_a, from_=FROM, body=f"reminder {n}") for n in range(5)
    ]
    await messages.create_async(to=to_b, from_="+15550100009", body="other")
    first = created[0]
    assert SM_SID.fullmatch(first.sid)
    assert (first.status, first.direction, first.account_sid) == ("queued", "outbound-api", SID)
    assert (first.to, first.from_, first.body, first.num_segments) == (
        to_a,
        FROM,
        "reminder 0",
        "1",
    )
    assert first.price is None
    assert first.error_code is None
    assert first.date_created is not None
    assert first.date_created.tzinfo is not None

    fetched = await messages(first.sid).fetch_async()
    assert (fetched.sid, fetched.body) == (first.sid, "reminder 0")

    # Newest first, paged two by two through next_page_uri (absolute, on api.twilio.com).
    listed = await messages.list_async(to=to_a, page_size=2)
    assert [m.sid for m in listed] == [m.sid for m in reversed(created)]
    page = await messages.page_async(to=to_a, page_size=2)
    assert page.next_page_url is not None
    assert len(list(page)) == 2
    assert "PageToken=PA" in page.next_page_url

    everything = await messages.list_async(page_size=4)
    assert len(everything) == 6
    assert [m.body for m in await messages.list_async(from_="+15550100009")] == ["other"]

    now = dt.datetime.now(dt.UTC)
    since = await messages.list_async(to=to_a, date_sent_after=now - dt.timedelta(minutes=1))
    assert len(since) == 5
    assert await messages.list_async(to=to_a, date_sent_after=now + dt.timedelta(hours=1)) == []
    assert await messages.list_async(date_sent_before=now - dt.timedelta(days=1)) == []
    today = await messages.list_async(date_sent=now.date())
    assert len(today) == 6


async def test_the_list_accepts_a_plain_day_and_refuses_a_bad_one(
    start_fake_twilio: StartFake,
) -> None:
    fake = await start_fake_twilio()
    await fake.twilio.messages.create_async(to="+15550100001", from_=FROM, body="hello")
    today = dt.datetime.now(dt.UTC).date()
    url = f"{fake.api}/Messages.json"
    async with fake.control.get(url, params={"DateSent>": today.isoformat()}, headers=AUTH) as ok:
        assert len((await ok.json())["messages"]) == 1
    async with fake.control.get(url, params={"DateSent<": "yesterday"}, headers=AUTH) as bad:
        assert bad.status == 400
        assert (await bad.json())["code"] == 20001


async def test_wrong_credentials_and_wrong_account(start_fake_twilio: StartFake) -> None:
    fake = await start_fake_twilio()
    http = BaseUrlTwilioHttpClient(fake.base_url)
    try:
        from twilio.rest import Client

        intruder = Client(SID, "wrong-token", http_client=http)
        with pytest.raises(TwilioRestException) as refused:
            await intruder.messages.create_async(to="+15550100001", from_=FROM, body="x")
        assert (refused.value.status, refused.value.code) == (401, 20003)
    finally:
        await http.close()
    other = "AC" + "2" * 32
    async with fake.control.get(
        f"{fake.base_url}/2010-04-01/Accounts/{other}/Messages.json",
        headers=AUTH,
    ) as response:
        assert response.status == 404
        assert (await response.json())["code"] == 20404
    assert (await fake.stats())["messages"]["created"] == 0


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"From": FROM, "Body": "x"}, 21604),
        ({"To": "+15550100001", "From": FROM}, 21602),
        ({"To": "+15550100001", "Body": "x"}, 21603),
        ({"To": "12345", "From": FROM, "Body": "x"}, 21211),
        ({"To": "+15550100001", "From": "+1-not", "Body": "x"}, 21212),
    ],
)
async def test_bad_creates_answer_twilio_codes(
    start_fake_twilio: StartFake, fields: dict[str, str], code: int
) -> None:
    fake = await start_fake_twilio()
    async with fake.control.post(
        f"{fake.api}/Messages.json", data=fields, headers=AUTH
    ) as response:
        error = await response.json()
    assert (response.status, error["code"], error["status"]) == (400, code, 400)
    assert error["more_info"] == f"https://www.twilio.com/docs/errors/{code}"


async def test_number_faults_raise_with_twilio_codes(start_fake_twilio: StartFake) -> None:
    fake = await start_fake_twilio(stop=frozenset({"+15550100066"}))
    await fake.post("/_fake/faults", {"numbers": {"+15550100077": "invalid"}})
    messages = fake.twilio.messages
    with pytest.raises(TwilioRestException) as stopped:
        await messages.create_async(to="+15550100066", from_=FROM, body="x")
    assert (stopped.value.status, stopped.value.code) == (400, 21610)
    assert "unsubscribed" in stopped.value.msg
    with pytest.raises(TwilioRestException) as invalid:
        await messages.create_async(to="+15550100077", from_=FROM, body="x")
    assert (invalid.value.status, invalid.value.code) == (400, 21211)
    assert "+15550100077 is not a valid phone number" in invalid.value.msg
    stats = await fake.stats()
    assert stats["faults"] == {"invalid": 1, "stop": 1}
    assert stats["messages"]["created"] == 0
    # A fault removed at run time: the number takes messages again.
    await fake.post("/_fake/faults", {"numbers": {"+15550100066": None}})
    await messages.create_async(to="+15550100066", from_=FROM, body="x")


@pytest.mark.parametrize(("kind", "status", "code"), [("429", 429, 20429), ("500", 500, 20500)])
async def test_transient_faults_create_nothing(
    start_fake_twilio: StartFake, kind: str, status: int, code: int
) -> None:
    fake = await start_fake_twilio(transient_rate=1.0, transient_weights={kind: 1.0})
    with pytest.raises(TwilioRestException) as failed:
        await fake.twilio.messages.create_async(to="+15550100001", from_=FROM, body="x")
    assert (failed.value.status, failed.value.code) == (status, code)
    stats = await fake.stats()
    assert stats["messages"]["created"] == 0
    assert stats["faults"] == {kind: 1}
    assert await fake.twilio.messages.list_async(to="+15550100001") == []


async def test_a_timeout_creates_the_message_a_later_list_finds(
    start_fake_twilio: StartFake,
) -> None:
    fake = await start_fake_twilio(
        transient_rate=1.0, transient_weights={"timeout": 1.0}, timeout_seconds=3.0, sdk_timeout=0.3
    )
    sent_after = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    with pytest.raises(TimeoutError):
        await fake.twilio.messages.create_async(to="+15550100001", from_=FROM, body="due soon")
    await fake.post("/_fake/faults", {"transient_rate": 0})
    found = await fake.twilio.messages.list_async(to="+15550100001", date_sent_after=sent_after)
    assert [m.body for m in found] == ["due soon"]
    assert (await fake.stats())["faults"] == {"timeout": 1}


async def _outcomes(fake: Any, count: int) -> list[int]:
    statuses = []
    for n in range(count):
        async with fake.control.post(
            f"{fake.api}/Messages.json",
            data={"To": "+15550100001", "From": FROM, "Body": f"n{n}"},
            headers=AUTH,
        ) as response:
            statuses.append(response.status)
    return statuses


async def test_a_seeded_rate_is_reproducible(start_fake_twilio: StartFake) -> None:
    weights = {"429": 1.0, "500": 1.0}
    first = await start_fake_twilio(seed=7, transient_rate=0.3, transient_weights=weights)
    again = await start_fake_twilio(seed=7, transient_rate=0.3, transient_weights=weights)
    other = await start_fake_twilio(seed=8, transient_rate=0.3, transient_weights=weights)
    runs = [await _outcomes(fake, 60) for fake in (first, again, other)]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    failures = sum(status != 201 for status in runs[0])
    assert 6 <= failures <= 30  # about 30 % of 60
    assert {429, 500} <= set(runs[0])
    stats = await first.stats()
    assert stats["messages"]["created"] == 60 - failures
    # A reset starts the same sequence again.
    await first.post("/_fake/reset", {})
    assert await _outcomes(first, 60) == runs[0]


async def test_deliveries_and_duplicates_are_counted(start_fake_twilio: StartFake) -> None:
    fake = await start_fake_twilio()
    messages = fake.twilio.messages
    await messages.create_async(to="+15550100001", from_=FROM, body="pay by Friday")
    await messages.create_async(to="+15550100001", from_=FROM, body="pay by Friday")
    await messages.create_async(to="+15550100002", from_=FROM, body="pay by Friday")
    stats = await until(lambda: _settled(fake))
    assert stats["messages"]["created"] == 3
    assert stats["messages"]["by_status"] == {"delivered": 3}
    assert stats["deliveries"] == {
        "+15550100001": {"pay by Friday": 2},
        "+15550100002": {"pay by Friday": 1},
    }
    assert stats["duplicates"] == [{"to": "+15550100001", "body": "pay by Friday", "count": 2}]
    await fake.post("/_fake/reset", {})
    reset = await fake.stats()
    assert reset["messages"]["created"] == 0
    assert reset["deliveries"] == {}


async def _settled(fake: Any) -> dict[str, Any] | None:
    stats: dict[str, Any] = await fake.stats()
    return stats if stats["pending_tasks"] == 0 else None


async def test_status_progression_through_fetch(start_fake_twilio: StartFake) -> None:
    fake = await start_fake_twilio(
        number_faults={"+15550100031": "fail", "+15550100032": "undeliverable"}
    )
    messages = fake.twilio.messages
    sids = {
        to: (await messages.create_async(to=to, from_=FROM, body="x")).sid
        for to in ("+15550100030", "+15550100031", "+15550100032")
    }
    await until(lambda: _settled(fake))
    final = {to: await messages(sid).fetch_async() for to, sid in sids.items()}
    assert final["+15550100030"].status == "delivered"
    assert (final["+15550100031"].status, final["+15550100031"].error_code) == ("failed", 30003)
    assert (final["+15550100032"].status, final["+15550100032"].error_code) == (
        "undelivered",
        30005,
    )
    stats = await fake.stats()
    assert stats["faults"] == {"fail": 1, "undeliverable": 1}


async def test_the_control_api_refuses_bad_faults(start_fake_twilio: StartFake) -> None:
    fake = await start_fake_twilio()
    for bad in (
        {"numbers": {"+15550100001": "exploded"}},
        {"transient_rate": 2},
        {"transient_weights": {"418": 1}},
        {"surprise": True},
    ):
        async with fake.control.post(f"{fake.base_url}/_fake/faults", json=bad) as response:
            assert response.status == 400, bad
    assert (await fake.get("/_fake/faults"))["numbers"] == {}


def test_the_verb_is_registered() -> None:
    args = build_parser().parse_args(
        ["fake-twilio", "--port", "4999", "--stop", "+15550100001", "--transient-rate", "0.1"]
    )
    assert (args.port, args.stop, args.transient_rate, args.host) == (
        4999,
        ["+15550100001"],
        0.1,
        "127.0.0.1",
    )
