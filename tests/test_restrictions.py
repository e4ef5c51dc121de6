"""Holds, opt-outs and refusals through the contract (DESIGN.md §5): ``holds.csv``,
``opt_outs.csv``, the dispositions of ``attempts.csv``, and the same through the API — with the
effects a collector would see in the guard's verdict and the classification."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from service.cli import main
from service.db.models import Role
from tests.conftest import Db, login, make_user

BORROWERS = """\
borrower_ref,name,phone,timezone,region,sms_consent
B1,张三,13800138000,Asia/Shanghai,,true
B2,李四,13900139000,Asia/Shanghai,,true
"""
CONTACTS = """\
borrower_ref,contact_ref,name,relation,phone,debt_related
B1,B1-E1,王五,friend,13700137000,false
"""
LOANS = """\
loan_ref,borrower_ref,currency,principal,annual_rate,disbursed_on,maturity_on
L1,B1,CNY,20000.00,0.12,2026-01-05,2027-01-05
L1B,B1,CNY,5000.00,0.12,2026-01-05,2027-01-05
L2,B2,CNY,20000.00,0.12,2026-01-05,2027-01-05
"""
INSTALLMENTS = """\
loan_ref,seq,due_on,principal_due,interest_due
L1,1,2026-02-05,10000.00,200.00
L1,2,2027-01-05,10000.00,200.00
L1B,1,2027-01-05,5000.00,50.00
L2,1,2027-01-05,20000.00,400.00
"""
HOLDS = "hold_ref,borrower_ref,loan_ref,kind,starts_on,ends_on,note\n"
OPT_OUTS = "phone,channel,opted_out_at,opted_in_at,source\n"
ATTEMPTS = "attempt_ref,loan_ref,party,phone,channel,direction,occurred_at,result,disposition\n"


@pytest.fixture
def drop(monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path) -> Path:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("ARREARS_VAR_DIR", str(tmp_path / "var"))
    folder = tmp_path / "drop"
    folder.mkdir()
    for name, content in (
        ("borrowers.csv", BORROWERS),
        ("contacts.csv", CONTACTS),
        ("loans.csv", LOANS),
        ("installments.csv", INSTALLMENTS),
    ):
        (folder / name).write_text(content, encoding="utf-8")
    assert main(["import", str(folder), "--as-of", "2026-11-24"]) == 0
    for path in folder.iterdir():
        path.unlink()
    return folder


def load(folder: Path, name: str, header: str, *rows: str) -> int:
    for path in folder.iterdir():
        path.unlink()
    (folder / name).write_text(header + "".join(row + "\n" for row in rows), encoding="utf-8")
    return main(["import", str(folder), "--as-of", "2026-11-24"])


def verdict(capsys: pytest.CaptureFixture[str], loan: str, party: str, at: str) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["check-contact", "--loan", loan, "--channel", "call", "--party", party,
                 "--at", at, "--profile", "cn"]) == 0  # fmt: skip
    answer: dict[str, Any] = json.loads(capsys.readouterr().out)
    return answer


def test_holds_csv_blocks_lifts_and_reports_bad_rows(
    drop: Path, capsys: pytest.CaptureFixture[str], db: Db
) -> None:
    assert load(
        drop, "holds.csv", HOLDS,
        "H1,B1,,bankruptcy,2026-11-20,,filed in court",
        "H2,B2,L2,dispute,2026-11-20,,",
        "H3,B1,L2,dispute,2026-11-20,,loan of another borrower",
        "H4,B1,,sunburn,2026-11-20,,",
        "H5,B1,,complaint,2026-11-20,2026-11-01,",
        "H6,B9,,complaint,2026-11-20,,",
    ) == 1  # fmt: skip
    errors = db.rows("SELECT line, column_name FROM import_errors ORDER BY line")
    assert errors == [
        (4, "loan_ref"),
        (5, "kind"),
        (6, "ends_on"),
        (7, "borrower_ref"),
    ]
    blocked = verdict(capsys, "L1B", "debtor", "2026-11-24T10:00:00+08:00")
    assert blocked["verdict"] == "block"
    assert "hold_bankruptcy" in blocked["reasons"]  # a borrower-wide hold: every loan
    assert verdict(capsys, "L2", "debtor", "2026-11-24T10:00:00+08:00")["reasons"] == [
        "hold_dispute"
    ]

    # Lifted by re-importing it with ends_on: the day after its last day, contact is allowed.
    assert load(drop, "holds.csv", HOLDS, "H2,B2,L2,dispute,2026-11-20,2026-11-24,") == 0
    assert verdict(capsys, "L2", "debtor", "2026-11-24T10:00:00+08:00")["verdict"] == "block"
    assert verdict(capsys, "L2", "debtor", "2026-11-25T10:00:00+08:00")["verdict"] == "allow"
    # Idempotent: the same file again changes nothing.
    assert load(drop, "holds.csv", HOLDS, "H2,B2,L2,dispute,2026-11-20,2026-11-24,") == 0
    held = db.rows("SELECT hold_ref, ends_on, source FROM holds ORDER BY hold_ref")
    assert [(ref, str(ends)[:10], source) for ref, ends, source in held] == [
        ("H1", "None", "import"),
        ("H2", "2026-11-24", "import"),
    ]


def test_a_bankruptcy_or_death_hold_floors_the_classification(drop: Path, db: Db) -> None:
    assert main(["cob", "--as-of", "2026-11-24"]) == 0
    classes = dict(db.rows("SELECT loan_ref, risk_class FROM loans"))
    assert classes["L1B"] == "normal"
    assert load(drop, "holds.csv", HOLDS, "H1,B1,,deceased,2026-11-20,,") == 0
    assert main(["cob", "--as-of", "2026-11-24"]) == 0
    classes = dict(db.rows("SELECT loan_ref, risk_class FROM loans"))
    assert classes["L1B"] == "substandard"  # 次级: the debtor's capacity to repay is impaired
    assert classes["L2"] == "normal"


def test_opt_outs_csv_per_medium_all_lifted_and_refused_rows(
    drop: Path, capsys: pytest.CaptureFixture[str], db: Db
) -> None:
    assert load(
        drop, "opt_outs.csv", OPT_OUTS,
        "13800138000,all,2026-11-01T09:00:00+08:00,,written",
        "13900139000,call,2026-11-01T09:00:00+08:00,2026-11-10T09:00:00+08:00,verbal",
        "13900139000,sms,2099-01-01T09:00:00+08:00,,keyword",
        "13900139000,fax,2026-11-01T09:00:00+08:00,,keyword",
        "13700137000,sms,2026-11-05T09:00:00+08:00,2026-11-01T09:00:00+08:00,keyword",
    ) == 1  # fmt: skip
    stored = db.rows("SELECT phone, channel FROM opt_outs ORDER BY phone, channel")
    assert stored == [
        ("+8613800138000", "call"),
        ("+8613800138000", "sms"),
        ("+8613900139000", "call"),
    ]
    errors = db.rows("SELECT line, column_name FROM import_errors ORDER BY line")
    assert errors == [
        (4, "opted_out_at"),
        (5, "channel"),
        (6, "opted_in_at"),
    ]
    assert "opted_out" in verdict(capsys, "L1", "debtor", "2026-11-24T10:00:00+08:00")["reasons"]
    # Opted out of calls on the 1st, back in on the 10th: blocked between, allowed after.
    assert "opted_out" in verdict(capsys, "L2", "debtor", "2026-11-05T10:00:00+08:00")["reasons"]
    assert verdict(capsys, "L2", "debtor", "2026-11-24T10:00:00+08:00")["verdict"] == "allow"


def test_dispositions_in_attempts_csv_have_a_collectors_effects(
    drop: Path, capsys: pytest.CaptureFixture[str], db: Db
) -> None:
    assert load(
        drop, "attempts.csv", ATTEMPTS,
        "A1,L1,B1-E1,13700137000,call,outbound,2026-11-20T10:00:00+08:00,conversation,refused",
        "A2,L2,debtor,13900139000,call,outbound,2026-11-20T10:00:00+08:00,conversation,dispute",
        "A3,L1,debtor,13800138000,call,outbound,2026-11-21T10:00:00+08:00,conversation,bankruptcy",
    ) == 0  # fmt: skip
    ((refused_at,),) = db.rows("SELECT refused_at FROM contacts")
    assert refused_at is not None
    held = db.rows("SELECT hold_ref, code, loan_id, started_on FROM holds ORDER BY hold_ref")
    assert [(ref, code, loan is None, str(day)[:10]) for ref, code, loan, day in held] == [
        ("attempt:A2", "dispute", False, "2026-11-20"),
        ("attempt:A3", "bankruptcy", True, "2026-11-21"),
    ]
    assert "hold_dispute" in verdict(capsys, "L2", "debtor", "2026-11-24T10:00:00+08:00")["reasons"]
    assert (
        "hold_bankruptcy"
        in verdict(capsys, "L1B", "debtor", "2026-11-24T10:00:00+08:00")["reasons"]
    )
    # A later, friendlier disposition lifts nothing, and the same file again adds nothing.
    assert load(
        drop, "attempts.csv", ATTEMPTS,
        "A2,L2,debtor,13900139000,call,outbound,2026-11-20T10:00:00+08:00,conversation,dispute",
        "A4,L2,debtor,13900139000,call,outbound,2026-11-22T10:00:00+08:00,conversation,rpc",
        "A5,L1,B1-E1,13700137000,call,outbound,2026-11-22T10:00:00+08:00,conversation,rpc",
    ) == 0  # fmt: skip
    assert len(db.rows("SELECT id FROM holds")) == 2
    assert db.rows("SELECT refused_at FROM contacts") == [(refused_at,)]
    assert "hold_dispute" in verdict(capsys, "L2", "debtor", "2026-11-24T10:00:00+08:00")["reasons"]


async def test_an_import_never_rewrites_what_arrears_recorded(
    client: TestClient[Any, Any], engine: AsyncEngine, tmp_path: Path
) -> None:
    from service.ingest.pipeline import ImportOptions, import_directory

    drop = tmp_path / "files"
    drop.mkdir()
    for name, content in (("borrowers.csv", BORROWERS), ("loans.csv", LOANS)):
        (drop / name).write_text(content, encoding="utf-8")
    await import_directory(engine, drop, ImportOptions())
    await make_user(engine, "sup", Role.supervisor)
    staff = {"Authorization": f"Bearer {await login(client, 'sup')}"}
    paid = await client.post(
        "/api/payments",
        json={"payment_ref": "P1", "loan_ref": "L1", "paid_on": "2026-11-20", "amount": "300.00"},
        headers=staff,
    )
    assert paid.status == 201
    hold = await client.post(
        "/api/holds",
        json={"hold_ref": "H-API", "borrower_ref": "B1", "kind": "dispute",
              "starts_on": "2026-11-20"},
        headers=staff,
    )  # fmt: skip
    assert hold.status == 201, await hold.text()
    opted = await client.post(
        "/api/opt-outs",
        json={"phone": "13800138000", "channel": "sms", "source": "verbal",
              "opted_out_at": "2026-11-20T10:00:00+08:00"},
        headers=staff,
    )  # fmt: skip
    assert opted.status == 201, await opted.text()
    for path in drop.iterdir():
        path.unlink()
    (drop / "payments.csv").write_text(
        "payment_ref,loan_ref,paid_on,amount\nP1,L1,2026-11-20,300.00\nP1X,L1,2026-11-21,1.00\n"
    )
    (drop / "holds.csv").write_text(HOLDS + "H-API,B1,,dispute,2026-11-20,,\n")
    (drop / "opt_outs.csv").write_text(
        OPT_OUTS + "+8613800138000,sms,2026-11-20T02:00:00Z,,verbal\n"
    )
    same = await import_directory(engine, drop, ImportOptions())
    assert same.error_count == 0  # identical rows are fine
    (drop / "payments.csv").write_text(
        "payment_ref,loan_ref,paid_on,amount\nP1,L1,2026-11-20,3000.00\n"
    )
    (drop / "holds.csv").write_text(HOLDS + "H-API,B1,,dispute,2026-11-20,2026-11-21,\n")
    (drop / "opt_outs.csv").write_text(
        OPT_OUTS + "+8613800138000,sms,2026-11-20T02:00:00Z,2026-11-22T02:00:00Z,verbal\n"
    )
    changed = await import_directory(engine, drop, ImportOptions())
    reasons = {error.file: error.reason for error in changed.errors}
    assert "recorded through the api" in reasons["payments.csv"]
    assert "recorded by Arrears" in reasons["holds.csv"]
    assert "recorded by Arrears" in reasons["opt_outs.csv"]
    async with engine.connect() as conn:
        amount = await conn.scalar(text("SELECT amount FROM payments WHERE payment_ref = 'P1'"))
        ends = await conn.scalar(text("SELECT ends_on FROM holds WHERE hold_ref = 'H-API'"))
        lifted = await conn.scalar(text("SELECT opted_in_at FROM opt_outs"))
    assert (Decimal(str(amount)), ends, lifted) == (Decimal(300), None, None)


async def test_holds_opt_outs_and_confirmed_zones_through_the_api(
    client: TestClient[Any, Any], engine: AsyncEngine, tmp_path: Path
) -> None:
    from service.ingest.pipeline import ImportOptions, import_directory

    drop = tmp_path / "files"
    drop.mkdir()
    (drop / "borrowers.csv").write_text(
        "borrower_ref,name,phone,timezone,region,sms_consent\n"
        "U1,Bo Diaz,212-555-0100,America/Chicago,US-NY,true\n"
    )
    (drop / "loans.csv").write_text(
        "loan_ref,borrower_ref,currency,principal,annual_rate,disbursed_on,maturity_on\n"
        "LU,U1,USD,5000.00,0.1,2026-01-05,2027-01-05\n"
    )
    await import_directory(engine, drop, ImportOptions(default_region="US"))
    await make_user(engine, "sup", Role.supervisor)
    staff = {"Authorization": f"Bearer {await login(client, 'sup')}"}

    async def check(at: str) -> dict[str, Any]:
        body = {"loan_ref": "LU", "party": "debtor", "channel": "call", "at": at, "profile": "us"}
        response = await client.post("/api/compliance/check", json=body, headers=staff)
        assert response.status == 200, await response.text()
        answer: dict[str, Any] = await response.json()
        return answer

    # Chicago on file, a New York number: 08:30 in Chicago is 09:30 in New York — allowed in
    # both; 20:30 in Chicago is 21:30 in New York — not.
    assert (await check("2026-11-24T08:30:00-06:00"))["verdict"] == "allow"
    late = await check("2026-11-24T20:30:00-06:00")
    assert (late["verdict"], late["reasons"]) == ("defer", ["outside_window_in_some_zone"])
    confirmed = await client.post(
        "/api/borrowers/U1/timezone", json={"timezone": "America/Chicago"}, headers=staff
    )
    assert confirmed.status == 200, await confirmed.text()
    assert (await check("2026-11-24T20:30:00-06:00"))["verdict"] == "allow"
    # A later import of the file's own (unconfirmed) zone does not undo the confirmation.
    await import_directory(engine, drop, ImportOptions(default_region="US"))
    assert (await check("2026-11-24T20:30:00-06:00"))["verdict"] == "allow"

    hold = await client.post(
        "/api/holds",
        json={"borrower_ref": "U1", "loan_ref": "LU", "kind": "cease_in_writing",
              "starts_on": "2026-11-20"},
        headers=staff,
    )  # fmt: skip
    assert hold.status == 201
    ref = (await hold.json())["hold_ref"]
    assert (await check("2026-11-24T10:00:00-06:00"))["reasons"] == ["hold_cease_in_writing"]
    ended = await client.post(
        f"/api/holds/{ref}/end", json={"ends_on": "2026-11-24"}, headers=staff
    )
    assert ended.status == 200
    assert (await check("2026-11-25T10:00:00-06:00"))["verdict"] == "allow"

    opted = await client.post(
        "/api/opt-outs",
        json={"phone": "+12125550100", "channel": "all", "source": "written"},
        headers=staff,
    )
    assert [o["channel"] for o in (await opted.json())["items"]] == ["call", "sms"]
    assert "opted_out" in (await check("2026-12-31T10:00:00-06:00"))["reasons"]
    back = await client.post(
        "/api/opt-outs/opt-in", json={"phone": "+12125550100", "channel": "call"}, headers=staff
    )
    assert back.status == 200
    assert (await check("2026-12-31T10:00:00-06:00"))["verdict"] == "allow"
    again = await client.post(
        "/api/opt-outs/opt-in", json={"phone": "+12125550100", "channel": "call"}, headers=staff
    )
    assert again.status == 404  # nothing in force to lift
    async with engine.connect() as conn:
        actions = (
            (await conn.execute(text("SELECT action FROM audit_log ORDER BY id"))).scalars().all()
        )
    assert {
        "borrower.timezone_confirmed",
        "hold.recorded",
        "hold.ended",
        "opt_out.recorded",
        "opt_out.lifted",
    } <= set(actions)
