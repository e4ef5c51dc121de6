"""Exports outside tools rely on (DESIGN.md §5): the accounts file of a close of business, and
the one CSV writer every export uses, safe to open in a spreadsheet."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncIterator, Iterable, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from service.db.models import Loan, LoanSnapshot, Queue, User
from service.errors import NotFound

# What a cell holds, which decides how it is written: a number is never taken for a formula,
# whatever its sign; text is.
CellKind = Literal["text", "integer", "money"]
CENT = Decimal("0.01")
# OWASP, "CSV Injection": a spreadsheet runs a cell that begins with one of these as a formula
# (or, for tab and carriage return, may strip them and run what follows). Such a text cell is
# written after a single quote, which spreadsheets show as text and do not display.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# RFC 4180: a cell with one of these is quoted. The csv module leaves a bare carriage return
# unquoted when rows end in "\n", which would split the row for whoever reads it back.
_QUOTED_IF = (",", '"', "\r", "\n")


@dataclasses.dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: CellKind = "text"


class CsvTable:
    """The CSV writer of every export: a header, then rows written by their columns' kinds
    (integers as digits, money with two decimals, text neutralised against formulas)."""

    def __init__(self, columns: Sequence[Column]) -> None:
        self.columns = tuple(columns)

    def header(self) -> str:
        return _line(column.name for column in self.columns)

    def rows(self, rows: Iterable[Sequence[Any]]) -> str:
        """The CSV text of ``rows``, each a value per column (None: an empty cell)."""
        return "".join(self._row(row) for row in rows)

    def _row(self, row: Sequence[Any]) -> str:
        return _line(
            _cell(column.kind, value) for column, value in zip(self.columns, row, strict=True)
        )


def _cell(kind: CellKind, value: Any) -> str:
    if value is None:
        return ""
    if kind == "integer":
        return str(int(value))
    if kind == "money":
        # SQLite may hand an amount back as a float from raw SQL: read it through its text.
        return str(Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP))
    text = str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def _line(cells: Iterable[str]) -> str:
    return ",".join(_quoted(cell) for cell in cells) + "\n"


def _quoted(cell: str) -> str:
    if any(mark in cell for mark in _QUOTED_IF):
        return '"' + cell.replace('"', '""') + '"'
    return cell


ACCOUNTS = CsvTable(
    (
        Column("loan_ref"),
        Column("dpd", "integer"),
        Column("bucket"),
        Column("amount_tier"),
        Column("overdue_amount", "money"),
        Column("outstanding", "money"),
        Column("penalty_accrued", "money"),
        Column("classification"),
        Column("queue"),
        Column("collector"),
    )
)
BATCH = 5_000


async def account_rows(engine: AsyncEngine, as_of: dt.date) -> AsyncIterator[str]:
    """CSV text of one row per loan snapshotted at ``as_of``, header first, streamed."""
    async with engine.connect() as conn:
        runs = await conn.scalar(
            select(func.count()).select_from(LoanSnapshot).where(LoanSnapshot.as_of == as_of)
        )
        if not runs:
            raise NotFound(
                f"no close of business for {as_of.isoformat()}; run `arrears cob --as-of "
                f"{as_of.isoformat()}` first"
            )
        query = (
            select(
                Loan.loan_ref,
                LoanSnapshot.days_past_due,
                LoanSnapshot.bucket,
                LoanSnapshot.amount_tier,
                LoanSnapshot.overdue_amount,
                LoanSnapshot.outstanding,
                LoanSnapshot.penalty_accrued,
                LoanSnapshot.risk_class,
                Queue.name,
                User.username,
            )
            .join(Loan, Loan.id == LoanSnapshot.loan_id)
            .outerjoin(Queue, Queue.id == LoanSnapshot.queue_id)
            .outerjoin(User, User.id == LoanSnapshot.collector_id)
            .where(LoanSnapshot.as_of == as_of)
            .order_by(Loan.loan_ref)
        )
        yield ACCOUNTS.header()
        result = await conn.stream(query.execution_options(yield_per=BATCH))
        async for partition in result.partitions(BATCH):
            yield ACCOUNTS.rows(partition)
