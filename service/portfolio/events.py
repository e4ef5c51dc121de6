"""Loan events that change the schedule: extension (展期) and restructuring (重组).

Both replace the installments from the oldest unpaid one onwards, set the loan's flag (which puts
a floor under its classification: a restructured loan is at least 关注), write an audit event with
the schedule before and after, and recompute the loan's position at once. Snapshots already taken
stay as they were: history is not rewritten.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from service import audit
from service.auth import CurrentUser
from service.clock import add_months
from service.cob.engine import refresh_loans
from service.db.models import Installment, Loan
from service.domain.delinquency import CobConfig
from service.errors import ValidationFailed


class EventType(enum.StrEnum):
    extension = "extension"  # 展期: the remaining installments move by whole months
    restructuring = "restructuring"  # 重组: a new schedule for the remaining principal


MAX_EXTENSION_MONTHS = 60
# A new installment: due date, principal, interest.
NewInstallment = tuple[dt.date, Decimal, Decimal]


@dataclasses.dataclass(frozen=True, slots=True)
class ScheduleChange:
    """What a supervisor asks for: an extension by ``months`` or a restructuring into
    ``installments``, with the reason the audit trail keeps."""

    type: EventType
    reason: str
    months: int | None = None
    installments: tuple[NewInstallment, ...] = ()


def _schedule(rows: Any) -> list[dict[str, Any]]:
    return [
        {
            "seq": row.seq,
            "due_on": row.due_on.isoformat(),
            "principal_due": str(row.principal_due),
            "interest_due": str(row.interest_due),
        }
        for row in rows
    ]


async def apply_event(
    conn: AsyncConnection,
    user: CurrentUser,
    loan: Any,
    change: ScheduleChange,
    today: dt.date,
    config: CobConfig,
) -> dict[str, Any]:
    kind, reason = change.type, change.reason.strip()
    if not reason:
        raise ValidationFailed("a reason is required", details=[{"field": "reason"}])
    # Settlement as of today tells which installment is the oldest unpaid one.
    await refresh_loans(conn, [loan.id], today, config)
    rows = (
        await conn.execute(
            select(Installment).where(Installment.loan_id == loan.id).order_by(Installment.seq)
        )
    ).all()
    unpaid = [
        row
        for row in rows
        if row.principal_paid + row.interest_paid < row.principal_due + row.interest_due
    ]
    if not unpaid:
        raise ValidationFailed("the loan has no unpaid installment to change")
    first = unpaid[0].seq
    tail = [row for row in rows if row.seq >= first]
    before = _schedule(rows)
    if kind is EventType.extension:
        months = change.months
        if months is None or not 1 <= months <= MAX_EXTENSION_MONTHS:
            raise ValidationFailed(
                f"an extension takes months, a whole number from 1 to {MAX_EXTENSION_MONTHS}",
                details=[{"field": "months"}],
            )
        replacement = [
            (row.seq, add_months(row.due_on, months), row.principal_due, row.interest_due)
            for row in tail
        ]
    else:
        replacement = _restructured(change.installments, tail, first, today)
    await conn.execute(
        delete(Installment).where(Installment.loan_id == loan.id, Installment.seq >= first)
    )
    await conn.execute(
        insert(Installment),
        [
            {
                "loan_id": loan.id,
                "seq": seq,
                "due_on": due_on,
                "principal_due": principal,
                "interest_due": interest,
            }
            for seq, due_on, principal, interest in replacement
        ],
    )
    flag = "extended" if kind is EventType.extension else "restructured"
    flags = sorted({f for f in loan.flags.split(",") if f} | {flag})
    await conn.execute(
        update(Loan)
        .where(Loan.id == loan.id)
        .values(flags=",".join(flags), maturity_on=replacement[-1][1])
    )
    after_rows = (
        await conn.execute(
            select(Installment).where(Installment.loan_id == loan.id).order_by(Installment.seq)
        )
    ).all()
    await audit.record(
        conn,
        actor=user.username,
        actor_id=user.id,
        action=f"loan.{kind.value}",
        entity_type="loan",
        entity_ref=loan.loan_ref,
        details={"reason": reason, "before": before, "after": _schedule(after_rows)},
    )
    await refresh_loans(conn, [loan.id], today, config)
    return {"type": kind.value, "flags": flags, "schedule": _schedule(after_rows)}


def _restructured(
    installments: Sequence[NewInstallment], replaced: list[Any], first: int, today: dt.date
) -> list[tuple[int, dt.date, Decimal, Decimal]]:
    """The new installments; their principal is that of the installments they replace, since
    payments already made are replayed onto the new schedule like onto the old one."""
    if not installments:
        raise ValidationFailed(
            "a restructuring takes installments, a non-empty list",
            details=[{"field": "installments"}],
        )
    parsed = [
        (first + index, due_on, principal, interest)
        for index, (due_on, principal, interest) in enumerate(installments)
    ]
    dates = [due_on for _, due_on, _, _ in parsed]
    if dates != sorted(set(dates)) or dates[0] < today:
        raise ValidationFailed(
            "due dates must be increasing and not in the past", details=[{"field": "installments"}]
        )
    owed = sum((row.principal_due for row in replaced), Decimal(0))
    planned = sum((principal for _, _, principal, _ in parsed), Decimal(0))
    if planned != owed:
        raise ValidationFailed(
            f"the new schedule's principal ({planned}) must equal the principal of the "
            f"installments it replaces ({owed})",
            details=[{"field": "installments"}],
        )
    return parsed
