"""A lender's floor for the task pages' tests: a lost-contact account for the field queue, a
loss-classified account and an M4 account for the legal queue; a field collector, a collector
of another queue, a legal collector, two supervisors; close of business run (tasks planned,
inspections scheduled, accounts assigned). Each user browses with a client of their own."""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from service.assignment.queues import add_member, install_default_queues
from service.assignment.run import strategies_for
from service.clock import FixedClock
from service.cob.nightly import Planning, run_cob
from service.db.models import Role
from service.ingest.pipeline import ImportOptions, import_directory
from service.settings import Settings
from tests.conftest import PASSWORD, make_user

Client = TestClient[Any, Any]
ZONE = dt.timezone(dt.timedelta(hours=8))
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4

BORROWERS = """\
borrower_ref,name,phone,alt_phones,timezone,locale,address,sms_consent
B-LOST,张八,13800138008,13800138018,Asia/Shanghai,zh-CN,北京市海淀区中关村大街1号,true
B-LOSS,王五,13800138011,,Asia/Shanghai,zh-CN,北京市朝阳区,true
B-M4,孙八,13800138014,,Asia/Shanghai,zh-CN,广州市,true
"""
LOANS = """\
loan_ref,borrower_ref,currency,principal,annual_rate,disbursed_on,maturity_on
L-LOST,B-LOST,CNY,20000.00,0.00,2026-06-01,2027-06-01
L-LOSS,B-LOSS,CNY,10000.00,0.10,2025-01-01,2025-07-01
L-M4,B-M4,CNY,4000.00,0.00,2025-01-01,2027-06-01
"""
INSTALLMENTS = """\
loan_ref,seq,due_on,principal_due,interest_due
L-LOST,1,2026-11-15,10000.00,0.00
L-LOST,2,2027-06-01,10000.00,0.00
L-LOSS,1,2025-06-01,5000.00,100.00
L-LOSS,2,2025-07-01,5000.00,100.00
L-M4,1,2026-08-15,2000.00,0.00
L-M4,2,2027-06-01,2000.00,0.00
"""
# Two days of unanswered calls on both numbers: at the close of the 25th the debtor is lost.
ATTEMPTS = """\
attempt_ref,loan_ref,party,phone,channel,direction,occurred_at,result
X1,L-LOST,debtor,13800138008,call,outbound,2026-11-23T10:00:00+08:00,no_answer
X2,L-LOST,debtor,13800138008,call,outbound,2026-11-24T10:00:00+08:00,busy
X3,L-LOST,debtor,13800138018,call,outbound,2026-11-24T10:05:00+08:00,no_answer
"""
USERS = (
    ("field", Role.collector, "Field visits"),
    ("early", Role.collector, "M1 early"),
    ("legal", Role.collector, "Recovery and legal"),
    ("sup1", Role.supervisor, None),
    ("sup2", Role.supervisor, None),
)


def moment(day: int) -> dt.datetime:
    return dt.datetime(2026, 11, day, 10, 0, tzinfo=ZONE)


def origin(client: Client) -> dict[str, str]:
    return {"Origin": str(client.make_url("")).rstrip("/")}


async def token_of(client: Client, path: str) -> str:
    html = await (await client.get(path)).text()
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None, html
    return found.group(1)


