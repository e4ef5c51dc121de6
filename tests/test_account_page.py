"""The account page over HTTP, on the demo lender's floor: what it shows of the borrower and the
loan, each form storing what its API endpoint stores and showing it on the timeline, refusals
shown beside the form with what was typed kept, the timeline's older pages, a collector of
another queue refused everything, and a page whose reads do not grow with the account's log."""

from __future__ import annotations

import datetime as dt
import html as html_lib
import re
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp.test_utils import TestClient
from sqlalchemy import event, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from service.clock import utcnow
from service.db.models import (
    Arrangement,
    Attempt,
    Borrower,
    Callback,
    Contact,
    Loan,
    PhoneNumber,
    Promise,
    PromiseStatus,
    Queue,
    User,
)
from service.devtools.floor import DEMO_MEMBERS
from service.domain.arrangements import ArrangementStatus
from service.settings import Settings
from service.web.keys import ENGINE
from tests.test_pages import origin, post_form
from tests.test_workspace import demo_floor, log_in

Client = TestClient[Any, Any]


async def an_account(engine: AsyncEngine, queues: tuple[str, ...], **where: Any) -> Any:
    """An open, overdue account of ``queues`` whose borrower has a contact, and its borrower."""
    async with engine.connect() as conn:
        query = (
            select(Loan.id, Loan.loan_ref, Loan.outstanding, Borrower.id.label("borrower_id"))
            .join(Borrower, Borrower.id == Loan.borrower_id)
            .join(Queue, Queue.id == Loan.queue_id)
            .where(
                Queue.name.in_(queues),
                Loan.status == "open",
                Loan.days_past_due > 0,
                select(Contact.id).where(Contact.borrower_id == Borrower.id).exists(),
            )
            .order_by(Loan.id)
            .limit(1)
        )
        return (await conn.execute(query)).one()


async def _page(client: Client, ref: str) -> str:
    response = await client.get(f"/accounts/{ref}")
    assert response.status == 200, await response.text()
    return await response.text()


def _section(html: str, testid: str) -> str:
    found = html.split(f'data-testid="{testid}"', 1)
    assert len(found) == 2, f"no {testid}"
    return found[1].split("</table>")[0].split("</ul>")[0]


def _timeline(html: str) -> str:
    return html.split('<ol class="timeline"', 1)[1].split("</ol>")[0]


