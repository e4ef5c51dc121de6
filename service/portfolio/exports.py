"""Exports outside tools rely on (DESIGN.md §5): the accounts file of a close of business, and
the one CSV writer every export uses, safe to open in a spreadsheet."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import aliased

from service.db.models import CobRun, Loan, LoanSnapshot, LoanStatus, Queue, User
from service.domain.delinquency import BucketScheme
from service.errors import NotFound

# What a cell holds, which decides how it is written: a number is never taken for a formula,
# whatever its sign; text is.
CellKind = Literal["text", "integer", "money", "phone"]
# A phone number in E.164 ("+" and digits): written as it is — a spreadsheet can only read it
# as a number, never as a formula that does something. Anything else in a phone column is text.
E164 = re.compile(r"\+[1-9][0-9]{1,14}")
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
    if kind == "phone" and E164.fullmatch(text):
        return text
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def _line(cells: Iterable[str]) -> str:
    return ",".join(_quoted(cell) for cell in cells) + "\n"


def _quoted(cell: str) -> str:
    if any(mark in cell for mark in _QUOTED_IF):
        return '"' + cell.replace('"', '""') + '"'
    return cell


class AccountStatus(enum.StrEnum):
    """A loan's status in the accounts file (DESIGN.md §5)."""

    open = "open"
    closed = "closed"
    written_off = "written_off"


def account_status(status: str, closed_on: dt.date | None, as_of: dt.date) -> AccountStatus:
    """A loan's status on ``as_of``: open until the day it was closed (or written off), that
    status from that day on, whatever it became later."""
    if status != LoanStatus.open and closed_on is not None and closed_on <= as_of:
        return AccountStatus(status)
    return AccountStatus.open


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
        Column("status"),
    )
)
BATCH = 5_000
NOT_OVERDUE = BucketScheme().bucket(0)  # M0 in every scheme

# The snapshots a row reads: the date's, and for a loan that ended before it, its last one —
# the night its end was found (its state date), else the last close of business up to the day
# it ended (a loan is in every close of business until then).
_on_day = aliased(LoanSnapshot, name="on_day")
_at_state = aliased(LoanSnapshot, name="at_state")
_at_end = aliased(LoanSnapshot, name="at_end")


def _last_known(column: str) -> Any:
    """An ended loan's ``column`` as of its last snapshot, or its current row without one."""
    return case(
        (_at_state.loan_id.is_not(None), getattr(_at_state, column)),
        (_at_end.loan_id.is_not(None), getattr(_at_end, column)),
        else_=getattr(Loan, column),
    )


async def account_rows(engine: AsyncEngine, as_of: dt.date) -> AsyncIterator[str]:
    """CSV text of one row per loan known on ``as_of`` (disbursed by then), header first,
    streamed: the date's close of business for the loans it positioned, and the loans closed or
    written off before it with their status, nothing owed, and their last known tier, class,
    queue and collector. Raises NotFound when no close of business ran for ``as_of``."""
    async with engine.connect() as conn:
        ran = await conn.scalar(select(CobRun.id).where(CobRun.as_of == as_of).limit(1))
        if ran is None:
            raise NotFound(
                f"no close of business for {as_of.isoformat()}; run `arrears cob --as-of "
                f"{as_of.isoformat()}` first"
            )
        queue_names = {id_: name for id_, name in await conn.execute(select(Queue.id, Queue.name))}
        usernames = {id_: name for id_, name in await conn.execute(select(User.id, User.username))}
        # The last close of business up to each day a loan ended on (few days, few runs).
        end_days = select(Loan.closed_on.label("day")).where(Loan.closed_on < as_of).distinct()
        ends = end_days.subquery("ends")
        end_cob = (
            select(ends.c.day, func.max(CobRun.as_of).label("cob_on"))
            .join(CobRun, CobRun.as_of <= ends.c.day)
            .group_by(ends.c.day)
            .subquery("end_cob")
        )
        query = (
            select(
                Loan.loan_ref,
                Loan.status,
                Loan.closed_on,
                _on_day.loan_id.label("positioned"),
                _on_day.days_past_due,
                _on_day.bucket,
                _on_day.amount_tier,
                _on_day.overdue_amount,
                _on_day.outstanding,
                _on_day.penalty_accrued,
                _on_day.risk_class,
                _on_day.queue_id,
                _on_day.collector_id,
                _last_known("amount_tier").label("last_tier"),
                _last_known("risk_class").label("last_class"),
                _last_known("queue_id").label("last_queue_id"),
                _last_known("collector_id").label("last_collector_id"),
            )
            .outerjoin(_on_day, and_(_on_day.as_of == as_of, _on_day.loan_id == Loan.id))
            .outerjoin(
                _at_state,
                and_(
                    Loan.closed_on < as_of,
                    _at_state.as_of == Loan.state_as_of,
                    _at_state.as_of <= as_of,
                    _at_state.loan_id == Loan.id,
                ),
            )
            .outerjoin(end_cob, end_cob.c.day == Loan.closed_on)
            .outerjoin(_at_end, and_(_at_end.as_of == end_cob.c.cob_on, _at_end.loan_id == Loan.id))
            # The loans the date's close of business positioned, and those that ended before.
            .where(
                Loan.disbursed_on <= as_of,
                or_(_on_day.loan_id.is_not(None), Loan.closed_on < as_of),
            )
            .order_by(Loan.loan_ref)
        )
        yield ACCOUNTS.header()
        result = await conn.stream(query.execution_options(yield_per=BATCH))
        async for partition in result.partitions(BATCH):
            accounts = (_account(row, as_of, queue_names, usernames) for row in partition)
            yield ACCOUNTS.rows(account for account in accounts if account is not None)


def _account(
    row: Any, as_of: dt.date, queue_names: dict[int, str], usernames: dict[int, str]
) -> tuple[Any, ...] | None:
    """The file's row of one loan (None: no figures for the date, see below)."""
    status = account_status(row.status, row.closed_on, as_of)
    if status is not AccountStatus.open and row.closed_on < as_of:
        # Ended before the date: no close of business positions it any more.
        return (
            row.loan_ref, 0, NOT_OVERDUE, row.last_tier, 0, 0, 0, row.last_class,
            queue_names.get(row.last_queue_id), usernames.get(row.last_collector_id), status,
        )  # fmt: skip
    if row.positioned is None:
        # An end date on an open loan: the engine clears it when a loan reopens, so only data
        # changed by hand; the date's close of business, run again, will position it.
        return None
    return (
        row.loan_ref, row.days_past_due, row.bucket, row.amount_tier, row.overdue_amount,
        row.outstanding, row.penalty_accrued, row.risk_class, queue_names.get(row.queue_id),
        usernames.get(row.collector_id), status,
    )  # fmt: skip