class Floor:
    def __init__(self, engine: AsyncEngine, settings: Settings, clock: FixedClock) -> None:
        self.engine, self.settings, self.clock = engine, settings, clock
        self.users: dict[str, Client] = {}

    async def cob(self, day: int) -> None:
        self.clock.moment = moment(day)
        planning = Planning(strategies_for(self.settings), self.settings)
        await run_cob(
            self.engine, dt.date(2026, 11, day), self.settings.cob_config(), planning=planning
        )

    async def log_in(self, aiohttp_client: Any, server: TestServer) -> None:
        for name, _role, _queue in USERS:
            client: Client = await aiohttp_client(server)
            token = await token_of(client, "/login")
            answer = await client.post(
                "/login",
                data={"username": name, "password": PASSWORD, "csrf_token": token},
                headers=origin(client),
            )
            assert answer.status == 200, await answer.text()
            self.users[name] = client

    def __getitem__(self, name: str) -> Client:
        return self.users[name]

    async def post(
        self, who: str, path: str, data: dict[str, Any], token: bool = True
    ) -> ClientResponse:
        """A form posted as the browser posts it, with the token of its pages."""
        client = self.users[who]
        if token:
            data = {"csrf_token": await token_of(client, "/tasks"), **data}
        return await client.post(path, data=data, headers=origin(client), allow_redirects=False)

    async def upload(
        self, who: str, path: str, fields: list[tuple[str, Any]], token: bool = True
    ) -> ClientResponse:
        """A multipart form (fields in page order; a file is (name, (filename, bytes))), the
        token its first field as the page puts it."""
        client = self.users[who]
        form = aiohttp.FormData(default_to_multipart=True)  # as a browser sends it
        if token:
            form.add_field("csrf_token", await token_of(client, "/tasks"))
        for name, value in fields:
            if isinstance(value, tuple):
                form.add_field(name, value[1], filename=value[0], content_type="image/png")
            else:
                form.add_field(name, value)
        return await client.post(path, data=form, headers=origin(client), allow_redirects=False)

    async def rows(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        async with self.engine.connect() as conn:
            return [tuple(row) for row in await conn.execute(text(sql), params)]

    async def execute(self, sql: str, **params: Any) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(text(sql), params)

    async def task(self, loan_ref: str, kind: str) -> int:
        (found,) = await self.rows(
            "SELECT t.id FROM tasks t JOIN loans l ON l.id = t.loan_id "
            "WHERE l.loan_ref = :ref AND t.kind = :kind AND t.status = 'open'",
            ref=loan_ref,
            kind=kind,
        )
        return int(found[0])


async def build_floor(
    engine: AsyncEngine, settings: Settings, clock: FixedClock, folder: Path
) -> Floor:
    folder.mkdir()
    for name, content in (
        ("borrowers.csv", BORROWERS),
        ("loans.csv", LOANS),
        ("installments.csv", INSTALLMENTS),
        ("attempts.csv", ATTEMPTS),
    ):
        (folder / name).write_text(content, encoding="utf-8")
    report = await import_directory(engine, folder, ImportOptions())
    assert report.error_count == 0, report.errors
    for name, role, _queue in USERS:
        await make_user(engine, name, role)
    async with engine.begin() as conn:
        await install_default_queues(conn)
        for name, _role, queue in USERS:
            if queue is not None:
                await add_member(conn, queue, name)
    floor = Floor(engine, settings, clock)
    await floor.cob(25)
    return floor


class _Text(HTMLParser):
    """The words a reader sees in a page's <main>, less what is marked translate="no" (data:
    names, references, amounts) and less scripts."""

    VOID = frozenset({"br", "img", "input", "meta", "link", "hr", "source", "wbr"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, bool]] = []
        self.words: list[str] = []

    def _hidden(self) -> bool:
        return any(hidden for _tag, hidden in self.stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.VOID:
            return
        values = dict(attrs)
        inside_main = tag == "main" or any(t == "main" for t, _ in self.stack)
        hidden = values.get("translate") == "no" or tag in ("script", "style")
        self.stack.append((tag if inside_main else f"outside:{tag}", hidden))

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index][0] in (tag, f"outside:{tag}"):
                del self.stack[index:]
                return

    def handle_data(self, data: str) -> None:
        if not any(t == "main" for t, _ in self.stack) or self._hidden():
            return
        self.words += re.findall(r"[A-Za-z]{2,}", data)


def latin_words(html: str) -> list[str]:
    """Latin words shown in the page's main part outside translate="no": in a zh-CN page, a
    string that missed its translation."""
    reader = _Text()
    reader.feed(html)
    return reader.words
