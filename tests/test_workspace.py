"""The collector workspace (/work) over HTTP, on the demo lender's floor: my queues with their
counts, next account (the lease) landing on the account page, release, today's callbacks and
promises due, and the promises proposed by text replies confirmed or rejected there."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp.test_utils import TestClient
from sqlalchemy import insert, or_, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from service.assignment.run import strategies_for
from service.clock import lender_today, utcnow
from service.db.models import (
    Callback,
    CallbackStatus,
    Loan,
    Promise,
    PromiseStatus,
    Queue,
    Role,
    User,
    WorkItem,
)
from service.devtools.demo import write_demo_portfolio
from service.devtools.floor import DEMO_MEMBERS, open_floor
from service.ingest.pipeline import ImportOptions, import_directory
from service.settings import Settings
from tests.conftest import PASSWORD, make_user
from tests.test_pages import origin, post_form

Client = TestClient[Any, Any]
COLLECTORS = tuple(DEMO_MEMBERS)  # collector1 … collector4, in their demo queues


async def demo_floor(
    engine: AsyncEngine, settings: Settings, tmp_path: Path, borrowers: int = 300
) -> dt.date:
    """The demo lender as ``arrears demo`` opens it (queues, members, the first close of
    business, the day's promises and callbacks), with our own users' passwords; its date."""
    today = lender_today(settings.lender_timezone)
    write_demo_portfolio(tmp_path / "demo", borrowers=borrowers, as_of=today)
    await import_directory(engine, tmp_path / "demo", ImportOptions())
    for name in COLLECTORS:
        await make_user(engine, name, Role.collector)
    await make_user(engine, "sup", Role.supervisor)
    await open_floor(engine, settings, strategies_for(settings), today)
    return today


async def log_in(client: Client, username: str) -> None:
    client.session.cookie_jar.clear()
    response = await post_form(
        client, "/login", {"username": username, "password": PASSWORD}, "/login"
    )
    assert response.status == 200, await response.text()


def cells(html: str, queue: str) -> dict[str, int]:
    """The counts of one queue's row on /work."""
    row = re.search(rf'<tr data-queue="{re.escape(queue)}">(.*?)</tr>', html, re.S)
    assert row is not None, f"no row for {queue}"
    return {
        name: int(value.replace(",", ""))
        for name, value in re.findall(r'data-count="(\w+)">([\d,]+)<', row.group(1))
    }


async def _user_id(engine: AsyncEngine, username: str) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(User.id).where(User.username == username)) or 0)