async def test_the_account_page_shows_the_borrower_the_loan_and_the_timeline(
    client: Client, engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    await demo_floor(engine, settings, tmp_path)
    account = await an_account(engine, DEMO_MEMBERS["collector1"])
    async with engine.connect() as conn:
        borrower = (
            await conn.execute(select(Borrower).where(Borrower.id == account.borrower_id))
        ).one()
        phones = list(
            (
                await conn.scalars(
                    select(PhoneNumber.e164).where(PhoneNumber.borrower_id == borrower.id)
                )
            ).all()
        )
        contacts = (
            await conn.execute(select(Contact).where(Contact.borrower_id == borrower.id))
        ).all()
        loan = (await conn.execute(select(Loan).where(Loan.id == account.id))).one()
    await log_in(client, "collector1")

    html = await _page(client, account.loan_ref)

    assert f'<span translate="no">{html_lib.escape(borrower.name)}</span>' in html
    shown_phones = _section(html, "phones")
    assert phones
    assert all(phone in shown_phones for phone in phones)
    shown_contacts = _section(html, "contacts")
    for contact in contacts:
        assert html_lib.escape(contact.name) in shown_contacts
        role = "Guarantor or co-obligor" if contact.debt_related else "Emergency contact"
        assert role in shown_contacts
    facts = html.split('data-testid="loan"')[1].split("</dl>")[0]
    assert f'<dd translate="no">{loan.days_past_due}</dd>' in facts
    assert f'<dd translate="no">{loan.bucket}</dd>' in facts
    assert f"{loan.outstanding:,.2f}" in facts
    assert "Special mention" in facts or "Substandard" in facts or "Doubtful" in facts
    assert html.count("<tr><td>", html.index('data-testid="schedule"')) > 0
    assert '<ol class="timeline"' in html
    assert "{{" not in html
    assert "contact_panel" not in html

    chinese = await client.get(f"/accounts/{account.loan_ref}", headers={})
    assert chinese.status == 200
    await post_form(client, "/me/language", {"locale": "zh-CN", "next": "/"}, "/work")
    zh = await _page(client, account.loan_ref)
    assert '<html lang="zh-CN">' in zh
    facts = zh.split('data-testid="loan"')[1].split("</dl>")[0]
    assert any(name in facts for name in ("关注", "次级", "可疑", "损失"))


async def test_logging_a_call_with_a_promise_stores_both_and_shows_them_on_the_timeline(
    client: Client, engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    today = await demo_floor(engine, settings, tmp_path)
    account = await an_account(engine, DEMO_MEMBERS["collector1"])
    await log_in(client, "collector1")
    by = (today + dt.timedelta(days=7)).isoformat()
    form = {
        "party": "debtor",
        "phone": "",
        "result": "conversation",
        "disposition": "promise_to_pay",
        "note": "will pay after payday",
        "attempt_ref": "web-test-0001",
        "promise_amount": "800.50",
        "promise_on": by,
        "callback_at": "",
    }

    saved = await post_form(client, f"/accounts/{account.loan_ref}/outcome", form, "/work")
    again = await post_form(client, f"/accounts/{account.loan_ref}/outcome", form, "/work")

    assert saved.status == again.status == 200
    assert saved.url.path == f"/accounts/{account.loan_ref}"
    html = await saved.text()
    assert "The call&#39;s outcome is logged." in html
    assert re.search(r'id="next" aria-keyshortcuts="n" autofocus', html)  # then: next account
    async with engine.connect() as conn:
        attempts = (
            await conn.execute(
                select(Attempt.channel, Attempt.result, Attempt.disposition, Attempt.source).where(
                    Attempt.attempt_ref == "web-test-0001"
                )
            )
        ).all()
        promises = (
            await conn.execute(
                select(
                    Promise.amount, Promise.promised_on, Promise.status, Promise.created_by
                ).where(Promise.loan_id == account.id, Promise.attempt_id.is_not(None))
            )
        ).all()
        me = await conn.scalar(select(User.id).where(User.username == "collector1"))
        phone = await conn.scalar(
            select(Attempt.phone).where(Attempt.attempt_ref == "web-test-0001")
        )
        primary = await conn.scalar(
            select(PhoneNumber.e164).where(
                PhoneNumber.borrower_id == account.borrower_id, PhoneNumber.kind == "primary"
            )
        )
    logged = [("call", "conversation", "promise_to_pay", "collector")]
    assert [tuple(row) for row in attempts] == logged
    assert [tuple(row) for row in promises] == [
        (Decimal("800.50"), dt.date.fromisoformat(by), PromiseStatus.pending, "collector1")
    ]  # the second post was the same request: logged once
    assert me is not None
    assert phone == primary
    timeline = _timeline(html)
    assert "Promise to pay" in timeline
    assert "will pay after payday" in timeline
    assert "800.50" in timeline
    assert "800.50" in _section(html, "promises")


async def test_a_promise_a_callback_and_an_arrangement_are_stored_and_shown(
    client: Client, engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    today = await demo_floor(engine, settings, tmp_path)
    account = await an_account(engine, DEMO_MEMBERS["collector1"])
    ref = account.loan_ref
    await log_in(client, "collector1")
    zone = ZoneInfo(settings.lender_timezone)
    local = (utcnow().astimezone(zone) + dt.timedelta(days=1)).replace(
        hour=10, minute=30, second=0, microsecond=0
    )

    promised = await post_form(
        client,
        f"/accounts/{ref}/promises",
        {"amount": "120", "promised_on": (today + dt.timedelta(days=2)).isoformat(), "note": ""},
        "/work",
    )
    called = await post_form(
        client,
        f"/accounts/{ref}/callbacks",
        {"due_at": local.strftime("%Y-%m-%dT%H:%M"), "for_queue": "on", "note": "after work"},
        "/work",
    )
    arranged = await post_form(
        client,
        f"/accounts/{ref}/arrangements",
        {
            "kind": "payment_plan",
            "total": f"{account.outstanding:.2f}",
            "instalments": "3",
            "first_on": (today + dt.timedelta(days=5)).isoformat(),
            "every_days": "30",
            "note": "three months",
        },
        "/work",
    )

    assert "The promise to pay is recorded." in await promised.text()
    assert "The callback is scheduled." in await called.text()
    html = await arranged.text()
    assert "The arrangement is proposed." in html
    async with engine.connect() as conn:
        promise = (
            await conn.execute(
                select(Promise.amount, Promise.status, Promise.source).where(
                    Promise.loan_id == account.id,
                    Promise.arrangement_id.is_(None),
                    Promise.created_by == "collector1",
                )
            )
        ).one()
        callback = (
            await conn.execute(
                select(Callback.due_at, Callback.user_id, Callback.note).where(
                    Callback.loan_id == account.id, Callback.created_by == "collector1"
                )
            )
        ).one()
        arrangement = (
            await conn.execute(
                select(Arrangement.status, Arrangement.instalments, Arrangement.total).where(
                    Arrangement.loan_id == account.id
                )
            )
        ).one()
        instalments = await conn.scalar(
            select(func.count()).select_from(Promise).where(Promise.arrangement_id.is_not(None))
        )
    assert tuple(promise) == (Decimal("120.00"), PromiseStatus.pending, "collector")
    assert callback.due_at == local.astimezone(dt.UTC)  # the lender's wall clock, stored in UTC
    assert callback.user_id is None
    assert callback.note == "after work"
    assert tuple(arrangement) == (ArrangementStatus.active, 3, account.outstanding)
    assert instalments == 3
    assert "120.00" in _section(html, "promises")
    assert "after work" in _section(html, "callbacks")
    shown = html.split('data-testid="arrangement"')[1]
    assert "Payment plan" in shown
    assert "In force" in shown
    timeline = _timeline(html)
    assert timeline.count('class="tl tl-promise"') >= 4  # the promise and the 3 instalments


async def test_a_refused_form_shows_why_beside_it_and_keeps_what_was_typed(
    client: Client, engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    today = await demo_floor(engine, settings, tmp_path)
    account = await an_account(engine, DEMO_MEMBERS["collector1"])
    ref = account.loan_ref
    await log_in(client, "collector1")
    async with engine.connect() as conn:
        before = await conn.scalar(select(func.count()).select_from(Attempt))

    # The service refuses it: a promise without its amount and date.
    refused = await post_form(
        client,
        f"/accounts/{ref}/outcome",
        {
            "party": "debtor",
            "result": "conversation",
            "disposition": "promise_to_pay",
            "note": "said next week",
            "attempt_ref": "web-test-0002",
        },
        "/work",
    )
    assert refused.status == 422
    html = await refused.text()
    assert "Not saved: check the fields marked below." in html
    assert 'id="outcome-promise_amount-error">A promise to pay needs an amount and a date.' in html
    assert 'aria-describedby="outcome-promise_amount-error"' in html
    assert '<option value="promise_to_pay" selected>' in html
    assert ">said next week</textarea>" in html
    assert 'name="attempt_ref" value="web-test-0002"' in html

    # The form's own reading refuses it: not an amount, and a past day.
    bad = await post_form(
        client,
        f"/accounts/{ref}/promises",
        {"amount": "12,5 yuan", "promised_on": "2020-01-01", "note": "x"},
        "/work",
    )
    assert bad.status == 422
    page = await bad.text()
    assert 'id="promise-amount-error">Enter an amount such as 500 or 500.50.' in page
    assert 'value="12,5 yuan"' in page
    assert "<details" in page
    assert 'data-form="promise"' in page
    assert re.search(r'aria-label="Record a promise" open data-form="promise"', page)
    past = await post_form(
        client,
        f"/accounts/{ref}/promises",
        {"amount": "12.50", "promised_on": "2020-01-01"},
        "/work",
    )
    assert past.status == 422
    assert 'id="promise-promised_on-error">A day from today to 366 days ahead.' in await past.text()

    # A settlement for more than the balance.
    over = await post_form(
        client,
        f"/accounts/{ref}/arrangements",
        {
            "kind": "settlement",
            "total": f"{account.outstanding + 1:.2f}",
            "instalments": "1",
            "first_on": today.isoformat(),
        },
        "/work",
    )
    assert over.status == 422
    assert 'id="arrangement-total-error">A settlement is for less than the balance.' in (
        await over.text()
    )
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(Attempt)) == before
        assert (
            await conn.scalar(
                select(func.count()).select_from(Promise).where(Promise.created_by == "collector1")
            )
            == 0
        )


async def test_a_collector_of_another_queue_gets_404_everywhere_and_a_form_needs_its_token(
    client: Client, engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    today = await demo_floor(engine, settings, tmp_path)
    theirs = await an_account(engine, ("M1 senior", "Recovery and legal", "Field visits"))
    mine = await an_account(engine, DEMO_MEMBERS["collector1"])
    async with engine.connect() as conn:
        name = await conn.scalar(select(Borrower.name).where(Borrower.id == theirs.borrower_id))
    await log_in(client, "collector1")
    forms = {
        "outcome": {"result": "no_answer"},
        "promises": {"amount": "10", "promised_on": today.isoformat()},
        "promises/confirm": {"promise": "1"},
        "promises/reject": {"promise": "1"},
        "promises/cancel": {"promise": "1"},
        "arrangements": {"kind": "payment_plan", "total": "10", "instalments": "1"},
        "arrangements/decide": {"arrangement": "1", "decision": "approve"},
        "callbacks": {"due_at": "2030-01-01T10:00"},
        "callbacks/close": {"callback": "1", "status": "done"},
    }

    for path in ("", "/timeline", "/timeline?offset=50", "/timeline?partial=1"):
        response = await client.get(f"/accounts/{theirs.loan_ref}{path}")
        assert response.status == 404, path
        assert html_lib.escape(str(name)) not in await response.text()
    for action, data in forms.items():
        response = await post_form(client, f"/accounts/{theirs.loan_ref}/{action}", data, "/work")
        assert response.status == 404, action
        forged = await client.post(
            f"/accounts/{mine.loan_ref}/{action}", data=data, headers=origin(client)
        )
        assert forged.status == 403, action
    async with engine.connect() as conn:
        assert (
            await conn.scalar(
                select(func.count()).select_from(Attempt).where(Attempt.source == "collector")
            )
            == 0
        )
        assert (
            await conn.scalar(
                select(func.count())
                .select_from(Callback)
                .where(Callback.created_by == "collector1")
            )
            == 0
        )


async def test_the_timeline_pages_back_and_its_fragment_is_the_items_alone(
    client: Client, engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    await demo_floor(engine, settings, tmp_path)
    account = await an_account(engine, DEMO_MEMBERS["collector1"])
    await _history(engine, account, 70)
    await log_in(client, "collector1")

    html = await _page(client, account.loan_ref)
    first = re.findall(r'class="tl tl-', _timeline(html))
    assert len(first) == 20
    assert f'href="/accounts/{account.loan_ref}/timeline?offset=20" data-more' in html

    older = await client.get(f"/accounts/{account.loan_ref}/timeline?offset=20")
    page = await older.text()
    assert older.status == 200
    assert "<h1>" in page
    assert len(re.findall(r'class="tl tl-', page)) == 50
    assert f"/accounts/{account.loan_ref}/timeline?offset=70" in page  # older still
    assert f"/accounts/{account.loan_ref}/timeline?offset=0" in page  # newer

    fragment = await (
        await client.get(f"/accounts/{account.loan_ref}/timeline?offset=70&partial=1")
    ).text()
    assert "<html" not in fragment
    assert 'class="tl tl-' in fragment
    notes = re.findall(r"history note (\d+)", html + page + fragment)
    assert sorted(map(int, notes)) == list(range(70))  # each once, none lost between pages
    assert (await client.get(f"/accounts/{account.loan_ref}/timeline?offset=-1")).status == 400


async def test_the_account_page_reads_the_same_few_statements_however_long_the_history(
    client: Client, engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    await demo_floor(engine, settings, tmp_path)
    account = await an_account(engine, DEMO_MEMBERS["collector1"])
    await log_in(client, "collector1")
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    assert client.app is not None
    app_engine = client.app[ENGINE].sync_engine
    event.listen(app_engine, "before_cursor_execute", count)
    try:
        await _page(client, account.loan_ref)
        short = len(statements)
        await _history(engine, account, 120)
        statements.clear()
        html = await _page(client, account.loan_ref)
        long = len(statements)
    finally:
        event.remove(app_engine, "before_cursor_execute", count)
    assert "history note 119" in html
    assert long == short
    assert long <= 30


async def _history(engine: AsyncEngine, account: Any, attempts: int) -> None:
    """``attempts`` older calls on the account, a minute apart, each with its numbered note."""
    start = utcnow() - dt.timedelta(days=2)
    async with engine.begin() as conn:
        await conn.execute(
            insert(Attempt),
            [
                {
                    "attempt_ref": f"hist-{account.id}-{n}",
                    "loan_id": account.id,
                    "phone": "+8613800000000",
                    "channel": "call",
                    "direction": "outbound",
                    "occurred_at": start + dt.timedelta(minutes=n),
                    "result": "no_answer",
                    "source": "import",
                    "note": f"history note {n}",
                }
                for n in range(attempts)
            ],
        )


async def test_callbacks_close_promises_cancel_and_a_supervisor_approves_a_settlement(
    client: Client, engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    today = await demo_floor(engine, settings, tmp_path)
    account = await an_account(engine, DEMO_MEMBERS["collector1"])
    ref = account.loan_ref
    await log_in(client, "collector1")
    await post_form(
        client,
        f"/accounts/{ref}/promises",
        {"amount": "50", "promised_on": today.isoformat()},
        "/work",
    )
    local = utcnow().astimezone(ZoneInfo(settings.lender_timezone)) + dt.timedelta(hours=2)
    await post_form(
        client, f"/accounts/{ref}/callbacks", {"due_at": local.strftime("%Y-%m-%dT%H:%M")}, "/work"
    )
    async with engine.connect() as conn:
        promise_id = await conn.scalar(
            select(Promise.id).where(Promise.loan_id == account.id, Promise.amount == 50)
        )
        callback_id = await conn.scalar(
            select(Callback.id).where(
                Callback.loan_id == account.id, Callback.created_by == "collector1"
            )
        )

    cancelled = await post_form(
        client, f"/accounts/{ref}/promises/cancel", {"promise": str(promise_id)}, "/work"
    )
    closed = await post_form(
        client,
        f"/accounts/{ref}/callbacks/close",
        {"callback": str(callback_id), "status": "done"},
        "/work",
    )
    twice = await post_form(
        client,
        f"/accounts/{ref}/callbacks/close",
        {"callback": str(callback_id), "status": "cancelled"},
        "/work",
    )
    settlement = await post_form(
        client,
        f"/accounts/{ref}/arrangements",
        {
            "kind": "settlement",
            "total": f"{account.outstanding * Decimal('0.8'):.2f}",
            "instalments": "2",
            "first_on": today.isoformat(),
            "every_days": "14",
        },
        "/work",
    )

    assert "The promise is cancelled." in await cancelled.text()
    assert "The callback is closed." in await closed.text()
    assert twice.status == 409
    assert "This callback is closed already." in await twice.text()
    html = await settlement.text()
    assert "Awaiting approval" in html
    assert "A supervisor approves" in html
    assert 'name="decision" value="approve"' not in html  # a collector does not decide it
    async with engine.connect() as conn:
        arrangement_id = await conn.scalar(
            select(Arrangement.id).where(Arrangement.loan_id == account.id)
        )

    await log_in(client, "sup")
    page = await _page(client, ref)
    assert 'name="decision" value="approve"' in page
    approved = await post_form(
        client,
        f"/accounts/{ref}/arrangements/decide",
        {"arrangement": str(arrangement_id), "decision": "approve"},
        f"/accounts/{ref}",
    )
    assert "The arrangement is approved." in await approved.text()
    async with engine.connect() as conn:
        status = await conn.scalar(
            select(Arrangement.status).where(Arrangement.id == arrangement_id)
        )
        states = set(
            (
                await conn.scalars(
                    select(Promise.status).where(Promise.arrangement_id == arrangement_id)
                )
            ).all()
        )
        assert (
            await conn.scalar(select(Promise.status).where(Promise.id == promise_id))
            == PromiseStatus.cancelled
        )
    assert status == ArrangementStatus.active
    assert states == {PromiseStatus.pending}
