"""Collection agencies (委外催收机构): their records, the file each one receives of the accounts
placed with it, and what each one brought in.

The placement file carries only what an agency needs to collect: the debtor, their own
numbers and address, the loan and its balances, DPD and dates. Never an emergency contact or
a guarantor (third parties: DESIGN.md §3), never a national id, never the contact history —
the source policies hold the lender to keep customer information confidential (信息的保密与
安全) and to supervise the agencies it entrusts (加强对催收机构的监管). Every file handed out
is in the audit log.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import case, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from service import audit
from service.clock import utcnow
from service.db.models import (
    Agency,
    Borrower,
    Loan,
    Payment,
    PhoneKind,
    PhoneNumber,
    PhoneStatus,
    Placement,
)
from service.domain.agencies import RecallReason, commission
from service.errors import Conflict, NotFound, ValidationFailed

ZERO = Decimal("0.00")
# What may change on an agency (its ref is its key).
EDITABLE = ("name", "commission_rate", "active", "contact_notes")

# The placement file's columns and how each is written (service.portfolio.exports.CsvTable, the
# CSV-injection-safe writer, renders it where the file is handed out: the API and the CLI).
PLACEMENT_COLUMNS: tuple[tuple[str, Literal["text", "integer", "money", "phone"]], ...] = (
    ("loan_ref", "text"),
    ("borrower_name", "text"),
    ("phone", "phone"),
    ("alt_phones", "text"),
    ("address", "text"),
    ("currency", "text"),
    ("balance_at_placement", "money"),
    ("outstanding", "money"),
    ("overdue_amount", "money"),
    ("dpd", "integer"),
    ("placed_on", "text"),
    ("recall_on", "text"),
)


_AGENCY = (
    Agency.agency_ref,
    Agency.name,
    Agency.commission_rate,
    Agency.active,
    Agency.contact_notes,
)


def _agency(row: Any) -> dict[str, Any]:
    return dict(row._mapping)


def _check_rate(rate: Decimal) -> None:
    if not Decimal(0) <= rate < Decimal(1):
        raise ValidationFailed(
            "the commission rate is a fraction from 0 to below 1 (0.15: 15 %)",
            details=[{"field": "commission_rate", "reason": "not in [0, 1)"}],
        )


async def create_agency(
    conn: AsyncConnection,
    *,
    agency_ref: str,
    name: str,
    commission_rate: Decimal,
    actor: str,
    contact_notes: str = "",
    active: bool = True,
) -> dict[str, Any]:
    _check_rate(commission_rate)
    values = {
        "agency_ref": agency_ref,
        "name": name,
        "commission_rate": commission_rate,
        "active": active,
        "contact_notes": contact_notes,
    }
    try:
        async with conn.begin_nested():
            now = utcnow()
            await conn.execute(insert(Agency).values(**values, created_at=now, updated_at=now))
    except IntegrityError:
        raise Conflict(f"agency {agency_ref!r} exists already") from None
    created = await get_agency(conn, agency_ref)
    await audit.record(
        conn,
        actor=actor,
        action="agency.created",
        entity_type="agency",
        entity_ref=agency_ref,
        details={"before": None, "after": _audited(created)},
    )
    return created


async def update_agency(
    conn: AsyncConnection, agency_ref: str, changes: dict[str, Any], actor: str
) -> dict[str, Any]:
    """Change an agency's name, rate, active flag or notes (audited, before and after); a
    rate change counts for commission from then on only in the results it is read into."""
    unknown = set(changes) - set(EDITABLE)
    if unknown or not changes:
        raise ValidationFailed(
            f"change at least one of {', '.join(EDITABLE)}",
            details=[{"field": name} for name in sorted(unknown)],
        )
    if "commission_rate" in changes:
        _check_rate(changes["commission_rate"])
    before = await get_agency(conn, agency_ref)
    await conn.execute(
        update(Agency).where(Agency.agency_ref == agency_ref).values(**changes, updated_at=utcnow())
    )
    after = await get_agency(conn, agency_ref)
    await audit.record(
        conn,
        actor=actor,
        action="agency.updated",
        entity_type="agency",
        entity_ref=agency_ref,
        details={"before": _audited(before), "after": _audited(after)},
    )
    return after


def _audited(agency: dict[str, Any]) -> dict[str, Any]:
    return {**agency, "commission_rate": str(agency["commission_rate"])}


async def get_agency(conn: AsyncConnection, agency_ref: str) -> dict[str, Any]:
    query = select(*_AGENCY).where(Agency.agency_ref == agency_ref)
    row = (await conn.execute(query)).one_or_none()
    if row is None:
        raise NotFound(f"agency {agency_ref!r} not found")
    return _agency(row)


async def list_agencies(
    conn: AsyncConnection, *, active_only: bool = False
) -> list[dict[str, Any]]:
    query = select(*_AGENCY).order_by(Agency.agency_ref)
    if active_only:
        query = query.where(Agency.active.is_(True))
    return [_agency(row) for row in await conn.execute(query)]


async def placement_file(
    conn: AsyncConnection, agency_ref: str, actor: str, today: dt.date
) -> list[tuple[Any, ...]]:
    """The rows of the file an agency receives (:data:`PLACEMENT_COLUMNS`): its active
    placements, with only what it may know (module docstring). Handing it out is audited."""
    agency = await get_agency(conn, agency_ref)
    rows = (
        await conn.execute(
            select(
                Loan.loan_ref,
                Borrower.id.label("borrower_id"),
                Borrower.name,
                Borrower.address,
                Loan.currency,
                Placement.balance_at_placement,
                Loan.outstanding,
                Loan.overdue_amount,
                Loan.days_past_due,
                Placement.placed_on,
                Placement.recall_on,
            )
            .join(Loan, Loan.id == Placement.loan_id)
            .join(Borrower, Borrower.id == Loan.borrower_id)
            .join(Agency, Agency.id == Placement.agency_id)
            .where(Agency.agency_ref == agency_ref, Placement.recalled_on.is_(None))
            .order_by(Loan.loan_ref)
        )
    ).all()
    phones: dict[int, list[str]] = defaultdict(list)
    borrower_ids = sorted({row.borrower_id for row in rows})
    for start in range(0, len(borrower_ids), 1000):
        # The debtor's own numbers still in use: primary first (no former or invalid ones).
        for borrower_id, e164 in await conn.execute(
            select(PhoneNumber.borrower_id, PhoneNumber.e164)
            .where(
                PhoneNumber.borrower_id.in_(borrower_ids[start : start + 1000]),
                PhoneNumber.kind.in_([PhoneKind.primary, PhoneKind.alt]),
                PhoneNumber.status == PhoneStatus.active,
            )
            .order_by(PhoneNumber.borrower_id, PhoneNumber.kind.desc(), PhoneNumber.id)
        ):
            phones[borrower_id].append(e164)
    lines = []
    for row in rows:
        numbers = phones.get(row.borrower_id, [])
        lines.append(
            (
                row.loan_ref,
                row.name,
                numbers[0] if numbers else "",
                ";".join(numbers[1:]),
                row.address,
                row.currency,
                row.balance_at_placement,
                row.outstanding,
                row.overdue_amount,
                row.days_past_due,
                row.placed_on.isoformat(),
                row.recall_on.isoformat(),
            )
        )
    await audit.record(
        conn,
        actor=actor,
        action="agency.file_handed_out",
        entity_type="agency",
        entity_ref=agency["agency_ref"],
        details={"accounts": len(lines), "loans": [line[0] for line in lines], "on": str(today)},
    )
    return lines


async def agency_results(
    conn: AsyncConnection,
    as_of: dt.date,
    *,
    agency_ref: str | None = None,
    placed_from: dt.date | None = None,
    placed_to: dt.date | None = None,
) -> list[dict[str, Any]]:
    """Per agency, over the placements made in [placed_from, placed_to] (all when open):
    placed (count, balance at placement), still placed, recalled by reason, collected (the
    payments dated from each placement day to its recall day, or ``as_of`` while placed) and
    commission (collected × the agency's rate)."""
    if agency_ref is not None:
        await get_agency(conn, agency_ref)
    scope = []
    if agency_ref is not None:
        scope.append(Agency.agency_ref == agency_ref)
    if placed_from is not None:
        scope.append(Placement.placed_on >= placed_from)
    if placed_to is not None:
        scope.append(Placement.placed_on <= placed_to)
    listed = select(Agency.id, Agency.agency_ref, Agency.name, Agency.commission_rate)
    if agency_ref is not None:
        listed = listed.where(Agency.agency_ref == agency_ref)
    agencies = (await conn.execute(listed.order_by(Agency.agency_ref))).all()
    placed = {
        row.agency_id: row
        for row in await conn.execute(
            select(
                Placement.agency_id,
                func.count(Placement.id).label("count"),
                func.sum(Placement.balance_at_placement).label("balance"),
                func.sum(case((Placement.recalled_on.is_(None), 1), else_=0)).label("active"),
            )
            .join(Agency, Agency.id == Placement.agency_id)
            .where(*scope)
            .group_by(Placement.agency_id)
        )
    }
    recalled: dict[int, dict[str, int]] = defaultdict(dict)
    for agency_id, reason, count in await conn.execute(
        select(Placement.agency_id, Placement.recall_reason, func.count(Placement.id))
        .join(Agency, Agency.id == Placement.agency_id)
        .where(*scope, Placement.recalled_on.is_not(None))
        .group_by(Placement.agency_id, Placement.recall_reason)
    ):
        recalled[agency_id][str(reason)] = int(count)
    collected = {
        agency_id: amount
        for agency_id, amount in await conn.execute(
            select(Placement.agency_id, func.sum(Payment.amount))
            .join(Agency, Agency.id == Placement.agency_id)
            .join(
                Payment,
                (Payment.loan_id == Placement.loan_id)
                & (Payment.paid_on >= Placement.placed_on)
                & (Payment.paid_on <= func.coalesce(Placement.recalled_on, as_of)),
            )
            .where(*scope)
            .group_by(Placement.agency_id)
        )
    }
    results = []
    for agency in agencies:
        book = placed.get(agency.id)
        amount = Decimal(collected.get(agency.id) or ZERO).quantize(ZERO)
        results.append(
            {
                "agency_ref": agency.agency_ref,
                "name": agency.name,
                "commission_rate": agency.commission_rate,
                "placed": int(book.count) if book else 0,
                "placed_balance": Decimal(book.balance if book else ZERO).quantize(ZERO),
                "active": int(book.active or 0) if book else 0,
                "recalled": {r.value: recalled[agency.id].get(r.value, 0) for r in RecallReason},
                "collected": amount,
                "commission": commission(amount, agency.commission_rate),
            }
        )
    return results
