"""Promises, arrangements, callbacks and the collector's contact log over the API, on both
databases: who may do what, what each step leaves behind, and that nothing is ever rewritten."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from service.cli import main
from service.clock import lender_today
from service.contact.promise_keeping import keep_promises
from service.db.models import Role
from service.settings import Settings
from tests.conftest import login, make_user
from tests.test_assignment import accounts, queues_with, run

Client = TestClient[Any, Any]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def rows(engine: AsyncEngine, sql: str) -> list[tuple[Any, ...]]:
    async with engine.connect() as conn:
        return [tuple(row) for row in await conn.execute(text(sql))]


@pytest.fixture
async def floor(engine: AsyncEngine, settings: Settings) -> dict[str, Any]:
    """L0–L2 in the M2-M3 queue of ann and bob; dan works another queue; a supervisor, an
    admin. Today is the lender's real today (the app's clock)."""
    await accounts(
        engine,
        [
            {"ref": "L0", "bucket": "M2", "dpd": 40},
            {"ref": "L1", "bucket": "M2", "dpd": 40, "outstanding": "150000"},
            {"ref": "L2", "bucket": "M2", "dpd": 40, "outstanding": "500000"},
            {"ref": "LX", "bucket": "M1", "dpd": 5},
        ],
    )
    await queues_with(engine, {"M2-M3": ["ann", "bob"], "M1 early": ["dan"]})
    await make_user(engine, "sup", Role.supervisor)
    await make_user(engine, "sup2", Role.supervisor)
    await make_user(engine, "root", Role.admin)
    await run(engine, settings)
    async with engine.begin() as conn:  # ann's own accounts
        await conn.execute(
            text(
                "UPDATE loans SET collector_id = (SELECT id FROM users WHERE username = 'ann')"
                " WHERE loan_ref IN ('L0', 'L1', 'L2')"
            )
        )
    return {"today": lender_today(settings.lender_timezone)}


async def tokens(client: Client, *names: str) -> dict[str, dict[str, str]]:
    return {name: bearer(await login(client, name)) for name in names}


async def test_a_promise_is_kept_at_once_by_a_payment_and_forward_only(
    client: Client, engine: AsyncEngine, floor: dict[str, Any]
) -> None:
    t = await tokens(client, "ann", "dan", "sup")
    today: dt.date = floor["today"]
    body = {"amount": "100.00", "promised_on": (today + dt.timedelta(days=5)).isoformat()}
    taken = await client.post("/api/loans/L0/promises", json=body, headers=t["ann"])
    assert taken.status == 201, await taken.text()
    promise = await taken.json()
    assert (promise["status"], promise["created_by"], promise["paid_amount"]) == (
        "pending",
        "ann",
        "0.00",
    )
    # Another queue's collector cannot reach the account; bad terms are a clear 422.
    assert (await client.post("/api/loans/L0/promises", json=body, headers=t["dan"])).status == 404
    past = {**body, "promised_on": (today - dt.timedelta(days=1)).isoformat()}
    refused = await client.post("/api/loans/L0/promises", json=past, headers=t["ann"])
    assert refused.status == 422
    assert "promised_on" in await refused.text()
    second = {"amount": "50.00", "promised_on": (today + dt.timedelta(days=9)).isoformat()}
    assert (
        await client.post("/api/loans/L0/promises", json=second, headers=t["ann"])
    ).status == 201
    # 120 paid: the first promise kept in full, 20 toward the next.
    payment = {"payment_ref": "P-1", "loan_ref": "L0", "paid_on": today.isoformat(),
               "amount": "120.00"}  # fmt: skip
    assert (await client.post("/api/payments", json=payment, headers=t["sup"])).status == 201
    listed = await (await client.get("/api/promises?loan_ref=L0", headers=t["ann"])).json()
    assert [(p["status"], p["paid_amount"]) for p in listed["items"]] == [
        ("kept", "100.00"),
        ("pending", "20.00"),
    ]
    # A kept promise cannot be dropped; a pending one can, once.
    kept_id, open_id = (p["id"] for p in listed["items"])
    assert (
        await client.post(f"/api/promises/{kept_id}/cancel", json={}, headers=t["ann"])
    ).status == 409
    dropped = await client.post(f"/api/promises/{open_id}/cancel", json={}, headers=t["ann"])
    assert (await dropped.json())["status"] == "cancelled"
    assert (
        await client.post(f"/api/promises/{open_id}/cancel", json={}, headers=t["ann"])
    ).status == 409
    actions = [a for (a,) in await rows(engine, "SELECT action FROM audit_log ORDER BY id")]
    assert actions.count("promise.kept") == 1
    assert "promise.cancelled" in actions


async def test_a_proposed_promise_is_confirmed_or_rejected_by_a_person(
    client: Client, engine: AsyncEngine, floor: dict[str, Any]
) -> None:
    t = await tokens(client, "ann")
    today: dt.date = floor["today"]
    async with engine.begin() as conn:
        for n in (1, 2):
            await conn.execute(
                text(
                    "INSERT INTO promises (loan_id, amount, promised_on, made_on, status, source,"
                    " note, created_at, updated_at, paid_amount, created_by) SELECT id, 500,"
                    " :on, :today, 'proposed', 'sms', 'PAY 500', :now, :now, 0, 'twilio'"
                    " FROM loans WHERE loan_ref = 'L0'"
                ),
                {
                    "on": today + dt.timedelta(days=n),
                    "today": today,
                    "now": dt.datetime.now(dt.UTC),
                },
            )
    ids = [i for (i,) in await rows(engine, "SELECT id FROM promises ORDER BY id")]
    confirmed = await client.post(f"/api/promises/{ids[0]}/confirm", json={}, headers=t["ann"])
    assert (await confirmed.json())["status"] == "pending"
    rejected = await client.post(
        f"/api/promises/{ids[1]}/reject", json={"reason": "not the debtor"}, headers=t["ann"]
    )
    assert (await rejected.json())["status"] == "cancelled"
    assert await rows(engine, "SELECT decided_by FROM promises ORDER BY id") == [("ann",), ("ann",)]
    actions = await rows(
        engine, "SELECT action FROM audit_log WHERE action LIKE 'promise.%' ORDER BY id"
    )
    assert actions == [("promise.confirmed",), ("promise.rejected",)]


async def test_arrangements_are_approved_by_someone_else_entitled_and_a_default_is_an_event(
    client: Client, engine: AsyncEngine, floor: dict[str, Any], settings: Settings
) -> None:
    t = await tokens(client, "ann", "sup", "sup2", "root")
    today: dt.date = floor["today"]
    first = (today + dt.timedelta(days=1)).isoformat()
    # Within the collector's authority: active at once, its instalments pending promises.
    plan = {"kind": "payment_plan", "total": "5000.00", "instalments": 2, "first_on": first,
            "every_days": 30}  # fmt: skip
    agreed = await client.post("/api/loans/L0/arrangements", json=plan, headers=t["ann"])
    assert agreed.status == 201, await agreed.text()
    arrangement = await agreed.json()
    assert (arrangement["status"], arrangement["approval"]) == ("active", "none")
    assert [(i["amount"], i["status"]) for i in arrangement["schedule"]] == [
        ("2500.00", "pending"),
        ("2500.00", "pending"),
    ]
    again = await client.post("/api/loans/L0/arrangements", json=plan, headers=t["ann"])
    assert again.status == 409  # one in force per account
    # A settlement of L1 (150,000 owed) for 120,000: a supervisor's, never the proposer's.
    offer = {"kind": "settlement", "total": "120000.00", "instalments": 1, "first_on": first}
    proposed = await (
        await client.post("/api/loans/L1/arrangements", json=offer, headers=t["sup"])
    ).json()
    assert (proposed["status"], proposed["approval"], proposed["discount"]) == (
        "proposed",
        "supervisor",
        "30000.00",
    )
    own = await client.post(
        f"/api/arrangements/{proposed['id']}/approve", json={}, headers=t["sup"]
    )
    assert own.status == 409
    assert "maker-checker" in await own.text()
    assert (
        await client.post(f"/api/arrangements/{proposed['id']}/approve", json={}, headers=t["ann"])
    ).status == 403
    approved = await client.post(
        f"/api/arrangements/{proposed['id']}/approve", json={}, headers=t["sup2"]
    )
    assert (await approved.json())["status"] == "active"
    # The database refuses the proposer as decider, whatever code path tried.
    with pytest.raises((IntegrityError, DBAPIError)):
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE arrangements SET decided_by = proposed_by"))
    # 500,000 rescheduled needs an administrator; above 1,000,000 it is not ours to approve.
    big = {**plan, "total": "500000.00"}
    waiting = await (
        await client.post("/api/loans/L2/arrangements", json=big, headers=t["sup"])
    ).json()
    assert waiting["approval"] == "admin"
    assert (
        await client.post(f"/api/arrangements/{waiting['id']}/approve", json={}, headers=t["sup2"])
    ).status == 403
    assert (
        await client.post(f"/api/arrangements/{waiting['id']}/approve", json={}, headers=t["root"])
    ).status == 200
    # L0's plan: the first instalment missed entirely → the plan defaults, the rest cancelled.
    due = today + dt.timedelta(days=1 + settings.promise_grace_days + 1)
    async with engine.begin() as conn:
        report = await keep_promises(conn, due, settings.promise_grace_days, actor="cob")
    # Every first instalment was missed: the three arrangements default.
    assert report.arrangements == {"broken": 3}
    after = await (await client.get("/api/arrangements?loan_ref=L0", headers=t["ann"])).json()
    (defaulted,) = after["items"]
    assert defaulted["status"] == "broken"
    assert [i["status"] for i in defaulted["schedule"]] == ["broken", "cancelled"]
    events = [a for (a,) in await rows(engine, "SELECT action FROM audit_log ORDER BY id")]
    assert "arrangement.defaulted" in events


async def test_callbacks_and_promises_follow_a_handover(
    client: Client, engine: AsyncEngine, floor: dict[str, Any]
) -> None:
    t = await tokens(client, "ann", "bob", "sup")
    today: dt.date = floor["today"]
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).isoformat()
    promise = {"amount": "10.00", "promised_on": (today + dt.timedelta(days=3)).isoformat()}
    assert (
        await client.post("/api/loans/L0/promises", json=promise, headers=t["ann"])
    ).status == 201
    mine = await client.post("/api/loans/L0/callbacks", json={"due_at": soon}, headers=t["ann"])
    assert mine.status == 201, await mine.text()
    queue = await client.post(
        "/api/loans/L1/callbacks", json={"due_at": soon, "for_queue": True}, headers=t["ann"]
    )
    assert (await queue.json())["for_user"] is None
    # bob sees the queue's callback, not ann's own, and cannot close ann's.
    bobs = await (await client.get("/api/callbacks", headers=t["bob"])).json()
    assert [c["loan_ref"] for c in bobs["items"]] == ["L1"]
    mine_id = (await mine.json())["id"]
    closing = {"status": "done"}
    assert (
        await client.post(f"/api/callbacks/{mine_id}/close", json=closing, headers=t["bob"])
    ).status == 403
    bad = await client.post("/api/loans/L0/callbacks", json={"due_at": "2020-01-01T10:00:00+08:00"},
                            headers=t["ann"])  # fmt: skip
    assert bad.status == 422
    # ann leaves: her open promise and her own callback go to bob.
    handed = await client.post(
        "/api/handovers", json={"from": "ann", "to": "bob"}, headers=t["sup"]
    )
    assert handed.status == 201, await handed.text()
    assert (await handed.json())["callbacks"] == 1
    bobs = await (await client.get("/api/callbacks", headers=t["bob"])).json()
    assert sorted(c["loan_ref"] for c in bobs["items"]) == ["L0", "L1"]
    assert await rows(
        engine, "SELECT u.username FROM promises p JOIN users u ON u.id = p.collector_id"
    ) == [("bob",)]
    done = await client.post(f"/api/callbacks/{mine_id}/close", json=closing, headers=t["bob"])
    assert (await done.json())["status"] == "done"


async def test_a_collector_logs_a_call_its_effects_follow_and_a_correction_lifts_nothing(
    client: Client, engine: AsyncEngine, floor: dict[str, Any]
) -> None:
    t = await tokens(client, "ann", "bob", "dan")
    call = {"channel": "call", "result": "conversation", "phone": "+8613800138000",
            "disposition": "dispute", "note": "says the amount is wrong",
            "attempt_ref": "ann-1"}  # fmt: skip
    logged = await client.post("/api/loans/L0/attempts", json=call, headers=t["ann"])
    assert logged.status == 201, await logged.text()
    assert (await logged.json())["disposition"] == "dispute"
    # The same request again: the same attempt, nothing new; other values: a conflict.
    assert (await client.post("/api/loans/L0/attempts", json=call, headers=t["ann"])).status == 200
    other = {**call, "result": "no_answer", "disposition": None}
    assert (await client.post("/api/loans/L0/attempts", json=other, headers=t["ann"])).status == 409
    assert await rows(engine, "SELECT code, source FROM holds") == [("dispute", "collector")]
    # A promise needs its terms; a disposition needs a conversation.
    promise = {**call, "attempt_ref": "ann-2", "disposition": "promise_to_pay"}
    assert (
        await client.post("/api/loans/L0/attempts", json=promise, headers=t["ann"])
    ).status == 422
    missed = {**call, "attempt_ref": "ann-3", "result": "no_answer"}
    assert (
        await client.post("/api/loans/L0/attempts", json=missed, headers=t["ann"])
    ).status == 422
    # Only who logged it (or a supervisor) corrects it; the correction is a new revision and
    # the dispute's hold stays.
    fix = {"disposition": "rpc", "note": "resolved on the call"}
    assert (
        await client.post("/api/attempts/ann-1/corrections", json=fix, headers=t["bob"])
    ).status == 403
    assert (
        await client.post("/api/attempts/ann-1/corrections", json=fix, headers=t["dan"])
    ).status == 404
    fixed = await client.post("/api/attempts/ann-1/corrections", json=fix, headers=t["ann"])
    assert fixed.status == 201
    assert ((await fixed.json())["revision"], (await fixed.json())["disposition"]) == (1, "rpc")
    assert await rows(
        engine, "SELECT revision, disposition FROM attempts WHERE attempt_ref = 'ann-1' ORDER BY 1"
    ) == [(0, "dispute"), (1, "rpc")]
    assert await rows(engine, "SELECT code FROM holds") == [("dispute",)]
    timeline = await (await client.get("/api/loans/L0/timeline", headers=t["ann"])).json()
    kinds = [item["kind"] for item in timeline["items"]]
    assert {"attempt", "event", "assignment"} <= set(kinds)
    (attempt,) = [i for i in timeline["items"] if i["kind"] == "attempt"]
    assert attempt["details"]["disposition"] == "rpc"  # as it stands
    assert (await client.get("/api/loans/L0/timeline", headers=t["dan"])).status == 404


async def test_no_route_changes_or_removes_an_attempt(client: Client) -> None:
    document = await (await client.get("/api/openapi.json")).json()
    for path, methods in document["paths"].items():
        if "attempt" in path:
            assert set(methods) <= {"get", "post"}, path
            for operation in methods.values():
                assert "delete" not in operation.get("summary", "").lower(), path


async def test_the_contact_log_export_has_the_contract_s_columns_everywhere(
    client: Client, engine: AsyncEngine, floor: dict[str, Any], capsys: pytest.CaptureFixture[str],
    settings: Settings, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    t = await tokens(client, "ann", "sup")
    call = {"channel": "call", "result": "conversation", "phone": "+8613800138000",
            "disposition": "rpc"}  # fmt: skip
    assert (await client.post("/api/loans/L0/attempts", json=call, headers=t["ann"])).status == 201
    visit = {"channel": "visit", "result": "wrong_address", "note": "moved away"}
    assert (await client.post("/api/loans/L1/attempts", json=visit, headers=t["ann"])).status == 201
    today: dt.date = floor["today"]
    span = f"from={today - dt.timedelta(days=1)}&to={today + dt.timedelta(days=1)}"
    answer = await client.get(f"/api/exports/attempts?{span}", headers=t["sup"])
    assert answer.status == 200
    lines = (await answer.text()).splitlines()
    assert lines[0] == (
        "attempt_ref,loan_ref,party,phone,channel,direction,occurred_at,result,disposition,"
        "channel_detail,template,collector,guard_reasons"
    )
    assert len(lines) == 3
    assert any(",visit,outbound," in line and ",wrong_address," in line for line in lines)
    assert all(",ann," in line for line in lines[1:])
    assert (await client.get(f"/api/exports/attempts?{span}", headers=t["ann"])).status == 403
    wrong = await client.get(f"/api/exports/attempts?from={today}&to={today - dt.timedelta(1)}",
                             headers=t["sup"])  # fmt: skip
    assert wrong.status == 422
    # The CLI writes the same file.
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("ARREARS_VAR_DIR", str(settings.var_dir))
    code = await asyncio.to_thread(
        main,
        ["export", "attempts", "--from", str(today - dt.timedelta(days=1)), "--to",
         str(today + dt.timedelta(days=1))],
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out  # (the test's own log lines come before: this process's)
    assert out[out.index(lines[0]) :].splitlines() == lines
