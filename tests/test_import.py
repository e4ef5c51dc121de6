"""Portfolio import (DESIGN.md §5): idempotent upsert, bad rows reported, nothing lost."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from service.db.models import (
    Attempt,
    AuditEvent,
    Borrower,
    Contact,
    Installment,
    Loan,
    Payment,
    PhoneNumber,
)
from service.devtools.demo import write_demo_portfolio
from service.ingest.pipeline import ImportOptions, import_directory
from tests.conftest import table_rows

DOMAIN_TABLES = (
    "borrowers",
    "phone_numbers",
    "contacts",
    "loans",
    "installments",
    "payments",
    "attempts",
)
BORROWERS_HEADER = "borrower_ref,name,phone,alt_phones,timezone,locale,region,address,sms_consent\n"
LOANS_HEADER = (
    "loan_ref,borrower_ref,product,currency,principal,annual_rate,penalty_rate_daily,"
    "disbursed_on,maturity_on\n"
)


def write(directory: Path, name: str, content: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(content, encoding="utf-8")


async def run_import(engine: AsyncEngine, directory: Path):  # type: ignore[no-untyped-def]
    return await import_directory(engine, directory, ImportOptions(default_region="CN"))


async def test_importing_the_same_directory_twice_leaves_identical_data(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    demo = tmp_path / "demo"
    write_demo_portfolio(demo, borrowers=300, as_of=dt.date(2026, 11, 24))
    first = await run_import(engine, demo)
    assert first.status == "completed"
    assert first.error_count == 0
    before = {table: await table_rows(engine, table) for table in DOMAIN_TABLES}
    assert len(before["loans"]) > 300
    assert len(before["installments"]) > 1000

    second = await run_import(engine, demo)

    assert second.status == "completed"
    assert all(report.inserted == 0 and report.updated == 0 for report in second.files)
    assert sum(report.unchanged for report in second.files) == sum(
        len(rows) for table, rows in before.items() if table != "phone_numbers"
    )
    after = {table: await table_rows(engine, table) for table in DOMAIN_TABLES}
    assert after == before


def _loans_csv(count: int) -> str:
    lines = [LOANS_HEADER]
    for n in range(1, count + 1):
        lines.append(f"L{n:04d},B1,cash,CNY,{1000 + n}.50,0.12,0.0005,2026-01-05,2026-07-05\n")
    return "".join(lines)


async def test_thousand_loans_with_three_malformed_rows_store_997_and_report_those_lines(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    write(tmp_path, "borrowers.csv", BORROWERS_HEADER + "B1,张三,13800138000,,,zh-CN,CN-GD,,true\n")
    rows = _loans_csv(1000).splitlines(keepends=True)
    # Line numbers count the header as line 1, so data row n sits on line n + 1.
    rows[101] = "L0101,B1,cash,CNY,1101.50,0.12,0.0005,2026-02-30,2026-07-05\n"
    rows[501] = "L0501,B1,cash,CNY,-500.00,0.12,0.0005,2026-01-05,2026-07-05\n"
    rows[901] = "L0901,B404,cash,CNY,1901.50,0.12,0.0005,2026-01-05,2026-07-05\n"
    write(tmp_path, "loans.csv", "".join(rows))

    report = await run_import(engine, tmp_path)

    loans = next(r for r in report.files if r.file == "loans.csv")
    assert (loans.rows, loans.stored, loans.rejected) == (1000, 997, 3)
    assert report.error_count == 3
    problems = [(e.file, e.line, e.column) for e in report.errors]
    assert problems == [
        ("loans.csv", 102, "disbursed_on"),
        ("loans.csv", 502, "principal"),
        ("loans.csv", 902, "borrower_ref"),
    ]
    reasons = [e.reason for e in report.errors]
    assert "2026-02-30" in reasons[0]
    assert "positive" in reasons[1]
    assert reasons[2] == "unknown borrower_ref 'B404'"
    async with engine.connect() as conn:
        stored = set((await conn.execute(select(Loan.loan_ref))).scalars())
    assert len(stored) == 997
    assert {"L0101", "L0501", "L0901"}.isdisjoint(stored)


async def test_a_bad_row_for_a_stored_loan_loses_nothing(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    write(tmp_path, "borrowers.csv", BORROWERS_HEADER + "B1,张三,13800138000,,,zh-CN,CN-GD,,true\n")
    write(tmp_path, "loans.csv", _loans_csv(3))
    await run_import(engine, tmp_path)
    before = await table_rows(engine, "loans")

    write(
        tmp_path,
        "loans.csv",
        LOANS_HEADER + "L0001,B1,cash,CNY,not-money,0.12,,2026-01-05,2026-07-05\n",
    )
    (tmp_path / "borrowers.csv").unlink()
    report = await run_import(engine, tmp_path)

    assert report.errors[0].column == "principal"
    assert await table_rows(engine, "loans") == before


async def test_changed_values_update_and_are_counted(engine: AsyncEngine, tmp_path: Path) -> None:
    write(tmp_path, "borrowers.csv", BORROWERS_HEADER + "B1,张三,13800138000,,,zh-CN,CN-GD,,true\n")
    write(tmp_path, "loans.csv", _loans_csv(3))
    await run_import(engine, tmp_path)
    write(tmp_path, "loans.csv", _loans_csv(3).replace("1002.50", "2002.50"))

    report = await run_import(engine, tmp_path)

    loans = next(r for r in report.files if r.file == "loans.csv")
    assert (loans.inserted, loans.updated, loans.unchanged) == (0, 1, 2)
    async with engine.connect() as conn:
        principal = await conn.scalar(select(Loan.principal).where(Loan.loan_ref == "L0002"))
    assert principal == Decimal("2002.50")


async def test_phones_are_normalised_and_zones_inferred(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    write(
        tmp_path,
        "borrowers.csv",
        BORROWERS_HEADER
        + "B1,张三,138 0013 8000,+86 139-0013-9000;13800138000,,zh-CN,CN-GD,广州,true\n"
        + "B2,Ann Lee,(907) 555-0123,,,en,US-AK,Anchorage,false\n"
        + "B3,Bo Diaz,212-555-0100,,America/Chicago,en,US-NY,NYC,no\n"
        + "B4,固话,020 8765 4321,,,zh-CN,CN-GD,,true\n"
        + "B5,No Phone,,,,en,US,,false\n",
    )

    report = await run_import(engine, tmp_path)

    assert report.error_count == 0
    async with engine.connect() as conn:
        borrowers = {row.borrower_ref: row for row in (await conn.execute(select(Borrower))).all()}
        phones = (
            await conn.execute(
                select(
                    Borrower.borrower_ref, PhoneNumber.e164, PhoneNumber.kind, PhoneNumber.line_type
                )
                .join(Borrower)
                .order_by(PhoneNumber.id)
            )
        ).all()
    assert [(p.borrower_ref, p.e164, p.kind, p.line_type) for p in phones] == [
        ("B1", "+8613800138000", "primary", "mobile"),
        ("B1", "+8613900139000", "alt", "mobile"),
        ("B2", "+19075550123", "primary", "fixed_line_or_mobile"),
        ("B3", "+12125550100", "primary", "fixed_line_or_mobile"),
        ("B4", "+862087654321", "primary", "fixed_line"),
    ]
    assert (borrowers["B1"].timezone, borrowers["B1"].timezone_source) == ("Asia/Shanghai", "phone")
    assert borrowers["B2"].timezone is None
    assert borrowers["B2"].timezone_source == "ambiguous"
    assert borrowers["B2"].timezone_candidates == "America/Adak;America/Anchorage"
    # A Chicago zone on file, a New York number: the evidence disagrees (DESIGN.md §3), so the
    # zone is ambiguous and only the hours open in both pass.
    assert (borrowers["B3"].timezone, borrowers["B3"].timezone_source) == (None, "ambiguous")
    assert borrowers["B3"].timezone_candidates == "America/Chicago;America/New_York"
    assert borrowers["B5"].timezone_source == "unknown"
    assert borrowers["B1"].sms_consent is True
    assert borrowers["B3"].sms_consent is False


async def test_a_number_no_longer_listed_is_kept_as_former(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    write(tmp_path, "borrowers.csv", BORROWERS_HEADER + "B1,张三,13800138000,13900139000,,,,,\n")
    await run_import(engine, tmp_path)
    write(tmp_path, "borrowers.csv", BORROWERS_HEADER + "B1,张三,13900139000,,,,,,\n")

    await run_import(engine, tmp_path)

    async with engine.connect() as conn:
        kinds = dict((await conn.execute(select(PhoneNumber.e164, PhoneNumber.kind))).all())
    assert kinds == {"+8613800138000": "former", "+8613900139000": "primary"}


async def test_file_level_problems_are_reported_and_store_nothing(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    write(tmp_path, "loans.csv", "loan_ref,borrower_ref,currency\nL1,B1,CNY\n")
    report = await run_import(engine, tmp_path)
    assert report.status == "completed"
    assert {(e.line, e.column) for e in report.errors} == {
        (1, "annual_rate"),
        (1, "disbursed_on"),
        (1, "maturity_on"),
        (1, "principal"),
    }
    assert all(e.reason == "required column missing from header" for e in report.errors)
    assert await table_rows(engine, "loans") == []


async def test_row_shape_encoding_and_duplicates_are_reported_per_line(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    body = (
        (
            BORROWERS_HEADER
            + "B1,张三,13800138000,,,zh-CN,CN-GD,,true\n"
            + "B2,too,few\n"
            + "B1,again,13800138001,,,zh-CN,CN-GD,,true\n"
        ).encode()
        + b"B3,\xff\xfe,13800138002,,,zh-CN,CN-GD,,true\n"
        + ("B4,李四,13800138003,,Mars/Olympus,zh-CN,CN-GD,,maybe\n").encode()
    )
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "borrowers.csv").write_bytes(body)

    report = await run_import(engine, tmp_path)

    got = [(e.line, e.column, e.reason) for e in report.errors]
    assert got[0] == (3, "*", "expected 9 fields, found 3")
    assert got[1] == (4, "borrower_ref", "duplicate borrower_ref B1 (first at line 2)")
    assert got[2] == (5, "*", "text is not valid UTF-8")
    assert {(line, column) for line, column, _ in got[3:]} == {(6, "timezone"), (6, "sms_consent")}
    async with engine.connect() as conn:
        names = dict((await conn.execute(select(Borrower.borrower_ref, Borrower.name))).all())
    assert names == {"B1": "张三"}


async def test_contacts_payments_and_attempts_resolve_their_references(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    write(
        tmp_path,
        "borrowers.csv",
        BORROWERS_HEADER
        + "B1,张三,13800138000,,,zh-CN,CN-GD,,true\n"
        + "B2,李四,13800138009,,,zh-CN,CN-GD,,true\n",
    )
    write(
        tmp_path,
        "contacts.csv",
        "borrower_ref,contact_ref,name,relation,phone,debt_related\n"
        "B1,C1,王五,保证人,13700137000,true\n"
        "B2,C2,赵六,朋友,13700137001,false\n"
        "B9,C3,x,朋友,13700137002,false\n",
    )
    write(tmp_path, "loans.csv", LOANS_HEADER + "L1,B1,cash,CNY,1000,0.12,,2026-01-01,2026-06-01\n")
    write(
        tmp_path,
        "installments.csv",
        "loan_ref,seq,due_on,principal_due,interest_due\n"
        "L1,1,2026-02-01,500.00,10.00\nL1,2,2026-03-01,500.00,5.00\nL9,1,2026-02-01,1.00,0\n",
    )
    write(
        tmp_path,
        "payments.csv",
        "payment_ref,loan_ref,paid_on,amount\nP1,L1,2026-02-01,510.00\nP2,L1,2026-03-02,0\n",
    )
    write(
        tmp_path,
        "attempts.csv",
        "attempt_ref,loan_ref,party,phone,channel,direction,occurred_at,result,disposition\n"
        "A1,L1,debtor,13800138000,call,outbound,2026-03-05T10:00:00+08:00,conversation,promise_to_pay\n"
        "A2,L1,C1,13700137000,call,outbound,2026-03-05T11:00:00+08:00,no_answer,\n"
        "A3,L1,C2,13700137001,call,outbound,2026-03-05T11:00:00+08:00,no_answer,\n"
        "A4,L1,debtor,13800138000,sms,outbound,2026-03-05 12:00:00,delivered,\n",
    )

    report = await run_import(engine, tmp_path)

    got = {(e.file, e.line, e.column) for e in report.errors}
    assert got == {
        ("contacts.csv", 4, "borrower_ref"),
        ("installments.csv", 4, "loan_ref"),
        ("payments.csv", 3, "amount"),
        ("attempts.csv", 4, "party"),
        ("attempts.csv", 5, "occurred_at"),
    }
    async with engine.connect() as conn:
        assert len((await conn.execute(select(Contact))).all()) == 2
        assert len((await conn.execute(select(Installment))).all()) == 2
        payment = (await conn.execute(select(Payment))).one()
        attempts = (await conn.execute(select(Attempt).order_by(Attempt.attempt_ref))).all()
    assert payment.amount == Decimal("510.00")
    assert [(a.attempt_ref, a.contact_id is None) for a in attempts] == [
        ("A1", True),
        ("A2", False),
    ]
    assert attempts[0].occurred_at == dt.datetime(2026, 3, 5, 2, 0, tzinfo=dt.UTC)
    assert attempts[0].phone == "+8613800138000"


async def test_an_empty_directory_is_refused(engine: AsyncEngine, tmp_path: Path) -> None:
    from service.errors import InputError

    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InputError, match="no import files"):
        await run_import(engine, tmp_path)


async def test_a_database_failure_fails_the_run_and_keeps_the_files_already_imported(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.ingest import pipeline

    write(tmp_path, "borrowers.csv", BORROWERS_HEADER + "B1,张三,13800138000,,,zh-CN,CN-GD,,true\n")
    write(tmp_path, "loans.csv", _loans_csv(2))
    write(
        tmp_path,
        "installments.csv",
        "loan_ref,seq,due_on,principal_due,interest_due\nL0001,1,2026-02-05,500.00,10.00\n"
        "L0001,x,2026-03-05,500.00,5.00\n",
    )
    from service.ingest.upsert import upsert as real_upsert

    async def failing_upsert(conn, spec, now):  # type: ignore[no-untyped-def]
        if spec.file == "installments.csv":
            raise RuntimeError("disk full")
        return await real_upsert(conn, spec, now)

    monkeypatch.setattr(pipeline, "upsert", failing_upsert)

    report = await run_import(engine, tmp_path)

    assert report.status == "failed"
    assert report.failure == "RuntimeError: disk full"
    assert [r.file for r in report.files] == ["borrowers.csv", "loans.csv"]
    assert report.error_count == 0  # the failed file's row errors went with its transaction
    assert len(await table_rows(engine, "loans")) == 2
    assert await table_rows(engine, "installments") == []
    async with engine.connect() as conn:
        actions = (await conn.execute(select(AuditEvent.action))).scalars().all()
    # Each committed file has its event; the failed one's went with its transaction.
    assert actions == ["import.file_committed", "import.file_committed", "import.failed"]
