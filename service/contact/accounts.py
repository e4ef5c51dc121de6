"""The account an action on the contact side is about: found through the caller's visibility
(a collector reaches only their queues' accounts), refused once closed when it must be open."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncConnection

from service.db.models import Borrower, Loan, LoanStatus
from service.errors import Conflict, NotFound


async def loan_in_view(
    conn: AsyncConnection,
    visible: ColumnElement[bool],
    ref: str,
    *,
    open_for: str | None = None,
) -> Any:
    """The loan ``ref`` (id, loan_ref, borrower_id, status, outstanding) if ``visible`` lets
    the caller see it — NotFound otherwise, whether it exists or not. ``open_for``: what the
    caller is about to do, refused (Conflict) on a loan no longer open."""
    row = (
        await conn.execute(
            select(Loan.id, Loan.loan_ref, Loan.borrower_id, Loan.status, Loan.outstanding)
            .join(Borrower, Borrower.id == Loan.borrower_id)
            .where(Loan.loan_ref == ref, visible)
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"loan {ref} not found")
    if open_for is not None and row.status is not LoanStatus.open:
        raise Conflict(f"loan {ref} is {row.status}: {open_for}")
    return row
