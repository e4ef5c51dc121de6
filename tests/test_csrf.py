"""CSRF: a state-changing request that rides on the session cookie must prove it came from our
own pages (Origin, or Sec-Fetch-Site: same-origin); a bearer token needs no proof; the HTML
forms carry a token checked on POST. A page on another port of the same host once imported
payments as a logged-in supervisor and leased accounts with text/plain: never again."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from service.assignment.worklist import refresh_work_items
from service.db.models import AuditEvent, ImportRun, Loan, Payment, Queue, Role, WorkItem
from service.settings import Settings
from tests.conftest import PASSWORD, login, make_user
from tests.test_assignment import TODAY, accounts, queues_with
from tests.test_pages import form_token, origin

Client = TestClient[Any, Any]
ELSEWHERE = "http://127.0.0.1:1"  # another port of the same host: same site, other origin
PAYMENTS_CSV = b"payment_ref,loan_ref,paid_on,amount\nEVIL-1,L1,2026-11-20,1.00\n"


def _upload() -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("payments.csv", PAYMENTS_CSV, filename="payments.csv", content_type="text/csv")
    return form


async def _count(engine: AsyncEngine, table: Any, *where: Any) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table).where(*where)) or 0)


async def _leased(engine: AsyncEngine) -> int:
    return await _count(engine, WorkItem, WorkItem.lease_holder_id.is_not(None))


@pytest.fixture
async def work(client: Client, engine: AsyncEngine, settings: Settings) -> None:
    """Two accounts in a queue the collector "col" works, ready for "next account"."""
    await accounts(engine, [{"ref": "L1", "dpd": 5}, {"ref": "L2", "dpd": 9}])
    await queues_with(engine, {"M1 early": ["col"]})
    async with engine.begin() as conn:
        queue = await conn.scalar(select(Queue.id).where(Queue.name == "M1 early"))
        await conn.execute(update(Loan).values(queue_id=queue, collector_id=None))
        await refresh_work_items(conn, settings, TODAY)
    await make_user(engine, "sup", Role.supervisor)


def _refused_headers() -> list[dict[str, str]]:
    return [
        {"Origin": ELSEWHERE},
        {"Origin": ELSEWHERE, "Sec-Fetch-Site": "same-site"},
        {"Sec-Fetch-Site": "same-site"},  # the Origin left out, the browser still says so
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "null"},  # a sandboxed frame or a data: page
        {},  # a cookie with neither header: not proven to be our own page
    ]


@pytest.mark.parametrize("headers", _refused_headers())
async def test_cross_origin_cookie_posts_are_refused_and_change_nothing(
    client: Client, engine: AsyncEngine, work: None, headers: dict[str, str]
) -> None:
    await login(client, "sup")  # the session cookie is now in the jar
    upload = await client.post("/api/imports", data=_upload(), headers=headers)
    payment = {"payment_ref": "EVIL-2", "loan_ref": "L1", "paid_on": "2026-11-20", "amount": "1"}
    paid = await client.post("/api/payments", json=payment, headers=headers)
    client.session.cookie_jar.clear()
    await login(client, "col")
    leased = await client.post(
        "/api/work/next", data="x", headers={**headers, "Content-Type": "text/plain"}
    )

    for response in (upload, paid, leased):
        assert response.status == 403, (response.url, await response.text())
        assert (await response.json())["error"]["code"] == "cross_origin"
    assert await _count(engine, ImportRun) == 0
    assert await _count(engine, Payment) == 0
    assert await _leased(engine) == 0


@pytest.mark.parametrize(
    "proof", [{"Origin": "self"}, {"Sec-Fetch-Site": "same-origin"}], ids=["Origin", "Fetch"]
)
async def test_same_origin_cookie_posts_work(
    client: Client, engine: AsyncEngine, work: None, proof: dict[str, str]
) -> None:
    headers = origin(client) if "Origin" in proof else proof
    await login(client, "sup")
    upload = await client.post("/api/imports", data=_upload(), headers=headers)
    assert upload.status == 201, await upload.text()
    payment = {"payment_ref": "OWN-2", "loan_ref": "L2", "paid_on": "2026-11-20", "amount": "1"}
    assert (await client.post("/api/payments", json=payment, headers=headers)).status == 201
    client.session.cookie_jar.clear()
    await login(client, "col")
    leased = await client.post("/api/work/next", headers=headers)
    assert leased.status == 200
    assert (await leased.json())["account"] is not None
    assert await _count(engine, Payment) == 2
    assert await _leased(engine) == 1


async def test_bearer_requests_need_no_origin(
    client: Client, engine: AsyncEngine, work: None
) -> None:
    sup = {"Authorization": f"Bearer {await login(client, 'sup')}"}
    col = {"Authorization": f"Bearer {await login(client, 'col')}"}
    # The jar holds col's cookie too; the header decides, and a browser never adds it itself.
    assert (await client.post("/api/imports", data=_upload(), headers=sup)).status == 201
    assert (await client.post("/api/work/next", headers=col)).status == 200
    assert await _leased(engine) == 1


async def test_a_forged_login_from_another_site_is_refused(
    client: Client, engine: AsyncEngine
) -> None:
    await make_user(engine, "sup", Role.supervisor)
    forged = await client.post(
        "/api/session",
        json={"username": "sup", "password": PASSWORD},
        headers={"Origin": ELSEWHERE},
    )
    assert forged.status == 403
    assert "arrears_session" not in forged.cookies


async def test_the_login_form_refuses_a_missing_or_wrong_token(
    client: Client, engine: AsyncEngine
) -> None:
    await make_user(engine, "sup", Role.supervisor)
    token = await form_token(client)
    credentials = {"username": "sup", "password": PASSWORD}
    for sent in ({}, {"csrf_token": "forged" + token[6:]}, {"csrf_token": ""}):
        response = await client.post("/login", data={**credentials, **sent}, headers=origin(client))
        assert response.status == 403
        assert "This form has expired" in await response.text()
        assert "arrears_session" not in response.cookies
    # a token copied from the page but without its cookie (another browser) is no good either
    jar = client.session.cookie_jar
    jar.clear()
    response = await client.post(
        "/login", data={**credentials, "csrf_token": token}, headers=origin(client)
    )
    assert response.status == 403
    assert await _count(engine, AuditEvent, AuditEvent.action == "auth.login") == 0
    token = await form_token(client)
    good = await client.post(
        "/login", data={**credentials, "csrf_token": token}, headers=origin(client)
    )
    assert good.status == 200
    assert "Portfolio" in await good.text()


async def test_the_logout_form_refuses_a_missing_or_wrong_token(
    client: Client, engine: AsyncEngine
) -> None:
    await make_user(engine, "sup", Role.supervisor)
    login_token = await form_token(client)
    await client.post(
        "/login",
        data={"username": "sup", "password": PASSWORD, "csrf_token": login_token},
        headers=origin(client),
    )
    page_token = await form_token(client, "/")
    assert page_token != login_token  # bound to the session now
    for sent in ({}, {"csrf_token": login_token}, {"csrf_token": "x" * 64}):
        response = await client.post("/logout", data=sent, headers=origin(client))
        assert response.status == 403
        assert (await client.get("/api/me")).status == 200  # still logged in
    out = await client.post("/logout", data={"csrf_token": page_token}, headers=origin(client))
    assert out.status == 200
    assert (await client.get("/api/me")).status == 401
