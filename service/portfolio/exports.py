"""Exports outside tools rely on (DESIGN.md §5): the accounts file of a close of business."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import AsyncIterator

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from service.db.models import Loan, LoanSnapshot, Queue, User
from service.errors import NotFound

ACCOUNT_COLUMNS = (
    "loan_ref",
    "dpd",
    "bucket",
    "amount_tier",
    "overdue_amount",
    "outstanding",
    "penalty_accrued",
    "classification",
    "queue",
    "collector",
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
        yield _line(ACCOUNT_COLUMNS)
        result = await conn.stream(query.execution_options(yield_per=BATCH))
        async for partition in result.partitions(BATCH):
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            for row in partition:
                writer.writerow(
                    (
                        row[0],
                        row[1],
                        row[2],
                        row[3],
                        f"{row[4]:.2f}",
                        f"{row[5]:.2f}",
                        f"{row[6]:.2f}",
                        row[7],
                        row[8] or "",
                        row[9] or "",
                    )
                )
            yield buffer.getvalue()


def _line(values: tuple[str, ...]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()
