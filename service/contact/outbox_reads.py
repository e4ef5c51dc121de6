"""Reading the outbox: what was planned, what left and what came of it, for ``arrears outbox``
and ``GET /api/outbox`` — the console channel's record of exactly what would have been sent."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from service.db.models import Attempt, Loan, OutboxMessage
from service.db.models.contact import current
from service.errors import NotFound


def _view(row: Any, full: bool) -> dict[str, Any]:
    view = {
        "id": row.id,
        "loan_ref": row.loan_ref,
        "step": row.step,
        "channel": row.channel,
        "phone": row.phone,
        "template": row.template,
        "locale": row.locale,
        "planned_for": row.planned_for,
        "not_before": row.not_before,
        "status": str(row.status),
        "reasons": [r for r in (row.reasons or "").split(",") if r],
        "tries": row.tries,
        "provider_ref": row.provider_ref,
        "error_code": row.error_code,
        "sent_at": row.sent_at,
        "delivery": row.provider_status,
        "result": str(row.result) if row.result is not None else None,
    }
    if full:
        view.update(
            body=row.body,
            sender=row.sender,
            last_error=row.last_error,
            next_allowed_at=row.next_allowed_at,
            claimed_at=row.claimed_at,
            idempotency_key=row.idempotency_key,
        )
    return view


def _query() -> Any:
    return (
        select(
            OutboxMessage,
            Loan.loan_ref,
            Attempt.provider_status,
            Attempt.result,
        )
        .join(Loan, Loan.id == OutboxMessage.loan_id)
        .outerjoin(Attempt, and_(Attempt.outbox_id == OutboxMessage.id, current()))
    )


async def list_outbox(
    conn: AsyncConnection,
    visible: ColumnElement[bool],
    *,
    status: str | None = None,
    loan_ref: str | None = None,
    channel: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> dict[str, Any]:
    """Rows newest first; ``visible`` limits them to the loans the reader may see."""
    conditions: list[ColumnElement[bool]] = [visible]
    if status:
        conditions.append(OutboxMessage.status == status)
    if loan_ref:
        conditions.append(Loan.loan_ref == loan_ref)
    if channel:
        conditions.append(OutboxMessage.channel == channel)
    total = await conn.scalar(
        select(func.count())
        .select_from(OutboxMessage)
        .join(Loan, Loan.id == OutboxMessage.loan_id)
        .where(*conditions)
    )
    rows = await conn.execute(
        _query().where(*conditions).order_by(OutboxMessage.id.desc()).limit(limit).offset(offset)
    )
    return {"total": int(total or 0), "items": [_view(row, False) for row in rows]}


async def show_outbox(
    conn: AsyncConnection, visible: ColumnElement[bool], outbox_id: int
) -> dict[str, Any]:
    row = (await conn.execute(_query().where(OutboxMessage.id == outbox_id, visible))).one_or_none()
    if row is None:
        raise NotFound(f"outbox row {outbox_id} not found")
    return _view(row, True)
