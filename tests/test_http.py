"""HTTP hygiene: a small request limit everywhere but the upload, security headers on every
answer, 405 with Allow in the one error shape, the bearer scheme in any case, /api/tasks paged
like the other lists, and database connections within PostgreSQL's default budget."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from service.db.engine import create_engine
from service.db.models import Loan, Role, Task, TreatmentPlan
from service.devtools.demo import write_demo_portfolio
from service.domain.casework import TaskStatus
from service.ingest.pipeline import ImportOptions, import_directory
from service.settings import Settings
from service.treatment.plans import install_default_plan
from service.web.app import MAX_REQUEST_BYTES, create_app
from service.web.keys import ENGINE, HOT_POOL
from service.web.middleware import SECURITY_HEADERS
from tests.conftest import PASSWORD, login, make_user

Client = TestClient[Any, Any]


@pytest.fixture
async def staff(client: Client, engine: AsyncEngine) -> dict[str, str]:
    await make_user(engine, "sup", Role.supervisor)
    token = await login(client, "sup")
    client.session.cookie_jar.clear()
    return {"Authorization": f"Bearer {token}"}


def _upload(size: int) -> aiohttp.FormData:
    header = "borrower_ref,name,phone\n"
    rows = "".join(f"B{n:06d},Borrower {n},1380013{n % 10000:04d}\n" for n in range(size // 36))
    form = aiohttp.FormData()
    form.add_field("borrowers.csv", (header + rows).encode(), filename="borrowers.csv")
    return form


async def test_bodies_past_64_kib_are_413_except_an_upload(
    client: Client, staff: dict[str, str]
) -> None:
    assert MAX_REQUEST_BYTES == 64 * 1024
    big = {"payment_ref": "P1", "loan_ref": "L1", "paid_on": "2026-01-01", "amount": "1.00"}
    big["padding"] = "x" * MAX_REQUEST_BYTES
    response = await client.post("/api/payments", json=big, headers=staff)
    assert response.status == 413
    assert (await response.json())["error"]["code"] == "too_large"
    form = await client.post("/login", data={"username": "sup", "password": "x" * 70_000})
    assert form.status == 413
    upload = await client.post("/api/imports", data=_upload(200_000), headers=staff)
    assert upload.status in (201, 202), await upload.text()


async def test_an_upload_past_its_own_limit_is_413(
    aiohttp_client: Any, settings: Settings, engine: AsyncEngine
) -> None:
    client: Client = await aiohttp_client(
        create_app(dataclasses.replace(settings, import_max_bytes=100_000))
    )
    await make_user(engine, "sup", Role.supervisor)
    headers = {"Authorization": f"Bearer {await login(client, 'sup')}"}
    response = await client.post("/api/imports", data=_upload(150_000), headers=headers)
    assert response.status == 413
    assert (await response.json())["error"]["code"] == "too_large"
    assert (await client.post("/api/imports", data=_upload(50_000), headers=headers)).status == 201


async def test_every_answer_carries_the_security_headers(
    client: Client, engine: AsyncEngine
) -> None:
    await make_user(engine, "sup", Role.supervisor)
    answers = [
        await client.get("/"),
        await client.get("/login"),
        await client.get("/healthz"),
        await client.get("/api/openapi.json"),
        await client.get("/api/me"),  # 401
        await client.get("/api/nothing"),  # 404
        await client.get("/no-such-page"),
        await client.put("/api/payments"),  # 405
        await client.post("/login", data={"username": "sup", "password": PASSWORD}),  # 303
    ]
    redirect = await client.get("/api/me", allow_redirects=False)
    for response in [*answers, redirect]:
        for name, value in SECURITY_HEADERS.items():
            assert response.headers.get(name) == value, (response.url, name)
        for earlier in response.history:
            for name, value in SECURITY_HEADERS.items():
                assert earlier.headers.get(name) == value, (earlier.url, name)
    assert SECURITY_HEADERS == {
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Content-Security-Policy": (
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; form-action 'self'; "
            "frame-ancestors 'none'"
        ),
        "Referrer-Policy": "same-origin",
    }


async def test_a_wrong_method_is_405_with_allow_in_the_error_shape(
    client: Client, staff: dict[str, str]
) -> None:
    response = await client.put("/api/payments", headers=staff)
    assert response.status == 405
    body = await response.json()
    assert body["error"]["code"] == "method_not_allowed"
    assert set(body["error"]) == {"code", "message", "details"}
    assert {m.strip() for m in response.headers["Allow"].split(",")} == {"GET", "POST"}
    response = await client.delete("/api/loans", headers=staff)
    assert response.status == 405
    assert response.headers["Allow"] == "GET"


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "Bearer", "bEaReR"])
async def test_the_bearer_scheme_is_read_in_any_case(
    client: Client, staff: dict[str, str], scheme: str
) -> None:
    token = staff["Authorization"].split(" ", 1)[1]
    response = await client.get("/api/me", headers={"Authorization": f"{scheme} {token}"})
    assert response.status == 200
    assert (await response.json())["username"] == "sup"
    other = await client.get("/api/me", headers={"Authorization": f"Basic {token}"})
    assert other.status == 401


async def test_tasks_are_paged_with_their_total(
    client: Client, engine: AsyncEngine, staff: dict[str, str], tmp_path: Path
) -> None:
    write_demo_portfolio(tmp_path / "demo", borrowers=8, as_of=dt.date(2026, 11, 24))
    await import_directory(engine, tmp_path / "demo", ImportOptions())
    async with engine.begin() as conn:
        await install_default_plan(conn)
        plan = await conn.scalar(select(TreatmentPlan.id))
        loans = list((await conn.execute(select(Loan.id).order_by(Loan.id).limit(5))).scalars())
        for n, loan in enumerate(loans):
            await conn.execute(
                insert(Task).values(
                    idempotency_key=f"t{n}",
                    loan_id=loan,
                    plan_id=plan,
                    kind="field_visit",
                    status=TaskStatus.done if n == 4 else TaskStatus.open,
                    due_on=dt.date(2026, 12, 1) + dt.timedelta(days=n),
                )
            )

    first = await (await client.get("/api/tasks?limit=2", headers=staff)).json()
    second = await (await client.get("/api/tasks?limit=2&offset=2", headers=staff)).json()
    every = await (await client.get("/api/tasks?all=true&limit=10", headers=staff)).json()
    past = await (await client.get("/api/tasks?offset=10", headers=staff)).json()

    assert (first["total"], len(first["items"])) == (4, 2)
    assert (second["total"], len(second["items"])) == (4, 2)
    due = [t["due_on"] for t in first["items"] + second["items"]]
    assert due == sorted(due)
    assert len(set(t["id"] for t in first["items"] + second["items"])) == 4
    assert (every["total"], len(every["items"])) == (5, 5)
    assert past == {"total": 4, "items": []}
    too_many = await client.get("/api/tasks?limit=501", headers=staff)
    assert too_many.status == 422


async def test_one_web_process_two_workers_and_the_cli_fit_in_100_connections(
    aiohttp_client: Any, pg_database: str, tmp_path: Path
) -> None:
    """PostgreSQL's default max_connections is 100 (3 kept for superusers); our processes
    together must leave room for psql, migrations and a second deploy rolling in."""
    defaults = Settings(database_url=pg_database, var_dir=tmp_path / "var")
    client: Client = await aiohttp_client(create_app(defaults))
    app = client.app
    engine = app[ENGINE]
    web_process = engine.pool.size() + engine.pool._max_overflow
    web_process += app[HOT_POOL].get_max_size()
    other = create_engine(defaults)  # what a worker and the CLI build
    try:
        worker = other.pool.size() + other.pool._max_overflow  # type: ignore[attr-defined]
    finally:
        await other.dispose()
    assert web_process + 2 * worker + worker <= 70, (web_process, worker)
    # The hot path ("next account", the session lookup) keeps a raw pool of its own.
    assert app[HOT_POOL].get_max_size() >= 5


async def test_a_request_sqlite_refused_as_locked_is_served_again_then_answers_503(
    aiohttp_client: Any,
) -> None:
    """SQLite's "database is locked" (a read-then-write transaction that lost its turn) rolls
    the request back; it is served again, and only a lock that never clears is a 503."""
    import sqlite3

    from aiohttp import web
    from sqlalchemy.exc import OperationalError

    from service.web.middleware import errors

    calls = {"flaky": 0, "stuck": 0}

    def locked() -> OperationalError:
        return OperationalError("INSERT …", {}, sqlite3.OperationalError("database is locked"))

    async def flaky(request: web.Request) -> web.Response:
        calls["flaky"] += 1
        if calls["flaky"] < 3:
            raise locked()
        return web.json_response({"served": calls["flaky"]})

    async def stuck(request: web.Request) -> web.Response:
        calls["stuck"] += 1
        raise locked()

    app = web.Application(middlewares=[errors])
    app.router.add_post("/api/flaky", flaky)
    app.router.add_post("/api/stuck", stuck)
    client = await aiohttp_client(app)
    served = await client.post("/api/flaky", json={})
    assert served.status == 200
    assert await served.json() == {"served": 3}
    refused = await client.post("/api/stuck", json={})
    assert refused.status == 503
    assert calls["stuck"] == 4  # tried, then given up on
