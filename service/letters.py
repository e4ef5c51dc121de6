"""Letters: the due notice (贷款到期通知书) and the overdue notice (逾期通知书) of one loan.

Rendered from ``templates/letters/LOCALE/KIND.html`` with the loan's position from the last
close of business, and as PDF from the same HTML.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from service.clock import lender_today
from service.errors import NotFound, ValidationFailed
from service.models import Borrower, Loan
from service.rendering import letter_pdf, render_letter
from service.settings import Settings

KINDS = ("due_notice", "overdue_notice")


async def letter_context(
    conn: AsyncConnection, settings: Settings, loan_ref: str, as_of: dt.date | None = None
) -> tuple[str, dict[str, Any]]:
    """(the borrower's locale, the template's variables) for one loan."""
    row = (
        await conn.execute(
            select(
                Loan.loan_ref,
                Loan.currency,
                Loan.principal,
                Loan.disbursed_on,
                Loan.maturity_on,
                Loan.outstanding,
                Loan.overdue_amount,
                Loan.penalty_unpaid,
                Loan.days_past_due,
                Borrower.name,
                Borrower.address,
                Borrower.locale,
            )
            .join(Borrower, Borrower.id == Loan.borrower_id)
            .where(Loan.loan_ref == loan_ref)
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"loan {loan_ref!r} not found")
    issued = as_of or lender_today(settings.lender_timezone)
    return row.locale, {
        "lender": settings.lender_name,
        "name": row.name,
        "address": row.address,
        "loan_ref": row.loan_ref,
        "currency": row.currency,
        "principal": f"{row.principal:,.2f}",
        "disbursed_on": row.disbursed_on.isoformat(),
        "maturity_on": row.maturity_on.isoformat(),
        "outstanding": f"{row.outstanding:,.2f}",
        "overdue_amount": f"{row.overdue_amount:,.2f}",
        "penalty": f"{row.penalty_unpaid:,.2f}",
        "dpd": row.days_past_due,
        "issued_on": issued.isoformat(),
    }


async def letter_for(
    conn: AsyncConnection,
    settings: Settings,
    loan_ref: str,
    kind: str,
    as_of: dt.date | None = None,
    fmt: str = "html",
) -> tuple[str, bytes | None]:
    """The letter's HTML, and its PDF when ``fmt`` is "pdf"."""
    if kind not in KINDS:
        raise ValidationFailed(f"kind must be one of {', '.join(KINDS)}")
    locale, context = await letter_context(conn, settings, loan_ref, as_of)
    html = render_letter(kind, locale, context)
    pdf = await asyncio.to_thread(letter_pdf, html) if fmt == "pdf" else None
    return html, pdf
