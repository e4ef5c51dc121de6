"""The account's contact panel: every number with its live compliance state (as a collector
reads it, on the debtor's clock), a text from a template previewed with the guard's verdict and
sent once through the outbox and dispatch, and the refusals — a blocked number, another queue's
account, a form without its token, a call on the console channel."""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from service import auth
from service.clock import FixedClock
from service.contact.dispatch import open_dispatcher
from service.contact.sweeper import dispatch_once
from service.domain import compliance
from service.domain.compliance import HoldKind, Reason
from service.domain.contact import ContactReason
from service.settings import Settings
from service.web.ui import i18n
from service.web.ui.labels import LABELS, label
from tests.conftest import login
from tests.contact_floor import (
    DAWN,
    EMERGENCY,
    GUARANTOR,
    INVALID,
    NIGHT,
    NOON,
    OPTED_OUT,
    PRIMARY,
    Client,
    app_client,
    form_fields,
    post_page_form,
    rows,
    seed,
    sign_in,
)
from tests.test_pages import origin

PANEL = "/accounts/L1/contact"
TWILIO = {
    "channel": "twilio",
    "twilio_account_sid": "AC" + "1" * 32,
    "twilio_auth_token": "test-auth-token",
    "twilio_from_number": "+8610690002",
}
MASKED_EMERGENCY = "+*********7000"