async def test_a_collector_sees_their_own_queues_with_the_counts_next_account_works_from(
    client: Client, engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    await demo_floor(engine, settings, tmp_path)
    me = await _user_id(engine, "collector1")
    await log_in(client, "collector1")

    response = await client.get("/work")
    assert response.status == 200
    html = await response.text()

    shown = re.findall(r'<tr data-queue="([^"]+)">', html)
    assert shown == ["M2-M3", "M1 early"]  # theirs (DEMO_MEMBERS), in routing order
    async with engine.connect() as conn:
        for name in shown:
            queue = await conn.scalar(select(Queue.id).where(Queue.name == name))
            expected = (
                await conn.execute(
                    text(
                        """SELECT
                             (SELECT count(*) FROM loans WHERE queue_id = :q AND status = 'open'),
                             (SELECT count(*) FROM work_items WHERE queue_id = :q
                                AND lease_holder_id IS NULL AND rank < 3
                                AND (collector_id = :me OR collector_id IS NULL)),
                             (SELECT count(*) FROM loans WHERE queue_id = :q
                                AND status = 'open' AND collector_id = :me)"""
                    ),
                    {"q": queue, "me": me},
                )
            ).one()
            counts = cells(html, name)
            assert (counts["open"], counts["due"], counts["assigned"]) == tuple(expected)
            assert counts["worked"] == 0
    assert sum(cells(html, name)["due"] for name in shown) > 0  # the demo floor has work
    assert 'aria-keyshortcuts="n"' in html
    assert 'action="/work/next"' in html


async def test_next_account_takes_the_lease_lands_on_the_account_and_release_gives_it_back(
    client: Client, engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    await demo_floor(engine, settings, tmp_path)
    me = await _user_id(engine, "collector1")
    await log_in(client, "collector1")

    landed = await post_form(client, "/work/next", {}, "/work")

    assert landed.status == 200
    assert landed.url.path.startswith("/accounts/")
    ref = landed.url.path.removeprefix("/accounts/")
    async with engine.connect() as conn:
        held = (
            await conn.execute(
                select(Loan.loan_ref, WorkItem.lease_expires_at)
                .join(WorkItem, WorkItem.loan_id == Loan.id)
                .where(WorkItem.lease_holder_id == me)
            )
        ).all()
    assert [row.loan_ref for row in held] == [ref]
    page = await landed.text()
    assert f'<span class="muted ref" translate="no">{ref}</span>' in page
    assert "Your next account:" in page  # the reason it came first
    assert 'data-testid="lease">Held by <span translate="no">Collector1</span>' in page

    work = await (await client.get("/work")).text()
    assert f'href="/accounts/{ref}" translate="no"' in work  # "You are working …"
    assert cells(work, "M1 early")["worked"] + cells(work, "M2-M3")["worked"] == 1

    # Next again: the first is let go (worked), another is leased.
    second = await post_form(client, "/work/next", {}, "/work")
    assert second.url.path != landed.url.path

    released = await post_form(client, "/work/release", {}, "/work")
    assert released.url.path == "/work"
    assert "1 account released." in await released.text()
    async with engine.connect() as conn:
        still = await conn.scalar(
            select(WorkItem.loan_id).where(WorkItem.lease_holder_id == me).limit(1)
        )
    assert still is None


async def test_next_account_with_nothing_due_says_so_and_needs_the_form_token(
    client: Client, engine: AsyncEngine
) -> None:
    await make_user(engine, "newcomer", Role.collector)
    await log_in(client, "newcomer")

    answer = await post_form(client, "/work/next", {}, "/work")

    assert answer.url.path == "/work"
    html = await answer.text()
    assert "Nothing is due in your queues right now." in html
    assert "You are not in any queue yet" in html
    # From our own origin but without this session's token (a form not from our page).
    forged = await client.post("/work/next", data={}, headers=origin(client))
    assert forged.status == 403


async def test_a_supervisor_sees_every_worked_queue_and_takes_no_lease(
    client: Client, engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    await demo_floor(engine, settings, tmp_path)
    await log_in(client, "sup")

    html = await (await client.get("/work")).text()

    shown = re.findall(r'<tr data-queue="([^"]+)">', html)
    assert shown == ["Field visits", "Recovery and legal", "M2-M3", "M1 senior", "M1 early"]
    assert 'action="/work/next"' not in html
    assert "Queues on the floor" in html
    assert (await post_form(client, "/work/next", {}, "/work")).status == 403


async def test_todays_callbacks_and_promises_due_are_mine_and_my_queues_never_anothers(
    client: Client, engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    today = await demo_floor(engine, settings, tmp_path)
    me = await _user_id(engine, "collector1")
    other = await _user_id(engine, "collector3")  # also in M1 early
    now = utcnow()
    # Later today and earlier today on the lender's clock, whatever the hour the test runs at.
    here = now.astimezone(ZoneInfo(settings.lender_timezone))
    day_start = dt.datetime.combine(here.date(), dt.time(), here.tzinfo)
    soon = now + (day_start + dt.timedelta(days=1) - now) / 2
    earlier = now - (now - day_start) / 2
    async with engine.begin() as conn:
        mine = list(
            (
                await conn.execute(
                    select(Loan.id, Loan.loan_ref)
                    .join(Queue, Queue.id == Loan.queue_id)
                    .where(Queue.name == "M1 early", Loan.status == "open")
                    .order_by(Loan.id)
                    .limit(4)
                )
            ).all()
        )
        assert len(mine) == 4
        for (loan_id, _ref), owner, due in (
            (mine[0], me, soon),
            (mine[1], other, soon),  # collector3's own
            (mine[2], None, earlier),  # the queue's, overdue
        ):
            await conn.execute(
                insert(Callback).values(
                    loan_id=loan_id,
                    user_id=owner,
                    due_at=due,
                    status=CallbackStatus.scheduled,
                    note="call at lunch",
                    created_by="test",
                )
            )
        await conn.execute(
            insert(Promise).values(
                loan_id=mine[3][0],
                collector_id=me,
                amount=Decimal("321.45"),
                promised_on=today,
                made_on=today,
                status=PromiseStatus.pending,
                source="collector",
            )
        )
        outside = (
            await conn.execute(
                select(Loan.id, Loan.loan_ref)
                .outerjoin(Queue, Queue.id == Loan.queue_id)
                .where(
                    or_(Queue.id.is_(None), Queue.name.not_in(DEMO_MEMBERS["collector1"])),
                    Loan.status == "open",
                )
                .order_by(Loan.id)
                .limit(1)
            )
        ).one()
        await conn.execute(
            insert(Promise).values(
                loan_id=outside[0],
                amount=Decimal("999.99"),
                promised_on=today,
                made_on=today,
                status=PromiseStatus.pending,
                source="collector",
            )
        )
    await log_in(client, "collector1")

    html = await (await client.get("/work")).text()

    callbacks = html.split('data-testid="callbacks"')[1].split("</table>")[0]
    assert f">{mine[0][1]}<" in callbacks
    assert f">{mine[2][1]}<" in callbacks
    assert "overdue" in callbacks
    assert f">{mine[1][1]}<" not in callbacks  # another collector's own callback
    promised = html.split('data-testid="promises"')[1].split("</table>")[0]
    assert f">{mine[3][1]}<" in promised
    assert "321.45" in promised
    assert "Mine" in promised
    assert outside[1] not in html  # not in collector1's queues


async def test_a_promise_proposed_by_a_text_reply_is_confirmed_or_rejected_from_the_workspace(
    client: Client, engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    today = await demo_floor(engine, settings, tmp_path)
    async with engine.begin() as conn:
        loans = list(
            (
                await conn.execute(
                    select(Loan.id, Loan.loan_ref)
                    .join(Queue, Queue.id == Loan.queue_id)
                    .where(Queue.name == "M1 early", Loan.status == "open")
                    .order_by(Loan.id)
                    .limit(2)
                )
            ).all()
        )
        proposed = []
        for loan_id, _ref in loans:
            proposed.append(
                await conn.scalar(
                    insert(Promise)
                    .values(
                        loan_id=loan_id,
                        amount=Decimal("500.00"),
                        promised_on=today + dt.timedelta(days=3),
                        made_on=today,
                        status=PromiseStatus.proposed,
                        source="sms",
                        note="PAY 500 FRI",
                        created_by="twilio",
                    )
                    .returning(Promise.id)
                )
            )
    await log_in(client, "collector1")
    html = await (await client.get("/work")).text()
    listed = html.split('data-testid="proposals"')[1].split("</table>")[0]
    assert "PAY 500 FRI" in listed
    assert loans[0][1] in listed
    assert loans[1][1] in listed

    confirmed = await post_form(
        client,
        f"/accounts/{loans[0][1]}/promises/confirm",
        {"promise": str(proposed[0]), "next": "/work"},
        "/work",
    )
    rejected = await post_form(
        client,
        f"/accounts/{loans[1][1]}/promises/reject",
        {"promise": str(proposed[1]), "next": "/work"},
        "/work",
    )

    assert confirmed.url.path == rejected.url.path == "/work"
    async with engine.connect() as conn:
        states = dict(
            (
                await conn.execute(
                    select(Promise.id, Promise.status).where(Promise.id.in_(proposed))
                )
            ).all()
        )
    assert states == {proposed[0]: PromiseStatus.pending, proposed[1]: PromiseStatus.cancelled}
    assert "PAY 500 FRI" not in await rejected.text()
    # A promise of one account cannot be decided through another account's form.
    again = await post_form(
        client,
        f"/accounts/{loans[1][1]}/promises/cancel",
        {"promise": str(proposed[0])},
        "/work",
    )
    assert again.status == 404
