"""Write-off with maker-checker and the legal review: two supervisors (never one twice, the
database refuses it too), the loan off the books and out of the queues, payments after it
counted as recoveries; a suit filed in the legal review holds automated dunning."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from service.assignment.queues import add_member, install_default_queues
from service.assignment.run import strategies_for
from service.cli import main
from service.clock import FixedClock
from service.cob.nightly import Planning, run_cob
from service.db.models import Role
from service.domain.write_offs import decision_refusal
from service.ingest.pipeline import ImportOptions, import_directory
from service.settings import Settings
from service.web.app import create_app
from tests.conftest import Db, login, make_user

Client = TestClient[Any, Any]
DAY = dt.date(2026, 11, 25)
TEN_AM = dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai

BORROWERS = """\
borrower_ref,name,phone,timezone,locale,address,sms_consent
B-LOSS,王五,13800138011,Asia/Shanghai,zh-CN,北京市朝阳区,true
B-XL,赵六,13800138012,Asia/Shanghai,zh-CN,上海市,true
B-M4,孙八,13800138014,Asia/Shanghai,zh-CN,广州市,true
B-M1,钱七,13800138013,Asia/Shanghai,zh-CN,深圳市,true
"""
# (loan, borrower, principal a installment, interest a installment, first due, second due)
LOANS = (
    ("L-LOSS", "B-LOSS", "5000.00", "100.00", "2025-06-01", "2025-07-01"),  # DPD 542: 损失
    ("L-XL", "B-XL", "1000000.00", "100.00", "2025-06-01", "2025-07-01"),  # 损失, tier XL
    ("L-M4", "B-M4", "2000.00", "0.00", "2026-08-15", "2027-06-01"),  # DPD 102: legal review
    ("L-M1", "B-M1", "1500.00", "0.00", "2026-11-10", "2027-06-01"),  # DPD 15: M1 early
)


def write_portfolio(folder: Path) -> None:
    folder.mkdir(exist_ok=True)
    (folder / "borrowers.csv").write_text(BORROWERS)
    loans = ["loan_ref,borrower_ref,currency,principal,annual_rate,disbursed_on,maturity_on"]
    installments = ["loan_ref,seq,due_on,principal_due,interest_due"]
    for ref, borrower, principal, interest, first, second in LOANS:
        total = Decimal(principal) * 2
        loans.append(f"{ref},{borrower},CNY,{total},0.10,2025-01-01,{second}")
        installments.append(f"{ref},1,{first},{principal},{interest}")
        installments.append(f"{ref},2,{second},{principal},{interest}")
    (folder / "loans.csv").write_text("\n".join(loans) + "\n")
    (folder / "installments.csv").write_text("\n".join(installments) + "\n")


async def floor(engine: AsyncEngine, settings: Settings, tmp_path: Path) -> None:
    """The portfolio, the default queues, two supervisors, an admin, a collector in the legal
    queue and one in M1 early; close of business for DAY (tasks planned, accounts assigned)."""
    write_portfolio(tmp_path / "drop")
    report = await import_directory(engine, tmp_path / "drop", ImportOptions())
    assert report.error_count == 0, report.errors
    for name, role in (("sup1", Role.supervisor), ("sup2", Role.supervisor),
                       ("boss", Role.admin), ("col", Role.collector),
                       ("col2", Role.collector)):  # fmt: skip
        await make_user(engine, name, role)
    async with engine.begin() as conn:
        await install_default_queues(conn)
        await add_member(conn, "Recovery and legal", "col")
        await add_member(conn, "M1 early", "col2")
    await cob(engine, settings, DAY)


async def cob(engine: AsyncEngine, settings: Settings, day: dt.date) -> None:
    await run_cob(
        engine, day, settings.cob_config(), planning=Planning(strategies_for(settings), settings)
    )


async def one(engine: AsyncEngine, sql: str, **params: Any) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(text(sql), params)).scalar()


async def task_id(engine: AsyncEngine, loan_ref: str, kind: str) -> int:
    found = await one(
        engine,
        "SELECT t.id FROM tasks t JOIN loans l ON l.id = t.loan_id "
        "WHERE l.loan_ref = :ref AND t.kind = :kind ORDER BY t.id DESC",
        ref=loan_ref,
        kind=kind,
    )
    assert found is not None, f"no {kind} task on {loan_ref}"
    return int(found)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(TEN_AM)


@pytest.fixture
async def app(aiohttp_client: Any, settings: Settings, clock: FixedClock) -> Client:
    client: Client = await aiohttp_client(create_app(settings, clock=clock))
    return client


@pytest.fixture
async def as_user(
    app: Client, engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> Callable[[str], dict[str, str]]:
    """The floor set up; headers of each user, logged in."""
    await floor(engine, settings, tmp_path)
    tokens = {name: await login(app, name) for name in ("sup1", "sup2", "boss", "col", "col2")}
    return lambda name: {"Authorization": f"Bearer {tokens[name]}"}


async def test_a_write_off_needs_two_supervisors_and_takes_the_loan_off_the_books(
    app: Client,
    engine: AsyncEngine,
    settings: Settings,
    clock: FixedClock,
    as_user: Callable[[str], dict[str, str]],
) -> None:
    task = await task_id(engine, "L-LOSS", "write_off_proposal")
    loan = await (await app.get("/api/loans/L-LOSS", headers=as_user("sup1"))).json()
    assert loan["classification"] == "loss"
    assert loan["status"] == "open"
    loan_id = await one(engine, "SELECT id FROM loans WHERE loan_ref = 'L-LOSS'")
    assert await one(engine, "SELECT count(*) FROM work_items WHERE loan_id = :id", id=loan_id) == 1
    penalty_before = loan["penalty_accrued"]

    proposal = {"loan_ref": "L-LOSS", "reason": "debtor unreachable for 18 months", "task_id": task}
    response = await app.post("/api/write-offs", json=proposal, headers=as_user("sup1"))
    assert response.status == 201, await response.text()
    proposed = await response.json()
    assert proposed["status"] == "proposed"
    assert proposed["proposed_by"] == "sup1"
    assert proposed["principal"] == "10000.00"
    assert proposed["interest"] == "200.00"
    assert proposed["amount"] == loan["outstanding"]  # principal + interest + penalty
    assert Decimal(proposed["penalty"]) > 0
    tasks = await (await app.get("/api/tasks?all=true", headers=as_user("sup1"))).json()
    assert {t["id"]: t["status"] for t in tasks["items"]}[task] == "done"
    again = await app.post("/api/write-offs", json=proposal, headers=as_user("sup2"))
    assert again.status == 409

    # The proposer cannot approve: a clear refusal naming the rule, nothing changed.
    url = f"/api/write-offs/{proposed['id']}"
    refused = await app.post(f"{url}/approve", json={}, headers=as_user("sup1"))
    assert refused.status == 409
    error = (await refused.json())["error"]
    assert "maker-checker" in error["message"]
    assert error["details"] == {"rule": "maker_checker"}
    assert (await (await app.get(url, headers=as_user("sup1"))).json())["status"] == "proposed"

    # A promise and a callback still open on the account end with the write-off.
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO promises (loan_id, amount, promised_on, made_on, status, source,"
                " note, created_at, updated_at, paid_amount, created_by)"
                " VALUES (:id, 100, :day, :day, 'pending', 'collector', '', :now, :now, 0, 'c')"
            ),
            {"id": loan_id, "day": DAY, "now": dt.datetime.now(dt.UTC)},
        )
        await conn.execute(
            text(
                "INSERT INTO callbacks (loan_id, due_at, status, note, created_at, created_by)"
                " VALUES (:id, :now, 'scheduled', '', :now, 'c')"
            ),
            {"id": loan_id, "now": dt.datetime.now(dt.UTC)},
        )
    approved = await app.post(f"{url}/approve", json={"note": "agreed"}, headers=as_user("sup2"))
    assert approved.status == 200, await approved.text()
    decided = await approved.json()
    assert decided["status"] == "approved"
    assert decided["decided_by"] == "sup2"
    assert decided["written_off_on"] == DAY.isoformat()
    loan = await (await app.get("/api/loans/L-LOSS", headers=as_user("sup1"))).json()
    assert loan["status"] == "written_off"
    # Out of the queues and the work list; its open tasks cancelled; collectors no longer see it.
    assert await one(engine, "SELECT queue_id FROM loans WHERE id = :id", id=loan_id) is None
    assert await one(engine, "SELECT count(*) FROM work_items WHERE loan_id = :id", id=loan_id) == 0
    assert await one(
        engine, "SELECT count(*) FROM tasks WHERE loan_id = :id AND status = 'open'", id=loan_id
    ) == 0  # fmt: skip
    seen = await (await app.get("/api/tasks?all=true", headers=as_user("col"))).json()
    assert all(t["loan_ref"] != "L-LOSS" for t in seen["items"])
    served = await (await app.post("/api/work/next", headers=as_user("col"))).json()
    assert served["account"] is None or served["account"]["loan_ref"] != "L-LOSS"
    assert (await app.get("/api/loans/L-LOSS", headers=as_user("col"))).status == 404
    moves = await (await app.get("/api/loans/L-LOSS/assignments", headers=as_user("sup1"))).json()
    assert moves["items"][0]["reason"] == "written_off"
    events = await _audit(engine, "L-LOSS", "write_off.%")
    assert [action for action, _ in events] == ["write_off.proposed", "write_off.approved"]
    approval = events[1][1]
    assert approval["before"]["loan_status"] == "open"
    assert approval["after"]["loan_status"] == "written_off"
    assert approval["before"]["status"] == "proposed"
    assert approval["after"]["status"] == "approved"
    assert await one(engine, "SELECT status FROM promises WHERE loan_id = :id", id=loan_id) == (
        "cancelled"
    )
    assert await one(engine, "SELECT status FROM callbacks WHERE loan_id = :id", id=loan_id) == (
        "cancelled"
    )

    # The write-off day's close of business, run again, positions it one last time: still
    # written off, whatever it settles. The next one: no penalty, no plan, no queue for it.
    await cob(engine, settings, DAY)
    assert await one(engine, "SELECT status FROM loans WHERE id = :id", id=loan_id) == "written_off"
    await cob(engine, settings, DAY + dt.timedelta(days=1))
    loan = await (await app.get("/api/loans/L-LOSS", headers=as_user("sup1"))).json()
    assert loan["penalty_accrued"] == penalty_before
    assert loan["status"] == "written_off"
    assert await one(engine, "SELECT queue_id FROM loans WHERE id = :id", id=loan_id) is None
    assert await one(
        engine, "SELECT count(*) FROM tasks WHERE loan_id = :id AND status = 'open'", id=loan_id
    ) == 0  # fmt: skip
    for day in (DAY, DAY + dt.timedelta(days=1)):
        export = await app.get(
            f"/api/exports/accounts?as_of={day.isoformat()}", headers=as_user("sup1")
        )
        assert export.status == 200
        rows = {row[0]: row for row in csv.reader(io.StringIO(await export.text()))}
        assert rows["L-LOSS"][-1] == "written_off"
        assert rows["L-M1"][-1] == "open"

    # A payment after the write-off is accepted and counted as a recovery.
    clock.advance(dt.timedelta(days=1))
    payment = {"payment_ref": "P-REC-1", "loan_ref": "L-LOSS", "paid_on": "2026-11-26",
               "amount": "300.00"}  # fmt: skip
    posted = await app.post("/api/payments", json=payment, headers=as_user("sup1"))
    assert posted.status == 201, await posted.text()
    listed = await (await app.get("/api/write-offs", headers=as_user("sup2"))).json()
    assert listed["total"] == 1
    assert listed["recovered_total"] == "300.00"
    item = listed["items"][0]
    assert item["recovered"] == "300.00"
    assert item["recovery_payments"] == 1
    loan = await (await app.get("/api/loans/L-LOSS", headers=as_user("sup1"))).json()
    assert loan["status"] == "written_off"


async def _audit(engine: AsyncEngine, loan_ref: str, action: str) -> list[tuple[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT action, details FROM audit_log WHERE entity_ref = :ref "
                "AND action LIKE :action ORDER BY id"
            ),
            {"ref": loan_ref, "action": action},
        )
        return [
            (row[0], row[1] if isinstance(row[1], dict) else json.loads(row[1])) for row in rows
        ]


async def test_the_database_refuses_a_decision_by_the_proposer_and_a_second_proposal(
    app: Client, engine: AsyncEngine, as_user: Callable[[str], dict[str, str]]
) -> None:
    proposal = {"loan_ref": "L-LOSS", "reason": "uncollectable"}
    created = await (
        await app.post("/api/write-offs", json=proposal, headers=as_user("sup1"))
    ).json()
    now = dt.datetime(2026, 11, 25, 3, tzinfo=dt.UTC)
    for sql, constraint in (
        ("UPDATE write_offs SET decided_by = proposed_by", "ck_write_offs_maker_checker"),
        (
            "UPDATE write_offs SET status = 'approved', decided_by = proposed_by,"
            " decided_at = :now, written_off_on = :day",
            "ck_write_offs_maker_checker",
        ),
        # A decision that names no decider is refused too.
        (
            "UPDATE write_offs SET status = 'approved', written_off_on = :day",
            "ck_write_offs_decision_recorded",
        ),
    ):
        with pytest.raises(IntegrityError, match=constraint):
            async with engine.begin() as conn:
                await conn.execute(text(sql), {"now": now, "day": DAY})
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:  # one live write-off per loan, whatever writes it
            await conn.execute(
                text(
                    "INSERT INTO write_offs (loan_id, status, principal, interest, penalty,"
                    " days_past_due, risk_class, reason, proposed_by, proposed_at,"
                    " decision_note) SELECT loan_id, 'proposed', 0, 0, 0, 0, 'loss', 'x',"
                    " proposed_by, proposed_at, '' FROM write_offs"
                )
            )
    assert await one(engine, "SELECT status FROM write_offs") == "proposed"
    assert await one(engine, "SELECT decided_by FROM write_offs") is None
    # Another supervisor's decision is what the database accepts.
    decided = await app.post(
        f"/api/write-offs/{created['id']}/approve", json={}, headers=as_user("sup2")
    )
    assert decided.status == 200


async def test_forward_only_rejection_withdrawal_and_an_admin_above_the_largest_tier(
    app: Client, engine: AsyncEngine, as_user: Callable[[str], dict[str, str]]
) -> None:
    big = await (
        await app.post(
            "/api/write-offs", json={"loan_ref": "L-XL", "reason": "fraud"}, headers=as_user("sup1")
        )
    ).json()
    assert Decimal(big["amount"]) > Decimal(1_000_000)
    url = f"/api/write-offs/{big['id']}"
    refused = await app.post(f"{url}/approve", json={}, headers=as_user("sup2"))
    assert refused.status == 403
    assert (await refused.json())["error"]["details"] == {"rule": "admin_required"}
    assert (await app.post(f"{url}/reject", json={}, headers=as_user("sup2"))).status == 422
    rejected = await app.post(f"{url}/reject", json={"note": "x"}, headers=as_user("sup1"))
    assert rejected.status == 409  # the proposer does not reject their own either
    approved = await app.post(f"{url}/approve", json={}, headers=as_user("boss"))
    assert approved.status == 200
    assert (await app.post(f"{url}/withdraw", json={}, headers=as_user("sup1"))).status == 409

    small = await (
        await app.post(
            "/api/write-offs", json={"loan_ref": "L-LOSS", "reason": "x"}, headers=as_user("sup1")
        )
    ).json()
    url = f"/api/write-offs/{small['id']}"
    rejected = await app.post(
        f"{url}/reject", json={"note": "keep trying"}, headers=as_user("sup2")
    )
    assert (await rejected.json())["status"] == "rejected"
    assert (await app.post(f"{url}/approve", json={}, headers=as_user("boss"))).status == 409
    loan = await (await app.get("/api/loans/L-LOSS", headers=as_user("sup1"))).json()
    assert loan["status"] == "open"
    # A new proposal after the rejection, withdrawn by its proposer.
    again = await (
        await app.post(
            "/api/write-offs", json={"loan_ref": "L-LOSS", "reason": "y"}, headers=as_user("sup1")
        )
    ).json()
    withdrawn = await app.post(
        f"/api/write-offs/{again['id']}/withdraw", json={}, headers=as_user("sup1")
    )
    assert (await withdrawn.json())["status"] == "withdrawn"
    listed = await (
        await app.get("/api/write-offs?loan_ref=L-LOSS", headers=as_user("sup1"))
    ).json()
    assert [i["status"] for i in listed["items"]] == ["withdrawn", "rejected"]
    for bad in ({"loan_ref": "NOPE", "reason": "x"}, {"loan_ref": "L-XL", "reason": "x"}):
        answer = await app.post("/api/write-offs", json=bad, headers=as_user("sup1"))
        assert answer.status in (404, 409)  # unknown loan; written off already
    wrong_task = await task_id(engine, "L-M4", "legal_review")
    answer = await app.post(
        "/api/write-offs",
        json={"loan_ref": "L-M4", "reason": "x", "task_id": wrong_task},
        headers=as_user("sup1"),
    )
    assert answer.status == 422
    assert (await app.get("/api/write-offs/999999", headers=as_user("sup1"))).status == 404


async def test_collectors_can_neither_propose_nor_decide_nor_list(
    app: Client, as_user: Callable[[str], dict[str, str]]
) -> None:
    proposal = {"loan_ref": "L-LOSS", "reason": "x"}
    assert (await app.post("/api/write-offs", json=proposal, headers=as_user("col"))).status == 403
    created = await (
        await app.post("/api/write-offs", json=proposal, headers=as_user("sup1"))
    ).json()
    for action in ("approve", "withdraw"):
        answer = await app.post(
            f"/api/write-offs/{created['id']}/{action}", json={}, headers=as_user("col")
        )
        assert answer.status == 403
    assert (await app.get("/api/write-offs", headers=as_user("col"))).status == 403


async def _check_sms(app: Client, headers: dict[str, str]) -> dict[str, Any]:
    check = {"loan_ref": "L-LOSS", "party": "debtor", "channel": "sms",
             "at": "2026-11-25T11:00:00+08:00"}  # fmt: skip
    answer = await app.post("/api/compliance/check", json=check, headers=headers)
    assert answer.status == 200, await answer.text()
    decision: dict[str, Any] = await answer.json()
    return decision


async def test_a_suit_from_the_legal_review_holds_the_next_sms(
    app: Client, engine: AsyncEngine, as_user: Callable[[str], dict[str, str]]
) -> None:
    review = await task_id(engine, "L-LOSS", "legal_review")
    assert "hold_legal_action" not in (await _check_sms(app, as_user("col")))["reasons"]
    url = f"/api/tasks/{review}/legal-review"
    body = {"outcome": "file_suit", "note": "assets found: a flat in 朝阳区"}
    # A collector of another queue cannot see the task; an outcome outside the list is refused.
    assert (await app.post(url, json=body, headers=as_user("col2"))).status == 404
    assert (await app.post(url, json={"outcome": "sue"}, headers=as_user("col"))).status == 422
    proposal_task = await task_id(engine, "L-LOSS", "write_off_proposal")
    wrong = await app.post(
        f"/api/tasks/{proposal_task}/legal-review", json=body, headers=as_user("col")
    )
    assert wrong.status == 422

    closed = await app.post(url, json=body, headers=as_user("col"))
    assert closed.status == 200, await closed.text()
    result = await closed.json()
    assert result["status"] == "done"
    assert result["outcome"] == "file_suit"
    assert result["hold_ref"]
    decision = await _check_sms(app, as_user("col"))
    assert decision["verdict"] == "block"
    assert "hold_legal_action" in decision["reasons"]
    holds = await (await app.get("/api/holds?borrower_ref=B-LOSS", headers=as_user("sup1"))).json()
    assert [(h["kind"], h["loan_ref"]) for h in holds["items"]] == [("legal_action", "L-LOSS")]
    assert (await app.post(url, json=body, headers=as_user("col"))).status == 409
    events = await _audit(engine, "L-LOSS", "task.closed")
    assert events[-1][1]["outcome"] == "file_suit"
    assert events[-1][1]["hold_ref"] == result["hold_ref"]


async def test_a_referral_to_write_off_opens_one_proposal_task(
    app: Client, engine: AsyncEngine, settings: Settings, as_user: Callable[[str], dict[str, str]]
) -> None:
    review = await task_id(engine, "L-M4", "legal_review")
    body = {"outcome": "refer_write_off", "note": "borrower deceased, no estate"}
    closed = await (
        await app.post(f"/api/tasks/{review}/legal-review", json=body, headers=as_user("col"))
    ).json()
    opened = closed["write_off_task_id"]
    assert opened == await task_id(engine, "L-M4", "write_off_proposal")
    assert closed["hold_ref"] is None
    await cob(engine, settings, DAY)  # the plan run again makes no second one
    assert await one(
        engine,
        "SELECT count(*) FROM tasks t JOIN loans l ON l.id = t.loan_id "
        "WHERE l.loan_ref = 'L-M4' AND t.kind = 'write_off_proposal'",
    ) == 1  # fmt: skip
    created = await app.post(
        "/api/write-offs",
        json={"loan_ref": "L-M4", "reason": "as the legal review found", "task_id": opened},
        headers=as_user("sup1"),
    )
    assert created.status == 201
    assert (await created.json())["task_id"] == opened


def test_the_command_line_refuses_the_same_supervisor_twice(
    db: Db,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("ARREARS_VAR_DIR", str(tmp_path / "var"))

    async def setup(engine: AsyncEngine) -> None:
        await floor(engine, settings, tmp_path)

    db.run(setup)
    assert main(["write-off", "propose", "L-LOSS", "--reason", "lost", "--by", "col"]) == 2
    assert "may not propose" in capsys.readouterr().err
    assert main(["write-off", "propose", "L-LOSS", "--reason", "lost", "--by", "sup1"]) == 0
    assert "proposed by sup1" in capsys.readouterr().out
    (write_off,) = db.rows("SELECT id FROM write_offs")
    number = str(write_off[0])
    assert main(["write-off", "approve", number, "--by", "sup1"]) == 2
    assert "maker-checker" in capsys.readouterr().err
    assert main(["write-off", "approve", number, "--by", "nobody"]) == 2
    assert main(["write-off", "approve", number, "--by", "sup2"]) == 0
    assert "approved by sup2" in capsys.readouterr().out
    assert db.rows("SELECT status FROM loans WHERE loan_ref = 'L-LOSS'") == [("written_off",)]
    assert main(["write-off", "list", "--status", "approved"]) == 0
    assert "1 write-off(s)" in capsys.readouterr().out

    (review,) = db.rows(
        "SELECT t.id FROM tasks t JOIN loans l ON l.id = t.loan_id "
        "WHERE l.loan_ref = 'L-XL' AND t.kind = 'legal_review'"
    )
    args = ["legal", "close", str(review[0]), "--by", "col"]
    assert main([*args, "--outcome", "sue"]) == 2  # not in the list: argparse refuses it
    assert main([*args, "--outcome", "file_suit", "--note", "filed"]) == 0
    assert "legal_action hold" in capsys.readouterr().out
    assert db.rows("SELECT code FROM holds") == [("legal_action",)]


def test_the_decision_rule_names_why_it_refuses() -> None:
    limit = Decimal(1_000_000)

    def refused(decider: int, role: str, amount: str) -> str | None:
        refusal = decision_refusal(
            proposer_id=1, decider_id=decider, decider_role=role, amount=Decimal(amount),
            admin_above=limit,
        )  # fmt: skip
        return refusal.code if refusal else None

    assert refused(2, "supervisor", "1000000.00") is None  # at the bound: a supervisor may
    assert refused(2, "supervisor", "1000000.01") == "admin_required"
    assert refused(2, "admin", "5000000.00") is None
    assert refused(1, "admin", "10.00") == "maker_checker"  # an admin is no exception
    assert refused(2, "collector", "10.00") == "role"