class _Visible(HTMLParser):
    """The text a reader sees, less what is marked translate="no" (data) and the head."""

    VOID = frozenset({"input", "br", "link", "meta", "img", "hr"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[bool] = []  # per open element: whether its text is hidden
        self.words: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.VOID:
            return
        hidden = bool(self.stack and self.stack[-1])
        hidden = hidden or ("translate", "no") in attrs or tag in ("script", "style", "head")
        self.stack.append(hidden)

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if not (self.stack and self.stack[-1]):
            self.words += re.findall(r"[A-Za-z]{2,}", data)


def latin_words(html: str) -> list[str]:
    parser = _Visible()
    parser.feed(html)
    return parser.words


def number_row(html: str, phone: str) -> str:
    """The panel's table row of ``phone`` (as shown: whole or masked)."""
    for row in re.findall(r"<tr data-party=.*?</tr>", html, flags=re.S):
        if f'data-testid="phone">{phone}<' in row:
            return str(row)
    raise AssertionError(f"no row for {phone}")


def cell(row: str, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}">(.*?)</td>', row, flags=re.S)
    assert found is not None, row
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


async def panel(
    aiohttp_client: Any, settings: Settings, engine: AsyncEngine, tmp_path: Path, at: dt.datetime,
    **changes: Any,
) -> tuple[Client, str]:  # fmt: skip
    await seed(engine, tmp_path / "drop")
    client = await app_client(aiohttp_client, settings, at, **changes)
    await sign_in(client, "col")
    response = await client.get(PANEL)
    assert response.status == 200, await response.text()
    return client, await response.text()


async def test_each_number_shows_what_the_guard_says_of_it_now(
    aiohttp_client: Any, settings: Settings, engine: AsyncEngine, tmp_path: Path
) -> None:
    # With Twilio configured (nothing is rung here: the page only offers the calls).
    client, html = await panel(aiohttp_client, settings, engine, tmp_path, NOON, **TWILIO)

    primary = number_row(html, PRIMARY)
    assert cell(primary, "call-state") == "Allowed now"
    assert cell(primary, "sms-state") == "Allowed now"
    assert 'aria-keyshortcuts="k"' in primary  # k calls the first allowed debtor number
    assert "Blocked — opted out" in cell(number_row(html, OPTED_OUT), "call-state")
    assert cell(number_row(html, INVALID), "call-state") == "Blocked — number invalid"
    guarantor = number_row(html, GUARANTOR)
    assert cell(guarantor, "call-state") == "Allowed now"
    assert cell(guarantor, "sms-state") == "Blocked — no consent to texts"
    # An emergency contact may not be called while the debtor can be reached: the number is
    # not shown whole either.
    assert EMERGENCY not in html
    emergency = number_row(html, MASKED_EMERGENCY)
    assert "emergency contact: debtor reachable" in cell(emergency, "call-state")
    assert 'aria-keyshortcuts="m"' in html  # m goes to the text's template

    # The API answers the same from the same service.
    token = await login(client, "col")
    answer = await client.get(
        "/api/loans/L1/contactability", headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status == 200, await answer.text()
    body = await answer.json()
    by_phone = {n["masked"]: n for n in body["numbers"]}
    states = {n["phone"]: (n["call"]["verdict"], n["call"]["reasons"]) for n in body["numbers"]}
    assert states[PRIMARY] == ("allow", [])
    assert states[INVALID] == ("block", ["number_invalid"])
    assert states[OPTED_OUT] == ("block", ["opted_out"])
    assert states[GUARANTOR] == ("allow", [])
    emergency_out = by_phone[MASKED_EMERGENCY]
    assert emergency_out["phone"] is None
    assert emergency_out["call"]["reasons"] == ["third_party_debtor_reachable"]
    assert body["zone"] == "Asia/Shanghai"
    assert body["sms_templates"] == ["overdue"]
    assert body["calls"] is True
    # Only numbers that may be called now are offered a call.
    assert html.count('data-testid="call-button"') == 2  # the primary and the guarantor


@pytest.mark.parametrize(
    ("at", "until"), [(NIGHT, "Blocked until tomorrow 08:00"), (DAWN, "Blocked until 08:00")]
)
async def test_at_night_on_the_debtors_clock_a_number_waits_for_08_00(
    aiohttp_client: Any,
    settings: Settings,
    engine: AsyncEngine,
    tmp_path: Path,
    at: dt.datetime,
    until: str,
) -> None:
    client, html = await panel(aiohttp_client, settings, engine, tmp_path, at)
    primary = number_row(html, PRIMARY)
    assert cell(primary, "call-state") == f"{until} — quiet hours"
    assert cell(primary, "sms-state") == f"{until} — quiet hours"
    assert 'data-testid="call-button"' not in primary
    # In Chinese, the same state in the collector's words.
    async with engine.begin() as conn:
        await auth.set_preferences(conn, 1, ui_locale="zh-CN")
    chinese = await (await client.get(PANEL)).text()
    assert "禁止催收时段" in cell(number_row(chinese, PRIMARY), "call-state")
    panel_only = chinese.split('data-testid="contact-panel"')[1].split("</section>")[0]
    assert latin_words("<section " + panel_only) == []
    assert "08:00" in cell(number_row(chinese, PRIMARY), "call-state")


US_BORROWERS = """\
borrower_ref,name,phone,alt_phones,timezone,locale,region,address,sms_consent
B1,Jane Roe,+12125550100,,America/New_York,en,NY,1 Main St,true
B2,John Doe,+12125550111,,America/New_York,en,NY,2 Main St,true
"""
US_LOANS = """\
loan_ref,borrower_ref,product,currency,principal,annual_rate,penalty_rate_daily,disbursed_on,maturity_on
L1,B1,cash,USD,5000.00,0.18,0.0005,2026-01-05,2027-01-05
L2,B2,cash,USD,5000.00,0.18,0.0005,2026-01-05,2027-01-05
"""


async def test_the_us_seven_day_cap_shows_until_when(
    aiohttp_client: Any, settings: Settings, engine: AsyncEngine, tmp_path: Path
) -> None:
    week = "".join(
        f"A{day},L1,debtor,+12125550100,call,outbound,2026-11-{day:02d}T10:00:00-05:00,no_answer,\n"
        for day in range(2, 9)
    )
    attempts = "attempt_ref,loan_ref,party,phone,channel,direction,occurred_at,result,disposition\n"
    await seed(
        engine, tmp_path / "drop", borrowers=US_BORROWERS, loans=US_LOANS, contacts="",
        installments="loan_ref,seq,due_on,principal_due,interest_due\n", opt_outs="",
        attempts=attempts + week,
    )  # fmt: skip
    evening = dt.datetime(2026, 11, 8, 18, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    client = await app_client(
        aiohttp_client, settings, evening, compliance_profile="us",
        lender_timezone="America/New_York",
    )  # fmt: skip
    await sign_in(client, "col")
    html = await (await client.get(PANEL)).text()
    state = cell(number_row(html, "+12125550100"), "call-state")
    # The eighth day (9 November) has room for one call, from 08:00:01 on their clock.
    assert state == "Blocked until tomorrow 08:00 — 7-day cap reached"


async def test_a_text_is_previewed_then_sent_once_through_dispatch_as_the_collectors(
    aiohttp_client: Any, settings: Settings, engine: AsyncEngine, tmp_path: Path
) -> None:
    client, html = await panel(aiohttp_client, settings, engine, tmp_path, NOON)
    fields = form_fields(html, "/accounts/L1/sms/preview")
    preview = await post_page_form(
        client,
        "/accounts/L1/sms/preview",
        {**fields, "template": "overdue", "phone": PRIMARY},
        PANEL,
    )
    assert preview.status == 200
    shown = await preview.text()
    text = re.search(r'data-testid="sms-text">(.*?)</blockquote>', shown, flags=re.S)
    assert text is not None
    # The exact words that leave: the template's, with the cn footer added as dispatch adds it.
    assert text.group(1) == (
        "【Arrears Demo Lender】王芳您好，您的贷款（尾号L1）已逾期31天，逾期金额CNY 1100.00，"
        "请尽快还款，如有疑问请致电客服。回复TD退订"
    )
    assert "Allowed now" in shown
    send = form_fields(shown, "/accounts/L1/sms")
    assert send["key"] == fields["key"]  # the preview's form goes on with the same key
    first = await post_page_form(client, "/accounts/L1/sms", send, PANEL)
    again = await post_page_form(client, "/accounts/L1/sms", send, PANEL)  # a double submit
    assert first.status == again.status == 200  # redirected to the panel
    assert first.url.query.get("contact") == "sms_queued"
    assert "The text is on its way" in await first.text()
    outbox = await rows(
        engine, "SELECT id, status, phone, step, template FROM outbox WHERE step = 'collector_sms'"
    )
    assert [row[1:] for row in outbox] == [("pending", PRIMARY, "collector_sms", "overdue")]

    at = NOON + dt.timedelta(seconds=5)
    async with open_dispatcher(settings, engine, FixedClock(at)) as dispatcher:
        report = await dispatch_once(dispatcher)
    assert report.outcomes["sent"] == 1
    attempts = await rows(
        engine,
        "SELECT a.phone, a.channel, a.result, a.source, u.username, a.template "
        "FROM contact_log a JOIN users u ON u.id = a.collector_id",
    )
    assert attempts == [(PRIMARY, "sms", "delivered", "collector", "col", "overdue")]
    body = await rows(engine, "SELECT body FROM outbox WHERE id = :id", id=outbox[0][0])
    assert body == [(text.group(1),)]
    # On the timeline, as the collector's.
    token = await login(client, "col")
    timeline = await (
        await client.get("/api/loans/L1/timeline", headers={"Authorization": f"Bearer {token}"})
    ).json()
    sms = [item for item in timeline["items"] if item["kind"] == "attempt"]
    shown_as = [(item["details"]["channel"], item["details"]["source"]) for item in sms]
    assert shown_as == [("sms", "collector")]


async def test_a_blocked_number_offers_no_send_and_a_forced_one_is_refused_with_the_reason(
    aiohttp_client: Any, settings: Settings, engine: AsyncEngine, tmp_path: Path
) -> None:
    client, html = await panel(aiohttp_client, settings, engine, tmp_path, NOON)
    fields = form_fields(html, "/accounts/L1/sms/preview")
    chosen = {**fields, "template": "overdue", "phone": OPTED_OUT}
    preview = await post_page_form(client, "/accounts/L1/sms/preview", chosen, PANEL)
    shown = await preview.text()
    assert "Blocked" in shown
    assert "opted out" in re.sub(r"<[^>]+>", "", shown.split('data-testid="sms-verdict">')[1])
    assert 'data-testid="sms-send"' not in shown
    forced = await post_page_form(client, "/accounts/L1/sms", chosen, PANEL)
    assert forced.status == 409
    assert "Not sent: the guard does not allow this text now (opted out)." in await forced.text()
    assert await rows(engine, "SELECT id FROM outbox WHERE step = 'collector_sms'") == []
    # The refusal is kept, with the reason.
    kept = await rows(
        engine, "SELECT stage, verdict, reasons FROM guard_decisions WHERE channel = 'sms'"
    )
    assert kept == [("collector", "block", "opted_out")]
    # The API refuses the same with the same reason.
    token = await login(client, "col")
    answer = await client.post(
        "/api/loans/L1/sms",
        json={"template": "overdue", "phone": OPTED_OUT, "key": "api-1"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status == 409
    assert (await answer.json())["error"]["details"]["reasons"] == ["opted_out"]


async def test_the_api_previews_and_sends_a_text_once_per_key(
    aiohttp_client: Any, settings: Settings, engine: AsyncEngine, tmp_path: Path
) -> None:
    client, _ = await panel(aiohttp_client, settings, engine, tmp_path, NOON)
    headers = {"Authorization": f"Bearer {await login(client, 'col')}"}
    preview = await client.post(
        "/api/loans/L1/sms", json={"template": "overdue", "preview": True}, headers=headers
    )
    assert preview.status == 200
    shown = await preview.json()
    assert shown["text"].endswith("回复TD退订")
    assert shown["decision"]["verdict"] == "allow"
    assert (shown["sent"], shown["phone"]) == (False, PRIMARY)
    request = {"template": "overdue", "key": "client-7"}
    first = await client.post("/api/loans/L1/sms", json=request, headers=headers)
    second = await client.post("/api/loans/L1/sms", json=request, headers=headers)
    assert (first.status, second.status) == (201, 200)
    assert (await first.json())["outbox_id"] == (await second.json())["outbox_id"]
    assert len(await rows(engine, "SELECT id FROM outbox WHERE step = 'collector_sms'")) == 1
    other = await client.post(
        "/api/loans/L1/sms", json={"template": "pre_due", "key": "x"}, headers=headers
    )
    assert other.status == 422  # not a text true of this account now (it is overdue)


async def test_another_queues_collector_gets_404_and_a_form_without_its_token_403(
    aiohttp_client: Any, settings: Settings, engine: AsyncEngine, tmp_path: Path
) -> None:
    client, html = await panel(aiohttp_client, settings, engine, tmp_path, NOON)
    fields = form_fields(html, "/accounts/L1/sms/preview")
    untokened = {k: v for k, v in fields.items() if k != "csrf_token"}
    refused = await client.post("/accounts/L1/sms/preview", data=untokened, headers=origin(client))
    assert refused.status == 403
    await post_page_form(client, "/logout", {}, "/")
    await sign_in(client, "other")
    form = {"template": "overdue", "phone": PRIMARY, "key": "k1", "party": "debtor"}
    assert (await client.get(PANEL)).status == 404
    for path in ("/accounts/L1/sms/preview", "/accounts/L1/sms", "/accounts/L1/call"):
        response = await post_page_form(client, path, form, "/me")
        assert response.status == 404, path
        assert PRIMARY not in await response.text()
    headers = {"Authorization": f"Bearer {await login(client, 'other')}"}
    assert (await client.get("/api/loans/L1/contactability", headers=headers)).status == 404
    for path, body in (
        ("/api/loans/L1/sms", {"template": "overdue", "preview": True}),
        ("/api/loans/L1/sms", {"template": "overdue", "key": "k2"}),
        ("/api/loans/L1/calls", {"party": "debtor"}),
    ):
        assert (await client.post(path, json=body, headers=headers)).status == 404, path
    assert await rows(engine, "SELECT id FROM outbox WHERE step = 'collector_sms'") == []
    # Their own account's panel is theirs.
    assert (await client.get("/accounts/L2/contact")).status == 200


async def test_on_the_console_channel_a_call_is_refused_plainly(
    aiohttp_client: Any, settings: Settings, engine: AsyncEngine, tmp_path: Path
) -> None:
    client, html = await panel(aiohttp_client, settings, engine, tmp_path, NOON)
    assert 'data-testid="calls-need-twilio"' in html
    assert 'data-testid="call-button"' not in html  # nothing pretends to call
    assert 'aria-keyshortcuts="k"' not in html
    forced = await post_page_form(
        client, "/accounts/L1/call", {"party": "debtor", "phone": PRIMARY, "key": "c1"}, PANEL
    )
    assert forced.status == 409
    assert 'Calls need <span translate="no">Twilio</span>' in await forced.text()
    assert await rows(engine, "SELECT id FROM contact_log") == []


def test_every_reason_the_guard_gives_has_a_name_on_the_page() -> None:
    # The reason codes written in the guard's own source, so a new one cannot go unnamed.
    source = Path(compliance.__file__).read_text(encoding="utf-8")
    written = set(re.findall(r'(?:append|defers\.append)\(\(?"([a-z_0-9]+)"', source))
    written |= set(re.findall(r'Decision\(Verdict\.block, \("([a-z_0-9]+)",\)\)', source))
    written |= {f"hold_{kind}" for kind in HoldKind}
    assert written, "no reason found in the guard's source"
    assert written <= {reason.value for reason in Reason}, written - set(Reason)
    assert set(LABELS[Reason]) == set(Reason)
    assert set(LABELS[ContactReason]) == set(ContactReason)
    token = i18n.activate("zh-CN")
    try:
        names = {label(reason.value, "reason") for reason in (*Reason, *ContactReason)}
        assert not {name for name in names if re.search(r"[A-Za-z]{3,}", name)}
    finally:
        i18n.deactivate(token)
    assert label("a_new_code", "reason") == "a_new_code"  # shown, never hidden
