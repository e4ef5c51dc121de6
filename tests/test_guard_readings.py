"""The guard reads DESIGN.md §3 exactly, through the stored contact log: once per person across
the debtor's debts (US), every number tried and reachability judged live (失联), as known then,
odd facts answered without a traceback."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from service.cli import main
from service.contact.checks import load_facts
from service.db.models import Promise, PromiseStatus, Role
from service.settings import Settings
from tests.conftest import Db, login, make_user

BORROWERS = """\
borrower_ref,name,phone,alt_phones,timezone,region,sms_consent
US1,Jane Roe,+12125550100,,America/New_York,NY,true
CN1,张三,13800138000,13800138011,Asia/Shanghai,,true
"""
CONTACTS = """\
borrower_ref,contact_ref,name,relation,phone,debt_related
US1,US1-N,John Doe,neighbour,+12125550199,false
CN1,CN1-E1,李四,friend,13900139000,false
"""
LOANS = """\
loan_ref,borrower_ref,currency,principal,annual_rate,disbursed_on,maturity_on
L-US-A,US1,USD,5000.00,0.00,2026-01-05,2027-01-05
L-US-B,US1,USD,900.00,0.00,2026-03-05,2027-03-05
L-CN,CN1,CNY,20000.00,0.00,2026-01-05,2027-01-05
"""
INSTALLMENTS = """\
loan_ref,seq,due_on,principal_due,interest_due
L-US-A,1,2027-01-05,5000.00,0.00
L-US-B,1,2027-03-05,900.00,0.00
L-CN,1,2026-11-01,10000.00,0.00
L-CN,2,2027-01-05,10000.00,0.00
"""
ATTEMPT_HEADER = (
    "attempt_ref,loan_ref,party,phone,channel,direction,occurred_at,result,disposition\n"
)
# No answer on the main number three days running, 21-23 November (Shanghai).
MAIN_NUMBER_DIALLED = tuple(
    f"M{day},L-CN,debtor,13800138000,call,outbound,2026-11-{day}T10:00:00+08:00,no_answer,"
    for day in (21, 22, 23)
)
ALT_NUMBER_DIALLED = tuple(
    f"A{day},L-CN,debtor,13800138011,call,outbound,2026-11-{day}T11:00:00+08:00,no_answer,"
    for day in (21, 22, 23)
)


@pytest.fixture
def drop(monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path) -> Path:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("ARREARS_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("ARREARS_LENDER_TIMEZONE", "Asia/Shanghai")
    folder = tmp_path / "drop"
    folder.mkdir()
    files = {
        "borrowers.csv": BORROWERS,
        "contacts.csv": CONTACTS,
        "loans.csv": LOANS,
        "installments.csv": INSTALLMENTS,
    }
    for name, body in files.items():
        (folder / name).write_text(body)
    # Positioned as of the 24th, the night before the examples' day.
    assert main(["import", str(folder), "--as-of", "2026-11-24"]) == 0
    for name in files:
        (folder / name).unlink()
    return folder


def load_attempts(folder: Path, *rows: str) -> None:
    (folder / "attempts.csv").write_text(ATTEMPT_HEADER + "".join(row + "\n" for row in rows))
    assert main(["import", str(folder)]) == 0


def check(
    capsys: pytest.CaptureFixture[str], loan: str, party: str, when: str, profile: str
) -> dict[str, Any]:
    capsys.readouterr()
    argv = ["check-contact", "--loan", loan, "--channel", "call", "--party", party, "--at", when,
            "--profile", profile]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    answer: dict[str, Any] = json.loads(capsys.readouterr().out)
    return answer


def emergency(capsys: pytest.CaptureFixture[str], when: str) -> dict[str, Any]:
    return check(capsys, "L-CN", "CN1-E1", when, "cn")


# --- 1. US: a third party once per person, whatever the debt ---------------------------------


def test_us_a_location_contact_about_one_debt_counts_for_every_debt_of_the_debtor(
    drop: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = check(capsys, "L-US-B", "US1-N", "2026-11-24T10:00:00-05:00", "us")
    assert first["verdict"] == "allow"
    load_attempts(
        drop,
        "N1,L-US-A,US1-N,+12125550199,call,outbound,2026-11-20T10:00:00-05:00,conversation,",
    )
    again = check(capsys, "L-US-B", "US1-N", "2026-11-24T10:00:00-05:00", "us")
    assert again["verdict"] == "block"
    assert again["reasons"] == ["third_party_once"]
    # Before that contact was made, it did not count.
    earlier = check(capsys, "L-US-B", "US1-N", "2026-11-19T10:00:00-05:00", "us")
    assert earlier["verdict"] == "allow"


# --- 2. 失联: every number tried; reachability live -------------------------------------------


def test_cn_the_debtor_is_lost_only_when_every_known_number_was_tried(
    drop: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    load_attempts(drop, *MAIN_NUMBER_DIALLED)
    # The second number was never dialled: the debtor may still be reached on it.
    untried = emergency(capsys, "2026-11-24T10:00:00+08:00")
    assert untried["verdict"] == "block"
    assert untried["reasons"] == ["third_party_debtor_reachable"]

    load_attempts(drop, *ALT_NUMBER_DIALLED)
    assert emergency(capsys, "2026-11-24T10:00:00+08:00")["verdict"] == "allow"


def test_cn_a_conversation_this_morning_blocks_the_emergency_contact_this_afternoon(
    drop: Path, capsys: pytest.CaptureFixture[str], db: Db
) -> None:
    load_attempts(drop, *MAIN_NUMBER_DIALLED, *ALT_NUMBER_DIALLED)
    assert main(["cob", "--as-of", "2026-11-24"]) == 0
    lost = db.rows("SELECT lost_contact_on FROM loans WHERE loan_ref = 'L-CN'")
    assert str(lost[0][0]) == "2026-11-24"
    assert emergency(capsys, "2026-11-24T08:30:00+08:00")["verdict"] == "allow"

    load_attempts(
        drop,
        "T1,L-CN,debtor,13800138000,call,inbound,2026-11-24T09:00:00+08:00,conversation,",
    )
    # No close of business since: the contact log as it stands decides.
    assert db.rows("SELECT lost_contact_on FROM loans WHERE loan_ref = 'L-CN'") == lost
    afternoon = emergency(capsys, "2026-11-24T15:00:00+08:00")
    assert afternoon["verdict"] == "block"
    assert afternoon["reasons"] == ["third_party_debtor_reachable"]
    # As known at 08:30 that morning, the debtor was still lost.
    assert emergency(capsys, "2026-11-24T08:30:00+08:00")["verdict"] == "allow"


# --- 5. As of means as known then --------------------------------------------------------------


def test_a_back_filled_night_ignores_calls_made_after_it(
    drop: Path, capsys: pytest.CaptureFixture[str], db: Db
) -> None:
    load_attempts(
        drop,
        *MAIN_NUMBER_DIALLED,
        *ALT_NUMBER_DIALLED,
        # The debtor called back later that day, after the 24th's close of business.
        "T1,L-CN,debtor,13800138000,call,inbound,2026-11-24T09:00:00+08:00,conversation,",
    )
    assert main(["cob", "--as-of", "2026-11-24"]) == 0
    rows = db.rows("SELECT lost_contact_on, days_past_due FROM loans WHERE loan_ref = 'L-CN'")
    assert (str(rows[0][0]), rows[0][1]) == ("2026-11-24", 23)
    # The next night knows of the conversation.
    assert main(["cob", "--as-of", "2026-11-25"]) == 0
    rows = db.rows("SELECT lost_contact_on, days_past_due FROM loans WHERE loan_ref = 'L-CN'")
    assert (rows[0][0], rows[0][1]) == (None, 24)


def test_a_night_before_the_loans_own_positions_writes_snapshots_only(
    monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path, db: Db
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("ARREARS_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("ARREARS_LENDER_TIMEZONE", "Asia/Shanghai")
    folder = tmp_path / "drop"
    folder.mkdir()
    for name, body in (("borrowers.csv", BORROWERS), ("loans.csv", LOANS),
                       ("installments.csv", INSTALLMENTS)):  # fmt: skip
        (folder / name).write_text(body)
    (folder / "attempts.csv").write_text(
        ATTEMPT_HEADER + "".join(row + "\n" for row in MAIN_NUMBER_DIALLED + ALT_NUMBER_DIALLED)
    )
    # Imported as of the 30th: the loans stand at DPD 29.
    assert main(["import", str(folder), "--as-of", "2026-11-30"]) == 0
    assert main(["cob", "--as-of", "2026-11-24"]) == 0
    snapshot = db.rows(
        "SELECT s.days_past_due FROM loan_snapshots s JOIN loans l ON l.id = s.loan_id "
        "WHERE l.loan_ref = 'L-CN' AND s.as_of = '2026-11-24'"
    )
    assert snapshot == [(23,)]
    # The 30th's positions are not the 24th's: nothing is marked, assigned or planned from them.
    rows = db.rows("SELECT lost_contact_on, days_past_due FROM loans WHERE loan_ref = 'L-CN'")
    assert [tuple(row) for row in rows] == [(None, 29)]
    assert db.rows("SELECT count(*) FROM outbox") == [(0,)]


# --- 7. Odd facts: a clear error, never a traceback -------------------------------------------


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+08:00", "9999-12-31T23:59:59+08:00"])
def test_check_contact_refuses_a_year_no_calendar_reasons_about(
    drop: Path, capsys: pytest.CaptureFixture[str], when: str
) -> None:
    capsys.readouterr()
    argv = ["check-contact", "--loan", "L-CN", "--channel", "call", "--party", "debtor",
            "--at", when]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "is out of range: years 1900 to 2999" in err
    assert "Traceback" not in err


def test_check_contact_reads_the_party_debtor_in_any_case(
    drop: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lower = check(capsys, "L-CN", "debtor", "2026-11-24T10:00:00+08:00", "cn")
    assert check(capsys, "L-CN", "DEBTOR", "2026-11-24T10:00:00+08:00", "cn") == lower
    assert lower["verdict"] == "allow"


async def test_the_api_refuses_far_years_and_strangers_clearly(
    drop: Path, client: TestClient[Any, Any], engine: Any
) -> None:
    await make_user(engine, "sup", Role.supervisor)
    headers = {"Authorization": f"Bearer {await login(client, 'sup')}"}
    body = {"loan_ref": "L-CN", "channel": "call", "party": "debtor", "profile": "cn"}
    for when in ("0001-01-01T00:00:00+08:00", "9999-12-31T23:59:59+08:00"):
        response = await client.post(
            "/api/compliance/check", json={**body, "at": when}, headers=headers
        )
        assert response.status == 422, await response.text()
        assert (await response.json())["error"]["code"] == "validation_failed"
    response = await client.post(
        "/api/compliance/check",
        json={**body, "party": "nobody", "at": "2026-11-24T10:00:00+08:00"},
        headers=headers,
    )
    assert response.status == 404
    assert "no contact 'nobody' for loan L-CN" in (await response.json())["error"]["message"]


def test_a_check_in_the_past_knows_only_the_promises_and_lost_contact_of_then(
    drop: Path, db: Db, settings: Settings
) -> None:
    async def facts_at(engine: AsyncEngine) -> list[tuple[dt.date | None, dt.date | None]]:
        async with engine.begin() as conn:
            loan = await conn.scalar(text("SELECT id FROM loans WHERE loan_ref = 'L-CN'"))
            await conn.execute(
                insert(Promise).values(
                    loan_id=loan,
                    amount="500.00",
                    promised_on=dt.date(2026, 11, 30),
                    status=PromiseStatus.pending,
                    source="collector",
                    created_at=dt.datetime(2026, 11, 24, 12, tzinfo=dt.UTC),
                    updated_at=dt.datetime(2026, 11, 24, 12, tzinfo=dt.UTC),
                )
            )
            await conn.execute(
                text("UPDATE loans SET lost_contact_on = '2026-11-25' WHERE id = :id"),
                {"id": loan},
            )
            seen = []
            for when in ("2026-11-24T10:00:00+08:00", "2026-11-26T10:00:00+08:00"):
                facts = await load_facts(
                    conn, settings, loan_ref="L-CN", party_ref="debtor", channel="call",
                    at=dt.datetime.fromisoformat(when),
                )  # fmt: skip
                seen.append((facts.promise_until, facts.lost_contact_on))
            return seen

    before, after = db.run(facts_at)
    assert before == (None, None)
    assert after == (dt.date(2026, 12, 3), dt.date(2026, 11, 25))  # the promise plus 3 days' grace


def test_calls_about_someone_else_on_the_debtor_s_number_do_not_make_them_lost(
    drop: Path, db: Db
) -> None:
    # A relative's loan on the debtor's second number (a shared landline).
    (drop / "borrowers.csv").write_text(
        "borrower_ref,name,phone,timezone\nCN3,张三的母亲,13800138011,Asia/Shanghai\n"
    )
    (drop / "loans.csv").write_text(
        "loan_ref,borrower_ref,currency,principal,annual_rate,disbursed_on,maturity_on\n"
        "L-CN3,CN3,CNY,1000.00,0.00,2026-01-05,2027-01-05\n"
    )
    assert main(["import", str(drop), "--as-of", "2026-11-24"]) == 0
    for name in ("borrowers.csv", "loans.csv"):
        (drop / name).unlink()
    relative = tuple(row.replace("L-CN,", "L-CN3,") for row in ALT_NUMBER_DIALLED)
    load_attempts(drop, *MAIN_NUMBER_DIALLED, *relative)
    assert main(["cob", "--as-of", "2026-11-24"]) == 0
    # The debtor's second number was never dialled about their own debt: not 失联.
    assert db.rows("SELECT lost_contact_on FROM loans WHERE loan_ref = 'L-CN'") == [(None,)]
