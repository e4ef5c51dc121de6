"""Planning in close of business: the outbox, once per key; promises, opt-outs and holds; lost
contact; tasks; letters; the dry run; plans as versioned data; a plugged-in treatment."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, ClassVar, Literal

import pytest
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from service.cli import main
from service.db.models import Hold, OptOut, Promise, PromiseStatus
from service.domain.contact import Channel
from service.settings import Settings
from service.treatment.planner import PlanReport, plan_day
from service.treatment.plans import store_plan
from strategies.registry import load_registry
from strategies.treatment import PlanSpec, PlanSteps, Step, TreatmentAccount
from tests.conftest import Db

DAY = dt.date(2026, 11, 25)
BORROWERS = """\
borrower_ref,name,phone,timezone,locale,address,sms_consent
B-PRE,张一,13800138001,Asia/Shanghai,zh-CN,北京市朝阳区,true
B-DUE,张二,13800138002,Asia/Shanghai,zh-CN,,true
B-DPD1,Jane Roe,13800138003,Asia/Shanghai,en,,true
B-CALL,张四,13800138004,Asia/Shanghai,zh-CN,,true
B-PTP,张五,13800138005,Asia/Shanghai,zh-CN,,true
B-OPT,张六,13800138006,Asia/Shanghai,zh-CN,,true
B-MAT,张七,13800138007,Asia/Shanghai,zh-CN,上海市,true
B-LOST,张八,13800138008,Asia/Shanghai,zh-CN,,true
B-OLD,张九,13800138009,Asia/Shanghai,zh-CN,广州市天河区,true
B-HOLD,张十,13800138010,Asia/Shanghai,zh-CN,,true
"""
# (loan, borrower, first due date, principal); maturity is LATER unless a loan names its own:
# a second installment of the same amount falls due at maturity.
LATER = "2027-06-01"
MATURITY = {"L-MAT": "2026-12-25", "L-OLD": "2026-10-01"}
LOANS = (
    ("L-PRE", "B-PRE", "2026-11-28", "3000.00"),
    ("L-DUE", "B-DUE", "2026-11-25", "3000.00"),
    ("L-DPD1", "B-DPD1", "2026-11-24", "3000.00"),
    ("L-CALL", "B-CALL", "2026-11-15", "3000.00"),
    ("L-PTP", "B-PTP", "2026-11-15", "3000.00"),
    ("L-OPT", "B-OPT", "2026-11-28", "3000.00"),
    ("L-MAT", "B-MAT", "2026-12-25", "3000.00"),
    ("L-LOST", "B-LOST", "2026-11-15", "20000.00"),
    ("L-OLD", "B-OLD", "2026-10-01", "3000.00"),
    ("L-HOLD", "B-HOLD", "2026-11-15", "3000.00"),
)
ATTEMPTS = """\
attempt_ref,loan_ref,party,phone,channel,direction,occurred_at,result
X1,L-LOST,debtor,13800138008,call,outbound,2026-11-23T10:00:00+08:00,no_answer
X2,L-LOST,debtor,13800138008,call,outbound,2026-11-24T10:00:00+08:00,busy
"""


def write_portfolio(folder: Path) -> None:
    folder.mkdir(exist_ok=True)
    (folder / "borrowers.csv").write_text(BORROWERS)
    loans = ["loan_ref,borrower_ref,currency,principal,annual_rate,disbursed_on,maturity_on"]
    installments = ["loan_ref,seq,due_on,principal_due,interest_due"]
    for ref, borrower, due, principal in LOANS:
        maturity = MATURITY.get(ref, LATER)
        loans.append(f"{ref},{borrower},CNY,{principal},0.00,2026-06-01,{maturity}")
        installments.append(f"{ref},1,{due},{principal},0.00")
        if maturity != due:
            installments.append(f"{ref},2,{maturity},{principal},0.00")
    (folder / "loans.csv").write_text("\n".join(loans) + "\n")
    (folder / "installments.csv").write_text("\n".join(installments) + "\n")
    (folder / "attempts.csv").write_text(ATTEMPTS)


@pytest.fixture
def portfolio(monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path) -> Path:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("ARREARS_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("ARREARS_LENDER_TIMEZONE", "Asia/Shanghai")
    monkeypatch.setenv("ARREARS_LENDER_NAME", "测试银行")
    folder = tmp_path / "drop"
    write_portfolio(folder)
    assert main(["import", str(folder), "--as-of", "2026-11-24"]) == 0
    return folder


async def add_facts(engine: AsyncEngine) -> None:
    """Promises on L-PTP and L-OLD, an SMS opt-out from B-OPT's number, a dispute on B-HOLD
    (and two disputes not in force on the 25th)."""
    async with engine.begin() as conn:
        loan = await conn.scalar(text("SELECT id FROM loans WHERE loan_ref = 'L-PTP'"))
        held = await conn.scalar(text("SELECT id FROM borrowers WHERE borrower_ref = 'B-HOLD'"))
        now = dt.datetime(2026, 11, 24, 12, tzinfo=dt.UTC)
        await conn.execute(
            insert(Promise).values(
                loan_id=loan,
                collector_id=None,
                amount="3000.00",
                promised_on=dt.date(2026, 11, 26),
                status=PromiseStatus.pending,
                source="collector",
                created_at=now,
                updated_at=now,
            )
        )
        await conn.execute(
            insert(OptOut).values(
                phone="+8613800138006",
                channel=Channel.sms,
                source="keyword",
                keyword="TD",
                # Known before the day planned: an opt-out counts from when it was recorded.
                opted_out_at=dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC),
            )
        )
        await conn.execute(
            insert(Hold).values(
                borrower_id=held,
                code="dispute",
                started_on=dt.date(2026, 11, 20),
                note="disputes the amount",
                created_by="supervisor",
            )
        )
        # Holds not in force on the 25th: one ended the day before, one starts in two days.
        for ref, started, ended in (("B-CALL", 20, 24), ("B-DPD1", 27, None)):
            borrower = await conn.scalar(
                text("SELECT id FROM borrowers WHERE borrower_ref = :ref"), {"ref": ref}
            )
            await conn.execute(
                insert(Hold).values(
                    borrower_id=borrower,
                    code="dispute",
                    started_on=dt.date(2026, 11, started),
                    ends_on=dt.date(2026, 11, ended) if ended else None,
                    created_by="supervisor",
                )
            )
        # A promise suspends the overdue notice too (automated dunning by letter).
        old = await conn.scalar(text("SELECT id FROM loans WHERE loan_ref = 'L-OLD'"))
        await conn.execute(
            insert(Promise).values(
                loan_id=old,
                collector_id=None,
                amount="3000.00",
                promised_on=dt.date(2026, 11, 25),
                status=PromiseStatus.pending,
                source="collector",
                created_at=now,
                updated_at=now,
            )
        )


OUTBOX = (
    "SELECT l.loan_ref, o.step, o.channel, o.status, o.reasons, o.idempotency_key "
    "FROM outbox o JOIN loans l ON l.id = o.loan_id ORDER BY l.loan_ref, o.step"
)


def test_cob_plans_the_day_into_the_outbox_once_with_every_decision_kept(
    portfolio: Path, db: Db, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("service.treatment.planner.SLICE", 3)  # several slices of loans, same plan
    db.run(add_facts)
    assert main(["cob", "--as-of", DAY.isoformat()]) == 0
    assert "planned:" in capsys.readouterr().out
    planned = {(r[0], r[1]): (r[2], r[3], r[4]) for r in db.rows(OUTBOX)}

    assert planned == {
        ("L-PRE", "pre_due_sms"): ("sms", "pending", ""),
        ("L-DUE", "due_day_sms"): ("sms", "pending", ""),
        ("L-DPD1", "overdue_sms"): ("sms", "pending", ""),
        ("L-CALL", "reminder_call"): ("call", "pending", ""),
        # A pending promise (26th + 3 days' grace) suspends automated dunning.
        ("L-PTP", "reminder_call"): ("call", "deferred", "promise_pending"),
        # … but not the reminder of the promise itself, the day before its date.
        ("L-PTP", "promise_reminder"): ("sms", "pending", ""),
        ("L-OPT", "pre_due_sms"): ("sms", "blocked", "opted_out"),
        ("L-MAT", "due_notice"): ("letter", "pending", ""),
        ("L-OLD", "overdue_notice"): ("letter", "deferred", "promise_pending"),
        ("L-HOLD", "reminder_call"): ("call", "blocked", "hold_dispute"),
    }
    keys = {r[5] for r in db.rows(OUTBOX)}
    loan_ids = dict(db.rows("SELECT loan_ref, id FROM loans"))
    assert f"{loan_ids['L-PRE']}:pre_due_sms:2026-11-25" in keys
    assert f"{loan_ids['L-MAT']}:due_notice" in keys  # a letter goes once per loan

    # L-LOST: two days of calls, none answered, overdue 10 days → 失联 → a field visit (≥ 10,000).
    lost = db.rows("SELECT lost_contact_on FROM loans WHERE loan_ref = 'L-LOST'")
    assert str(lost[0][0]) == "2026-11-25"
    marks = db.rows("SELECT entity_ref, details FROM audit_log WHERE action = 'loan.lost_contact'")
    assert [ref for ref, _ in marks] == ["L-LOST"]  # on the account's timeline
    tasks = db.rows(
        "SELECT l.loan_ref, t.kind, t.status FROM tasks t JOIN loans l ON l.id = t.loan_id "
        "WHERE t.kind <> 'inspection' ORDER BY l.loan_ref, t.kind",
    )
    assert [tuple(t) for t in tasks] == [("L-LOST", "field_visit", "open")]

    # The decision on the opted-out SMS was stored with what it was decided from.
    decision = db.rows(
        "SELECT d.verdict, d.reasons, d.inputs FROM guard_decisions d "
        "JOIN loans l ON l.id = d.loan_id WHERE l.loan_ref = 'L-OPT'",
    )
    verdict, reasons, inputs = decision[0]
    assert (verdict, reasons) == ("block", "opted_out")
    facts = json.loads(inputs)
    assert facts["opted_out"] == [["+8613800138006", "sms"]]
    assert facts["profile"]["name"] == "cn"
    assert "回复TD退订" in facts["request"]["text"]
    assert facts["request"]["at"] == "2026-11-25T10:00:00+08:00"

    # Planning the same day again duplicates nothing.
    before = db.rows("SELECT count(*) FROM outbox")
    tasks_before = db.rows("SELECT count(*) FROM tasks")  # the field visit, the inspections
    assert main(["cob", "--as-of", DAY.isoformat()]) == 0
    assert db.rows("SELECT count(*) FROM outbox") == before
    assert db.rows("SELECT count(*) FROM tasks") == tasks_before
    assert len(db.rows("SELECT id FROM tasks WHERE kind <> 'inspection'")) == 1


def test_the_next_day_expires_unsent_reminders_and_a_conversation_ends_lost_contact(
    portfolio: Path, db: Db
) -> None:
    assert main(["cob", "--as-of", DAY.isoformat()]) == 0
    folder = portfolio
    for name in ("borrowers.csv", "loans.csv", "installments.csv"):
        (folder / name).unlink()
    (folder / "attempts.csv").write_text(
        ATTEMPTS.splitlines()[0]
        + "\nX3,L-LOST,debtor,13800138008,call,inbound,2026-11-25T15:00:00+08:00,conversation\n"
    )
    assert main(["import", str(folder), "--as-of", "2026-11-25"]) == 0
    assert main(["cob", "--as-of", "2026-11-26"]) == 0

    lost = db.rows("SELECT lost_contact_on FROM loans WHERE loan_ref = 'L-LOST'")
    assert lost[0][0] is None
    old = db.rows(
        "SELECT o.status, o.reasons FROM outbox o JOIN loans l ON l.id = o.loan_id "
        "WHERE l.loan_ref = 'L-CALL' AND o.planned_for = '2026-11-25'",
    )
    assert [tuple(r) for r in old] == [("cancelled", "expired")]
    today = db.rows(
        "SELECT o.status FROM outbox o JOIN loans l ON l.id = o.loan_id "
        "WHERE l.loan_ref = 'L-CALL' AND o.planned_for = '2026-11-26'",
    )
    assert [r[0] for r in today] == ["pending"]
    # The letter, not sent yet, is still the one row of its key.
    letters = db.rows("SELECT count(*) FROM outbox WHERE step = 'overdue_notice'")
    assert letters[0][0] == 1


def test_the_dry_run_prints_the_day_and_writes_nothing(
    portfolio: Path, db: Db, capsys: pytest.CaptureFixture[str]
) -> None:
    db.run(add_facts)
    assert main(["cob", "--as-of", "2026-11-24"]) == 0
    counts = "SELECT (SELECT count(*) FROM outbox), (SELECT count(*) FROM guard_decisions), " \
        "(SELECT count(*) FROM tasks), (SELECT count(*) FROM cob_runs)"  # fmt: skip
    before = db.rows(counts)
    capsys.readouterr()

    assert main(["plan", "--dry-run", "--for", DAY.isoformat()]) == 0
    out = capsys.readouterr().out
    assert "Plan for 2026-11-25 (dry run: nothing written); plans standard@1" in out
    assert "blocked   opted_out" in out
    assert "blocked   hold_dispute" in out
    assert "deferred  promise_pending" in out
    assert "field_visit" in out
    assert "lost contact (失联): 0 marked, 0 reached again" in out  # marked on the 24th
    assert db.rows(counts) == before

    assert main(["plan", "--dry-run", "--for", DAY.isoformat(), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    sms = {c["status"]: c["count"] for c in report["contacts"] if c["channel"] == "sms"}
    assert sms == {"pending": 4, "blocked": 1}  # the promise's reminder among them
    assert db.rows(counts) == before


def test_plan_without_dry_run_points_to_cob(
    portfolio: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", "--for", "2026-11-25"]) == 2
    assert "arrears cob" in capsys.readouterr().err
    assert main(["plan", "--dry-run", "--for", "someday"]) == 2
    assert "not a date" in capsys.readouterr().err


def test_letters_render_as_html_and_as_pdf(
    portfolio: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pypdf import PdfReader

    assert main(["cob", "--as-of", DAY.isoformat()]) == 0
    capsys.readouterr()
    assert (
        main(["letter", "--loan", "L-OLD", "--kind", "overdue_notice", "--as-of", "2026-11-25"])
        == 0
    )
    html = capsys.readouterr().out
    assert "<h1>逾期通知书</h1>" in html
    assert "张九" in html
    assert "广州市天河区" in html
    assert "已逾期55天" in html

    pdf = tmp_path / "notice.pdf"
    args = ["letter", "--loan", "L-MAT", "--kind", "due_notice", "--format", "pdf"]
    assert main([*args, "--out", str(pdf)]) == 0
    page = PdfReader(pdf).pages[0].extract_text()
    assert "贷款到期通知书" in page
    assert "L-MAT" in page
    assert "2026-12-25" in page

    assert main(["letter", "--loan", "NOPE", "--kind", "due_notice"]) == 2
    assert "not found" in capsys.readouterr().err


def test_plans_are_versioned_data_and_a_bad_one_is_refused(
    portfolio: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plans", "list"]) == 0
    assert "* standard@1" in capsys.readouterr().out

    quiet = tmp_path / "quiet.toml"
    quiet.write_text(
        'name = "standard"\n'
        "[[steps]]\n"
        'key = "due_day_sms"\nchannel = "sms"\ntemplate = "due_day"\n'
        "when = { days_before_due = 0 }\n"
    )
    assert main(["plans", "load", str(quiet)]) == 0
    assert "stored plan standard version 2" in capsys.readouterr().out
    assert main(["plans", "list"]) == 0
    listing = capsys.readouterr().out
    assert "  standard@1" in listing
    assert "* standard@2" in listing

    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[[steps]]\nkey = "a"\nchannel = "sms"\ntemplate = "nothing"\n')
    assert main(["plans", "load", str(bad)]) == 2
    assert "no template sms/zh-CN/nothing" in capsys.readouterr().err
    bad.write_text('name = "x"\nstrategy = "nobody"\n[[steps]]\nkey = "a"\nchannel = "letter"\n')
    assert main(["plans", "load", str(bad)]) == 2
    assert "a template is required" in capsys.readouterr().err


class LettersOnly(PlanSteps):
    """An outside treatment: a lender who sends only letters."""

    name: ClassVar[str] = "letters_only"
    kind: ClassVar[Literal["treatment"]] = "treatment"

    def plan(self, account: TreatmentAccount, plan: PlanSpec, day: dt.date) -> list[Step]:
        return [s for s in super().plan(account, plan, day) if s.channel == "letter"]


def test_a_plugged_in_treatment_strategy_decides_the_steps(
    portfolio: Path, db: Db, settings: Settings
) -> None:
    assert main(["cob", "--as-of", "2026-11-24"]) == 0
    registry = load_registry()
    registry.register(LettersOnly)

    async def replan(engine: AsyncEngine) -> PlanReport:
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM outbox"))
            plan = json.loads(
                await conn.scalar(text("SELECT definition FROM treatment_plans WHERE version = 1"))
            )
            await store_plan(conn, {**plan, "strategy": "letters_only"}, registry, "test")
            return await plan_day(conn, registry, settings, dt.date(2026, 11, 24))

    report = db.run(replan)
    assert report.plans == ["standard@2"]
    assert set(report.contacts) == {("letter", "pending")}
    channels = db.rows("SELECT DISTINCT channel FROM outbox")
    assert [c[0] for c in channels] == ["letter"]
    stored = db.rows("SELECT strategy FROM treatment_plans WHERE active")
    assert [s[0] for s in stored] == ["letters_only"]
    assert db.rows("SELECT count(*) FROM treatment_plans") == [(2,)]


async def test_the_api_lists_stores_and_dry_runs_plans_and_serves_letters(
    portfolio: Path, client: Any, engine: AsyncEngine
) -> None:
    from pypdf import PdfReader

    from service.db.models import Role
    from tests.conftest import job_done, login, make_user

    await make_user(engine, "sup", Role.supervisor)
    await make_user(engine, "col", Role.collector)
    staff = {"Authorization": f"Bearer {await login(client, 'sup')}"}
    collector = {"Authorization": f"Bearer {await login(client, 'col')}"}

    listing = await (await client.get("/api/plans", headers=staff)).json()
    assert [(p["name"], p["version"], p["active"]) for p in listing["items"]] == [
        ("standard", 1, True)
    ]
    assert (await client.get("/api/plans", headers=collector)).status == 403

    response = await client.post("/api/plans/dry-run", json={"for": "2026-11-25"}, headers=staff)
    assert response.status == 202
    job = await job_done(client, await response.json(), staff)
    assert job["state"] == "succeeded", job["error"]
    report = job["result"]
    assert report["day"] == "2026-11-25"
    assert {"step": "pre_due_sms", "channel": "sms", "status": "pending", "count": 2} in report[
        "steps"
    ]
    async with engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM outbox")) == 0
    assert (await client.post("/api/plans/dry-run", json={}, headers=staff)).status == 422

    bad = {"name": "x", "steps": [{"key": "a", "channel": "sms", "template": "nothing"}]}
    response = await client.post("/api/plans", json=bad, headers=staff)
    assert response.status == 422
    assert "no template" in (await response.json())["error"]["message"]

    response = await client.get("/api/loans/L-MAT/letters/due_notice?format=pdf", headers=staff)
    assert response.headers["Content-Type"] == "application/pdf"
    import io

    text_ = PdfReader(io.BytesIO(await response.read())).pages[0].extract_text()
    assert "贷款到期通知书" in text_
    # A collector reaches only their queues' accounts.
    response = await client.get("/api/loans/L-MAT/letters/due_notice", headers=collector)
    assert response.status == 404


def test_two_failed_field_visits_send_the_account_to_an_agency(
    portfolio: Path, db: Db, capsys: pytest.CaptureFixture[str]
) -> None:
    def open_tasks() -> list[tuple[Any, ...]]:
        return db.rows(
            "SELECT t.id, t.kind, t.idempotency_key FROM tasks t "
            "WHERE t.status = 'open' AND t.kind <> 'inspection' ORDER BY t.id"
        )

    assert main(["cob", "--as-of", DAY.isoformat()]) == 0
    ((first, kind, key),) = open_tasks()
    assert (kind, key.rsplit(":", 1)[1]) == ("field_visit", "visit1")
    capsys.readouterr()
    assert main(["tasks", "list"]) == 0
    assert "field_visit" in capsys.readouterr().out
    assert main(["tasks", "close", str(first), "--outcome", "not_at_home", "--note", "nobody"]) == 0
    assert main(["tasks", "close", str(first), "--status", "done"]) == 2
    assert "already failed" in capsys.readouterr().err

    assert main(["cob", "--as-of", "2026-11-26"]) == 0
    ((second, kind, key),) = open_tasks()
    assert (kind, key.rsplit(":", 1)[1]) == ("field_visit", "visit2")
    assert main(["tasks", "close", str(second), "--outcome", "moved"]) == 0

    assert main(["cob", "--as-of", "2026-11-27"]) == 0
    assert [row[1] for row in open_tasks()] == ["agency_placement"]
    audit = db.rows("SELECT count(*) FROM audit_log WHERE action = 'task.closed'")
    assert audit == [(2,)]


async def test_collectors_see_and_close_only_the_tasks_of_their_accounts(
    portfolio: Path, client: Any, engine: AsyncEngine, settings: Settings
) -> None:
    from service.cob.nightly import Planning, run_cob
    from service.db.models import Role
    from tests.conftest import login, make_user

    await run_cob(engine, DAY, settings.cob_config(), planning=Planning(load_registry(), settings))
    await make_user(engine, "sup", Role.supervisor)
    await make_user(engine, "col", Role.collector)
    staff = {"Authorization": f"Bearer {await login(client, 'sup')}"}
    collector = {"Authorization": f"Bearer {await login(client, 'col')}"}

    items = (await (await client.get("/api/tasks", headers=staff)).json())["items"]
    assert [(t["kind"], t["loan_ref"]) for t in items] == [("field_visit", "L-LOST")]
    assert (await (await client.get("/api/tasks", headers=collector)).json())["items"] == []

    url = f"/api/tasks/{items[0]['id']}/close"
    response = await client.post(url, json={"status": "failed"}, headers=collector)
    assert response.status == 404
    response = await client.post(url, json={"status": "lost"}, headers=staff)
    assert response.status == 422
    response = await client.post(url, json={"outcome": "moved", "note": "moved"}, headers=staff)
    assert response.status == 200
    assert (await response.json())["status"] == "failed"
    assert (await client.post(url, json={"status": "done"}, headers=staff)).status == 409


def test_caps_count_the_debtors_other_loans(
    portfolio: Path, db: Db, capsys: pytest.CaptureFixture[str]
) -> None:
    # B-DUE has three loans due today: cn allows two texts a day to a debtor, not three.
    extra = portfolio / "extra"
    extra.mkdir()
    (extra / "loans.csv").write_text(
        "loan_ref,borrower_ref,currency,principal,annual_rate,disbursed_on,maturity_on\n"
        "L-DUE2,B-DUE,CNY,1000.00,0.00,2026-06-01,2027-06-01\n"
        "L-DUE3,B-DUE,CNY,1000.00,0.00,2026-06-01,2027-06-01\n"
    )
    (extra / "installments.csv").write_text(
        "loan_ref,seq,due_on,principal_due,interest_due\n"
        "L-DUE2,1,2026-11-25,500.00,0.00\nL-DUE2,2,2027-06-01,500.00,0.00\n"
        "L-DUE3,1,2026-11-25,500.00,0.00\nL-DUE3,2,2027-06-01,500.00,0.00\n"
    )
    assert main(["import", str(extra), "--as-of", "2026-11-24"]) == 0
    assert main(["cob", "--as-of", DAY.isoformat()]) == 0
    texts = db.rows(
        "SELECT o.status, o.reasons FROM outbox o JOIN loans l ON l.id = o.loan_id "
        "WHERE l.loan_ref LIKE 'L-DUE%' ORDER BY l.loan_ref"
    )
    assert texts == [("pending", ""), ("pending", ""), ("deferred", "sms_per_day")]


def test_replanning_withdraws_what_no_longer_applies_and_earlier_days_are_refused(
    portfolio: Path, db: Db, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["cob", "--as-of", DAY.isoformat()]) == 0
    paid = portfolio / "paid"
    paid.mkdir()
    (paid / "payments.csv").write_text(
        "payment_ref,loan_ref,paid_on,amount\nP1,L-CALL,2026-11-25,3100.00\n"
    )
    assert main(["import", str(paid), "--as-of", DAY.isoformat()]) == 0
    assert main(["cob", "--as-of", DAY.isoformat()]) == 0
    call = db.rows(
        "SELECT o.status, o.reasons FROM outbox o JOIN loans l ON l.id = o.loan_id "
        "WHERE l.loan_ref = 'L-CALL'"
    )
    assert call == [("cancelled", "not_planned")]

    capsys.readouterr()
    assert main(["plan", "--dry-run", "--for", "2026-11-24"]) == 2
    assert "close of business has run for 2026-11-25" in capsys.readouterr().err


def test_us_calls_leave_only_the_limited_content_voicemail(
    portfolio: Path, db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARREARS_COMPLIANCE_PROFILE", "us")
    assert main(["cob", "--as-of", DAY.isoformat()]) == 0
    calls = db.rows(
        "SELECT o.template, o.status FROM outbox o JOIN loans l ON l.id = o.loan_id "
        "WHERE l.loan_ref = 'L-CALL'"
    )
    assert calls == [("reminder_limited", "pending")]
    inputs = json.loads(
        db.rows(
            "SELECT d.inputs FROM guard_decisions d JOIN loans l ON l.id = d.loan_id "
            "WHERE l.loan_ref = 'L-CALL'"
        )[0][0]
    )
    assert (inputs["profile"]["name"], inputs["template"]) == ("us", "reminder_limited")


def test_a_us_call_without_a_limited_script_is_blocked(
    portfolio: Path, db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARREARS_COMPLIANCE_PROFILE", "us")
    monkeypatch.setattr("service.treatment.planner.has_template", lambda *args: False)
    assert main(["cob", "--as-of", DAY.isoformat()]) == 0
    calls = db.rows(
        "SELECT o.template, o.status, o.reasons FROM outbox o JOIN loans l ON l.id = o.loan_id "
        "WHERE l.loan_ref = 'L-CALL'"
    )
    assert calls == [("reminder", "blocked", "voicemail_not_limited")]
