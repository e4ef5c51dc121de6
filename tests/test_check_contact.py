"""``arrears check-contact`` and ``POST /api/compliance/check``: the guard's worked examples,
answered from contact histories imported with ``attempts.csv`` (DESIGN.md §5)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from service.cli import main
from service.db.models import Role
from tests.conftest import login, make_user

BORROWERS = """\
borrower_ref,name,phone,timezone,region,sms_consent
US1,Jane Roe,+12125550100,America/New_York,NY,true
CN1,张三,13800138000,Asia/Shanghai,,true
"""
CONTACTS = """\
borrower_ref,contact_ref,name,relation,phone,debt_related
CN1,CN1-E1,李四,friend,13900139000,false
CN1,CN1-G1,王五,guarantor,13700137000,true
"""
LOANS = """\
loan_ref,borrower_ref,currency,principal,annual_rate,disbursed_on,maturity_on
L-US,US1,USD,5000.00,0.18,2026-01-05,2027-01-05
L-CN,CN1,CNY,20000.00,0.12,2026-01-05,2027-01-05
"""
ATTEMPT_HEADER = (
    "attempt_ref,loan_ref,party,phone,channel,direction,occurred_at,result,disposition\n"
)


@pytest.fixture
def drop(monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path) -> Path:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("ARREARS_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("ARREARS_LENDER_TIMEZONE", "Asia/Shanghai")
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "borrowers.csv").write_text(BORROWERS)
    (folder / "contacts.csv").write_text(CONTACTS)
    (folder / "loans.csv").write_text(LOANS)
    assert main(["import", str(folder)]) == 0
    for name in ("borrowers.csv", "contacts.csv", "loans.csv"):
        (folder / name).unlink()
    return folder


def load_attempts(folder: Path, *rows: str) -> None:
    (folder / "attempts.csv").write_text(ATTEMPT_HEADER + "".join(row + "\n" for row in rows))
    assert main(["import", str(folder)]) == 0


def check(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["check-contact", *args]) == 0
    answer: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert set(answer) == {"verdict", "reasons", "next_allowed_at"}
    return answer


def us_call(capsys: pytest.CaptureFixture[str], when: str) -> dict[str, Any]:
    return check(
        capsys, "--loan", "L-US", "--channel", "call", "--party", "debtor", "--at", when,
        "--profile", "us",
    )  # fmt: skip


def cn(capsys: pytest.CaptureFixture[str], party: str, when: str) -> dict[str, Any]:
    return check(
        capsys, "--loan", "L-CN", "--channel", "call", "--party", party, "--at", when,
        "--profile", "cn",
    )  # fmt: skip


def test_us_seven_counted_calls_in_seven_days_allow_one_on_the_eighth_day_not_two(
    drop: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    week = [
        f"A{day},L-US,debtor,+12125550100,call,outbound,2026-11-{day:02d}T10:00:00-05:00,no_answer,"
        for day in range(2, 9)
    ]
    # A busy signal never reached the number: it does not count.
    busy = "B8,L-US,debtor,+12125550100,call,outbound,2026-11-08T11:00:00-05:00,busy,"
    load_attempts(drop, *week, busy)

    assert us_call(capsys, "2026-11-08T18:00:00-05:00")["reasons"] == ["calls_in_7_days"]
    assert us_call(capsys, "2026-11-09T09:00:00-05:00") == {
        "verdict": "allow",
        "reasons": [],
        "next_allowed_at": None,
    }

    load_attempts(drop, "A9,L-US,debtor,+12125550100,call,outbound,2026-11-09T09:00:00-05:00,"
                        "no_answer,")  # fmt: skip
    second = us_call(capsys, "2026-11-09T15:00:00-05:00")
    assert second["verdict"] == "defer"
    assert second["reasons"] == ["calls_in_7_days"]
    assert second["next_allowed_at"] == "2026-11-10T08:00:01-05:00"


def test_us_a_conversation_closes_the_next_seven_days_counting_its_own_as_day_one(
    drop: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The debtor called in: an inbound conversation counts too.
    load_attempts(
        drop, "C1,L-US,debtor,+12125550100,call,inbound,2026-11-10T19:30:00-05:00,conversation,"
    )
    closed = us_call(capsys, "2026-11-16T12:00:00-05:00")
    assert closed["verdict"] == "defer"
    assert closed["reasons"] == ["conversation_in_last_7_days"]
    assert closed["next_allowed_at"] == "2026-11-17T08:00:01-05:00"
    assert us_call(capsys, "2026-11-17T08:00:01-05:00")["verdict"] == "allow"


def test_cn_a_call_at_22_05_is_deferred_to_08_00(
    drop: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    late = cn(capsys, "debtor", "2026-11-24T22:05:00+08:00")
    assert late == {
        "verdict": "defer",
        "reasons": ["outside_window"],
        "next_allowed_at": "2026-11-25T08:00:00+08:00",
    }


def test_cn_a_fourth_effective_conversation_waits_for_the_next_day(
    drop: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Two calls out that reached the debtor, and the debtor calling in: three conversations.
    load_attempts(
        drop,
        "T1,L-CN,debtor,+8613800138000,call,outbound,2026-11-24T09:00:00+08:00,conversation,",
        "T2,L-CN,debtor,+8613800138000,call,outbound,2026-11-24T10:00:00+08:00,conversation,",
        "T3,L-CN,debtor,+8613800138000,call,inbound,2026-11-24T11:00:00+08:00,conversation,",
    )
    fourth = cn(capsys, "debtor", "2026-11-24T15:00:00+08:00")
    assert fourth["verdict"] == "defer"
    assert fourth["reasons"] == ["conversations_per_day"]
    assert fourth["next_allowed_at"] == "2026-11-25T08:00:00+08:00"


def test_the_plans_calls_a_day_cap_collectors_where_the_profile_has_none(
    drop: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The source policies: up to 3 calls a day to the debtor (the built-in plan's calls.per_day).
    load_attempts(
        drop,
        *(
            f"U{n},L-CN,debtor,+8613800138000,call,outbound,2026-11-24T{9 + n:02d}:00:00+08:00,"
            "no_answer,"
            for n in range(3)
        ),
    )
    fourth = cn(capsys, "debtor", "2026-11-24T15:00:00+08:00")
    assert fourth["verdict"] == "defer"
    assert fourth["reasons"] == ["calls_per_day"]
    assert fourth["next_allowed_at"] == "2026-11-25T08:00:00+08:00"


def test_cn_an_emergency_contact_is_blocked_while_the_debtor_is_reachable(
    drop: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    answer = cn(capsys, "CN1-E1", "2026-11-24T10:00:00+08:00")
    assert answer["verdict"] == "block"
    assert answer["reasons"] == ["third_party_debtor_reachable"]
    # A guarantor may be asked to pay; a stranger never.
    assert cn(capsys, "CN1-G1", "2026-11-24T10:00:00+08:00")["verdict"] == "allow"
    # A party that is no contact of this loan is an error, not an unrelated third party.
    capsys.readouterr()
    argv = ["check-contact", "--loan", "L-CN", "--channel", "call", "--party", "someone-else",
            "--at", "2026-11-24T10:00:00+08:00", "--profile", "cn"]  # fmt: skip
    assert main(argv) == 2
    assert "no contact 'someone-else' for loan L-CN" in capsys.readouterr().err


def test_check_contact_refuses_bad_input_clearly(
    drop: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["check-contact", "--channel", "call", "--party", "debtor"]
    assert main([*base, "--loan", "NOPE", "--at", "2026-11-24T10:00:00+08:00"]) == 2
    assert "loan 'NOPE' not found" in capsys.readouterr().err
    assert main([*base, "--loan", "L-CN", "--at", "2026-11-24T10:00:00"]) == 2
    assert "offset" in capsys.readouterr().err
    assert main([*base, "--loan", "L-CN", "--at", "tomorrow"]) == 2
    assert "ISO 8601" in capsys.readouterr().err


async def test_the_api_gives_the_same_verdict_and_keeps_collectors_to_their_accounts(
    drop: Path, client: TestClient[Any, Any], engine: Any
) -> None:
    await make_user(engine, "sup", Role.supervisor)
    await make_user(engine, "col", Role.collector)
    body = {
        "loan_ref": "L-CN",
        "channel": "call",
        "party": "debtor",
        "at": "2026-11-24T22:05:00+08:00",
        "profile": "cn",
    }

    supervisor = {"Authorization": f"Bearer {await login(client, 'sup')}"}
    response = await client.post("/api/compliance/check", json=body, headers=supervisor)
    assert response.status == 200
    assert await response.json() == {
        "verdict": "defer",
        "reasons": ["outside_window"],
        "next_allowed_at": "2026-11-25T08:00:00+08:00",
    }

    collector = {"Authorization": f"Bearer {await login(client, 'col')}"}
    response = await client.post("/api/compliance/check", json=body, headers=collector)
    assert response.status == 404  # not one of their accounts: as if it did not exist

    response = await client.post(
        "/api/compliance/check", json={**body, "channel": "fax"}, headers=supervisor
    )
    assert response.status == 422
    response = await client.post("/api/compliance/check", data="{", headers=supervisor)
    assert response.status == 400


def test_holds_are_judged_on_the_debtors_date(
    drop: Path, capsys: pytest.CaptureFixture[str], database_url: str
) -> None:
    import asyncio
    import datetime as dt

    from sqlalchemy import insert, text

    from service.db.engine import create_engine
    from service.db.models import Hold
    from service.settings import Settings

    async def dispute_from_the_25th() -> None:
        engine = create_engine(Settings(database_url=database_url))
        try:
            async with engine.begin() as conn:
                borrower = await conn.scalar(
                    text("SELECT id FROM borrowers WHERE borrower_ref = 'CN1'")
                )
                await conn.execute(
                    insert(Hold).values(
                        borrower_id=borrower,
                        code="dispute",
                        started_on=dt.date(2026, 11, 25),
                        created_by="supervisor",
                    )
                )
        finally:
            await engine.dispose()

    asyncio.run(dispute_from_the_25th())
    # 17:00 UTC on the 24th is 01:00 on the 25th in Shanghai, when the dispute holds.
    late = cn(capsys, "debtor", "2026-11-24T17:00:00+00:00")
    assert late["verdict"] == "block"
    assert "hold_dispute" in late["reasons"]
    assert cn(capsys, "debtor", "2026-11-24T10:00:00+08:00")["verdict"] == "allow"


def test_cn_dials_to_a_shared_number_about_someone_else_count_for_that_number(
    drop: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (drop / "borrowers.csv").write_text(
        "borrower_ref,name,phone,timezone\nCN2,张三的家人,13800138000,Asia/Shanghai\n"
    )
    (drop / "loans.csv").write_text(
        "loan_ref,borrower_ref,currency,principal,annual_rate,disbursed_on,maturity_on\n"
        "L-CN2,CN2,CNY,1000.00,0.12,2026-01-05,2027-01-05\n"
    )
    assert main(["import", str(drop)]) == 0
    (drop / "borrowers.csv").unlink()
    (drop / "loans.csv").unlink()
    load_attempts(
        drop,
        *(
            f"S{n},L-CN2,debtor,+8613800138000,call,outbound,2026-11-24T09:{10 * n:02d}:00+08:00,"
            "no_answer,"
            for n in range(6)
        ),
    )
    answer = cn(capsys, "debtor", "2026-11-24T14:00:00+08:00")
    assert answer["reasons"] == ["unanswered_per_number"]
    assert answer["next_allowed_at"] == "2026-11-25T08:00:00+08:00"
