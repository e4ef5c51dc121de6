"""What the contact-panel tests share: a lender in Shanghai with two queues — a collector's
account (a debtor with three numbers: one valid, one invalid, one opted out; a guarantor and an
emergency contact) and another queue's — seeded through the import contract, and the app on a
fixed clock, signed in as the collector."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import insert, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from service import auth
from service.clock import FixedClock
from service.db.models import Loan, PhoneNumber, PhoneStatus, Queue, QueueMember, Role
from service.ingest.pipeline import ImportOptions, import_directory
from service.settings import Settings
from service.web.app import create_app
from tests.conftest import PASSWORD, make_user
from tests.test_pages import origin

Client = TestClient[Any, Any]
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
# Tuesday 24 November 2026, noon in Shanghai; and late at night, and before dawn.
NOON = dt.datetime(2026, 11, 24, 12, 0, tzinfo=SHANGHAI)
NIGHT = dt.datetime(2026, 11, 24, 23, 30, tzinfo=SHANGHAI)
DAWN = dt.datetime(2026, 11, 25, 3, 0, tzinfo=SHANGHAI)

PRIMARY = "+8613800138000"
INVALID = "+8613900139001"
OPTED_OUT = "+8613500135002"
GUARANTOR = "+8613600136000"
EMERGENCY = "+8613700137000"
OTHER_DEBTOR = "+8613800138111"

BORROWERS = """\
borrower_ref,name,phone,alt_phones,timezone,locale,region,address,sms_consent
B1,王芳,13800138000,13900139001;13500135002,Asia/Shanghai,zh-CN,,北京市朝阳区,true
B2,李明,13800138111,,Asia/Shanghai,zh-CN,,上海市,true
"""
CONTACTS = """\
borrower_ref,contact_ref,name,relation,phone,debt_related
B1,B1-G,王五,guarantor,13600136000,true
B1,B1-E,李四,friend,13700137000,false
"""
LOANS = """\
loan_ref,borrower_ref,product,currency,principal,annual_rate,penalty_rate_daily,disbursed_on,maturity_on
L1,B1,cash,CNY,20000.00,0.12,0.0005,2026-01-05,2027-01-05
L2,B2,cash,CNY,8000.00,0.12,0.0005,2026-01-05,2027-01-05
"""
INSTALLMENTS = """\
loan_ref,seq,due_on,principal_due,interest_due
L1,1,2026-10-24,1000.00,100.00
L1,2,2026-12-24,1000.00,100.00
L2,1,2026-10-24,600.00,50.00
"""
OPT_OUTS = """\
phone,channel,opted_out_at,opted_in_at,source
+8613500135002,all,2026-11-01T10:00:00+08:00,,written
"""


@dataclasses.dataclass(frozen=True)
class Floor:
    collector: int
    other: int


async def seed(engine: AsyncEngine, folder: Path, **files: str) -> Floor:
    """The two accounts, overdue 31 days (as a close of business would find them), each in a
    queue of its own; ``files`` add to or replace the import's files (name → CSV text; "" for
    none of that file)."""
    folder.mkdir(parents=True, exist_ok=True)
    chosen = {
        "borrowers": BORROWERS,
        "contacts": CONTACTS,
        "loans": LOANS,
        "installments": INSTALLMENTS,
        "opt_outs": OPT_OUTS,
        **files,
    }
    for name, content in chosen.items():
        if content:
            (folder / f"{name}.csv").write_text(content, encoding="utf-8")
    report = await import_directory(engine, folder, ImportOptions())
    assert report.errors == [], report.as_dict()
    collector = await make_user(engine, "col", Role.collector)
    other = await make_user(engine, "other", Role.collector)
    async with engine.begin() as conn:
        for user, loan in ((collector, "L1"), (other, "L2")):
            queue = await conn.scalar(
                insert(Queue).values(name=f"Q {loan}", routing={}).returning(Queue.id)
            )
            await conn.execute(insert(QueueMember).values(queue_id=queue, user_id=user))
            await conn.execute(
                update(Loan)
                .where(Loan.loan_ref == loan)
                .values(queue_id=queue, days_past_due=31, overdue_amount=1100, bucket="M2")
            )
        await conn.execute(
            update(PhoneNumber)
            .where(PhoneNumber.e164 == INVALID)
            .values(status=PhoneStatus.invalid)
        )
    return Floor(collector, other)


async def app_client(
    aiohttp_client: Any, settings: Settings, at: dt.datetime, **changes: Any
) -> Client:
    app = create_app(dataclasses.replace(settings, **changes), FixedClock(at))
    client: Client = await aiohttp_client(app)
    return client


async def sign_in(client: Client, username: str) -> None:
    html = await (await client.get("/login")).text()
    token = _token(html)
    response = await client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token},
        headers=origin(client),
    )
    assert response.status == 200, await response.text()


def _token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None, html
    return found.group(1)


async def post_page_form(client: Client, path: str, data: dict[str, str], token_from: str) -> Any:
    """POST a form as a browser does, with the CSRF token of the page it came from."""
    token = _token(await (await client.get(token_from)).text())
    return await client.post(path, data={**data, "csrf_token": token}, headers=origin(client))


def form_fields(html: str, action: str) -> dict[str, str]:
    """The hidden fields of the form posting to ``action`` (the first such form)."""
    start = html.index(f'action="{action}"')
    end = html.index("</form>", start)
    hidden = r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">'
    return dict(re.findall(hidden, html[start:end]))


async def set_phone(engine: AsyncEngine, user_id: int, phone: str) -> None:
    async with engine.begin() as conn:
        await auth.set_preferences(conn, user_id, phone=phone)


async def rows(engine: AsyncEngine, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    async with engine.connect() as conn:
        return [tuple(row) for row in await conn.execute(text(sql), params)]
