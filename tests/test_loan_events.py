"""Extension (展期) and restructuring: the schedule changes, the flag is set, all is audited."""

from __future__ import annotations

import datetime as dt
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from service.clock import lender_today
from service.db.models import AuditEvent, Role
from tests.conftest import login, make_user

Client = TestClient[Any, Any]


async def _overdue_loan(client: Client, engine: AsyncEngine) -> tuple[str, dt.date]:
    await make_user(engine, "sup", Role.supervisor)
    token = await login(client, "sup")
    today = lender_today("Asia/Shanghai")
    first, second = today - dt.timedelta(days=45), today - dt.timedelta(days=15)
    files = {
        "borrowers.csv": "borrower_ref,name,phone\nB1,张三,13800138000\n",
        "loans.csv": "loan_ref,borrower_ref,currency,principal,annual_rate,disbursed_on,"
        f"maturity_on\nL1,B1,CNY,2000,0.05,{first - dt.timedelta(days=30)},{second}\n",
        "installments.csv": "loan_ref,seq,due_on,principal_due,interest_due\n"
        f"L1,1,{first},1000,10\nL1,2,{second},1000,5\n",
    }
    form = aiohttp.FormData()
    for name, body in files.items():
        form.add_field(name, body.encode(), filename=name, content_type="text/csv")
    assert (
        await client.post("/api/imports", data=form, headers={"Authorization": f"Bearer {token}"})
    ).status == 201
    return token, today


async def test_an_extension_moves_the_unpaid_schedule_and_floors_the_class(
    client: Client, engine: AsyncEngine
) -> None:
    token, today = await _overdue_loan(client, engine)
    headers = {"Authorization": f"Bearer {token}"}
    before = await (await client.get("/api/loans/L1", headers=headers)).json()
    assert (before["days_past_due"], before["classification"]) == (45, "special_mention")

    response = await client.post(
        "/api/loans/L1/events",
        json={"type": "extension", "months": 3, "reason": "展期 approved by credit committee"},
        headers=headers,
    )

    assert response.status == 201, await response.text()
    after = await (await client.get("/api/loans/L1", headers=headers)).json()
    assert after["days_past_due"] == 0
    assert after["flags"] == ["extended"]
    assert [i["due_on"] > today.isoformat() for i in after["schedule"]] == [True, True]
    async with engine.connect() as conn:
        event = (
            await conn.execute(select(AuditEvent).where(AuditEvent.action == "loan.extension"))
        ).one()
    assert event.entity_ref == "L1"
    assert event.actor == "sup"
    assert len(event.details["before"]) == len(event.details["after"]) == 2


async def test_a_restructuring_replaces_the_schedule_and_is_at_least_special_mention(
    client: Client, engine: AsyncEngine
) -> None:
    token, today = await _overdue_loan(client, engine)
    headers = {"Authorization": f"Bearer {token}"}
    months = [(today + dt.timedelta(days=30 * n)).isoformat() for n in (1, 2, 3, 4)]
    wrong = await client.post(
        "/api/loans/L1/events",
        json={
            "type": "restructuring",
            "reason": "hardship",
            "installments": [
                {"due_on": d, "principal_due": "400.00", "interest_due": "5"} for d in months
            ],
        },
        headers=headers,
    )
    assert wrong.status == 422
    assert "must equal the principal" in (await wrong.json())["error"]["message"]

    plan = [{"due_on": d, "principal_due": "500.00", "interest_due": "5.00"} for d in months]
    response = await client.post(
        "/api/loans/L1/events",
        json={"type": "restructuring", "reason": "hardship", "installments": plan},
        headers=headers,
    )

    assert response.status == 201, await response.text()
    loan = await (await client.get("/api/loans/L1", headers=headers)).json()
    assert len(loan["schedule"]) == 4
    assert loan["days_past_due"] == 0
    assert loan["classification"] == "special_mention"  # the restructured floor, not DPD
    assert loan["flags"] == ["restructured"]


async def test_events_need_a_known_type_and_a_reason(client: Client, engine: AsyncEngine) -> None:
    token, _today = await _overdue_loan(client, engine)
    headers = {"Authorization": f"Bearer {token}"}
    for body in ({"type": "forgiveness", "reason": "x"}, {"type": "extension", "months": 3}):
        response = await client.post("/api/loans/L1/events", json=body, headers=headers)
        assert response.status == 422
