"""JSON API: authentication, roles, collector visibility, payments, imports, error shape."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from service.db.models import AuditEvent, Loan, Payment, Queue, QueueMember, Role
from service.devtools.demo import write_demo_portfolio
from service.ingest.pipeline import ImportOptions, import_directory
from tests.conftest import job_done, login, make_user

Client = TestClient[Any, Any]


async def _portfolio(engine: AsyncEngine, tmp_path: Path) -> None:
    write_demo_portfolio(tmp_path / "demo", borrowers=40, as_of=dt.date(2026, 11, 24))
    await import_directory(engine, tmp_path / "demo", ImportOptions())


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_healthz_reports_the_database(client: Client) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    body = await response.json()
    assert body == {"status": "ok", "checks": {"database": "ok", "redis": "not configured"}}
    assert response.headers["X-Request-ID"]


async def test_api_requires_login_and_answers_in_the_error_shape(client: Client) -> None:
    response = await client.get("/api/loans")
    assert response.status == 401
    body = await response.json()
    assert body["error"]["code"] == "unauthenticated"
    assert set(body["error"]) == {"code", "message", "details"}


async def test_login_with_wrong_password_is_refused(client: Client, engine: AsyncEngine) -> None:
    await make_user(engine, "sup", Role.supervisor)
    response = await client.post(
        "/api/session", json={"username": "sup", "password": "nope-nope-nope"}
    )
    assert response.status == 401
    response = await client.post(
        "/api/session", data="{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "invalid_input"


async def test_session_cookie_and_bearer_token_both_authenticate_until_logout(
    client: Client, engine: AsyncEngine
) -> None:
    await make_user(engine, "sup", Role.supervisor)
    token = await login(client, "sup")
    me = await client.get("/api/me")  # the cookie set by the login
    assert (await me.json())["role"] == "supervisor"
    assert (await client.get("/api/me", headers=_bearer(token))).status == 200
    assert (await client.delete("/api/session", headers=_bearer(token))).status == 204
    assert (await client.get("/api/me", headers=_bearer(token))).status == 401


async def test_supervisor_reads_a_loan_with_schedule_and_payments(
    client: Client, engine: AsyncEngine, tmp_path: Path
) -> None:
    await _portfolio(engine, tmp_path)
    await make_user(engine, "sup", Role.supervisor)
    token = await login(client, "sup")
    listing = await (await client.get("/api/loans?limit=5", headers=_bearer(token))).json()
    assert listing["total"] >= 40
    assert len(listing["items"]) == 5
    ref = listing["items"][0]["loan_ref"]

    loan = await (await client.get(f"/api/loans/{ref}", headers=_bearer(token))).json()

    assert loan["loan_ref"] == ref
    assert loan["schedule"]
    assert loan["schedule"][0]["seq"] == 1
    assert isinstance(loan["principal"], str)
    assert "." in loan["principal"]
    async with engine.connect() as conn:
        paid = await conn.scalar(select(Payment.id).join(Loan).where(Loan.loan_ref == ref).limit(1))
    assert bool(loan["payments"]) == (paid is not None)
    borrower = await (
        await client.get(f"/api/borrowers/{loan['borrower_ref']}", headers=_bearer(token))
    ).json()
    assert borrower["phones"][0]["e164"].startswith("+")
    missing = await client.get("/api/loans/NOPE", headers=_bearer(token))
    assert missing.status == 404
    assert (await missing.json())["error"]["code"] == "not_found"


async def test_a_collector_sees_only_the_loans_of_their_queues(
    client: Client, engine: AsyncEngine, tmp_path: Path
) -> None:
    await _portfolio(engine, tmp_path)
    collector = await make_user(engine, "col", Role.collector)
    async with engine.begin() as conn:
        queue_id = (
            await conn.execute(
                insert(Queue).values(name="M1 small", routing={}).returning(Queue.id)
            )
        ).scalar_one()
        await conn.execute(insert(QueueMember).values(queue_id=queue_id, user_id=collector))
        refs = list(
            (await conn.execute(select(Loan.loan_ref).order_by(Loan.loan_ref).limit(3))).scalars()
        )
        await conn.execute(
            update(Loan).where(Loan.loan_ref.in_(refs[:2])).values(queue_id=queue_id)
        )
    token = await login(client, "col")

    listing = await (await client.get("/api/loans?limit=500", headers=_bearer(token))).json()

    assert sorted(item["loan_ref"] for item in listing["items"]) == refs[:2]
    assert listing["total"] == 2
    assert (await client.get(f"/api/loans/{refs[2]}", headers=_bearer(token))).status == 404
    borrowers = await (await client.get("/api/borrowers", headers=_bearer(token))).json()
    assert 1 <= borrowers["total"] <= 2
    imports = await client.get("/api/imports", headers=_bearer(token))
    assert imports.status == 403


async def test_recording_a_payment_is_idempotent_and_audited(
    client: Client, engine: AsyncEngine, tmp_path: Path
) -> None:
    await _portfolio(engine, tmp_path)
    await make_user(engine, "sup", Role.supervisor)
    token = await login(client, "sup")
    async with engine.connect() as conn:
        ref = await conn.scalar(select(Loan.loan_ref).order_by(Loan.loan_ref).limit(1))
    payment = {"payment_ref": "API-1", "loan_ref": ref, "paid_on": "2026-11-20", "amount": "150.25"}

    first = await client.post("/api/payments", json=payment, headers=_bearer(token))
    again = await client.post("/api/payments", json=payment, headers=_bearer(token))
    clash = await client.post(
        "/api/payments", json={**payment, "amount": "999.00"}, headers=_bearer(token)
    )

    assert first.status == 201
    assert again.status == 200
    assert (await first.json())["amount"] == "150.25"
    assert clash.status == 409
    assert (await clash.json())["error"]["details"]["amount"] == "150.25"
    async with engine.connect() as conn:
        stored = (await conn.execute(select(Payment).where(Payment.payment_ref == "API-1"))).all()
        audit = (
            await conn.execute(select(AuditEvent).where(AuditEvent.action == "payment.recorded"))
        ).all()
    assert len(stored) == 1
    assert len(audit) == 1
    assert audit[0].actor == "sup"
    assert audit[0].entity_ref == ref


async def test_bad_payments_get_clear_errors(
    client: Client, engine: AsyncEngine, tmp_path: Path
) -> None:
    await _portfolio(engine, tmp_path)
    await make_user(engine, "sup", Role.supervisor)
    await make_user(engine, "col", Role.collector)
    sup = await login(client, "sup")
    col = await login(client, "col")
    invalid = await client.post(
        "/api/payments",
        json={"payment_ref": "X", "loan_ref": "L00000001", "paid_on": "yesterday", "amount": "-1"},
        headers=_bearer(sup),
    )
    assert invalid.status == 422
    fields = {d["field"] for d in (await invalid.json())["error"]["details"]}
    assert fields == {"paid_on", "amount"}
    unknown = await client.post(
        "/api/payments",
        json={"payment_ref": "X", "loan_ref": "NOPE", "paid_on": "2026-11-01", "amount": "1"},
        headers=_bearer(sup),
    )
    assert unknown.status == 404
    wrong_type = await client.post("/api/payments", data="a=b", headers=_bearer(sup))
    assert wrong_type.status == 400
    forbidden = await client.post(
        "/api/payments",
        json={"payment_ref": "X", "loan_ref": "L00000001", "paid_on": "2026-11-01", "amount": "1"},
        headers=_bearer(col),
    )
    assert forbidden.status == 403


async def test_upload_import_then_read_its_report_and_errors(
    client: Client, engine: AsyncEngine
) -> None:
    await make_user(engine, "sup", Role.supervisor)
    token = await login(client, "sup")
    form = aiohttp.FormData()
    form.add_field(
        "borrowers.csv",
        "borrower_ref,name,phone\nB1,张三,13800138000\nB2,李四,12\n".encode(),
        filename="borrowers.csv",
        content_type="text/csv",
    )
    form.add_field(
        "loans.csv",
        (
            b"loan_ref,borrower_ref,currency,principal,annual_rate,disbursed_on,maturity_on\n"
            b"L1,B1,CNY,1000,0.1,2026-01-01,2026-06-01\nL2,B2,CNY,1000,0.1,2026-01-01,2026-06-01\n"
        ),
        filename="loans.csv",
        content_type="text/csv",
    )

    response = await client.post("/api/imports", data=form, headers=_bearer(token))

    assert response.status == 201, await response.text()
    report = await response.json()
    assert report["status"] == "completed"
    assert [(e["file"], e["line"], e["column"]) for e in report["errors"]] == [
        ("borrowers.csv", 3, "phone"),
        ("loans.csv", 3, "borrower_ref"),
    ]
    stored = await (await client.get(f"/api/imports/{report['id']}", headers=_bearer(token))).json()
    assert stored["error_count"] == 2
    errors = await (
        await client.get(
            f"/api/imports/{report['id']}/errors?file=loans.csv", headers=_bearer(token)
        )
    ).json()
    assert errors["items"] == [
        {
            "file": "loans.csv",
            "line": 3,
            "column": "borrower_ref",
            "reason": "unknown borrower_ref 'B2'",
        }
    ]
    runs = await (await client.get("/api/imports", headers=_bearer(token))).json()
    assert runs["items"][0]["actor"] == "sup"
    assert (await client.get("/api/imports/999", headers=_bearer(token))).status == 404


async def test_an_upload_with_a_foreign_file_is_refused(
    client: Client, engine: AsyncEngine
) -> None:
    await make_user(engine, "sup", Role.supervisor)
    token = await login(client, "sup")
    form = aiohttp.FormData()
    form.add_field("x", b"a,b\n", filename="../../etc/passwd.csv", content_type="text/csv")
    response = await client.post("/api/imports", data=form, headers=_bearer(token))
    assert response.status == 422
    assert "passwd.csv" in (await response.json())["error"]["message"]


async def test_unknown_api_path_answers_json_404(client: Client) -> None:
    response = await client.get("/api/nothing-here")
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "not_found"


async def test_a_payment_recomputes_the_loan_at_once_and_closes_it_when_paid(
    client: Client, engine: AsyncEngine, tmp_path: Path
) -> None:
    from service.clock import lender_today

    await make_user(engine, "sup", Role.supervisor)
    token = await login(client, "sup")
    today = lender_today("Asia/Shanghai")
    form = aiohttp.FormData()
    due = (today - dt.timedelta(days=40)).isoformat()
    for name, body in {
        "borrowers.csv": "borrower_ref,name,phone\nB1,张三,13800138000\n",
        "loans.csv": "loan_ref,borrower_ref,currency,principal,annual_rate,disbursed_on,"
        f"maturity_on\nL1,B1,CNY,1000,0.05,{due},{due}\n",
        "installments.csv": f"loan_ref,seq,due_on,principal_due,interest_due\nL1,1,{due},1000,0\n",
    }.items():
        form.add_field(name, body.encode(), filename=name, content_type="text/csv")
    assert (await client.post("/api/imports", data=form, headers=_bearer(token))).status == 201
    before = await (await client.get("/api/loans/L1", headers=_bearer(token))).json()
    assert (before["days_past_due"], before["bucket"], before["status"]) == (40, "M2", "open")

    paid = {"payment_ref": "P1", "loan_ref": "L1", "paid_on": today.isoformat(), "amount": "2000"}
    assert (await client.post("/api/payments", json=paid, headers=_bearer(token))).status == 201

    after = await (await client.get("/api/loans/L1", headers=_bearer(token))).json()
    assert (after["days_past_due"], after["bucket"], after["status"]) == (0, "M0", "closed")
    # 40 days at 0.05 %/day on 1,000 (5 % + 18.25 % a year stays under the 24 % cap).
    assert Decimal(after["penalty_accrued"]) == Decimal("20.00")


async def test_cob_and_the_accounts_export_through_the_api(
    client: Client, engine: AsyncEngine, tmp_path: Path
) -> None:
    await _portfolio(engine, tmp_path)
    await make_user(engine, "sup", Role.supervisor)
    await make_user(engine, "col", Role.collector)
    sup, col = await login(client, "sup"), await login(client, "col")

    ran = await client.post("/api/cob", json={"as_of": "2026-11-24"}, headers=_bearer(sup))
    assert ran.status == 202
    job = await job_done(client, await ran.json(), _bearer(sup))
    assert job["state"] == "succeeded"
    summary = job["result"]
    assert summary["as_of"] == "2026-11-24"
    assert sum(summary["buckets"].values()) == summary["loans"]

    export = await client.get("/api/exports/accounts?as_of=2026-11-24", headers=_bearer(sup))
    assert export.status == 200
    assert export.headers["Content-Type"].startswith("text/csv")
    lines = (await export.text()).splitlines()
    assert lines[0].startswith("loan_ref,dpd,bucket,amount_tier,overdue_amount")
    assert lines[0].endswith(",queue,collector,status")
    assert len(lines) == summary["loans"] + 1

    missing = await client.get("/api/exports/accounts?as_of=2020-01-01", headers=_bearer(sup))
    assert missing.status == 404
    assert (await missing.json())["error"]["code"] == "not_found"
    assert (
        await client.post("/api/cob", json={"as_of": "soon"}, headers=_bearer(sup))
    ).status == 422
    assert (await client.post("/api/cob", json={}, headers=_bearer(col))).status == 403
