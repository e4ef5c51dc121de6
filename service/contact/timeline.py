"""An account's timeline: its attempts (as they stand), promises, payments, tasks, assignment
moves and audit events in one list, newest first, paged — what a collector reads before a call
and an auditor reads after a complaint. Each part is read through its own index on the loan
(one bounded read per part, merged), so a page stays fast however long the log grows."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    Integer,
    Numeric,
    String,
    bindparam,
    cast,
    literal,
    null,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from service.contact.accounts import loan_in_view
from service.db.models import (
    AssignmentMove,
    Attempt,
    AuditEvent,
    Contact,
    Payment,
    Promise,
    Queue,
    Task,
    User,
)
from service.db.models.contact import current
from service.db.types import Money

KINDS = ("attempt", "promise", "payment", "task", "assignment", "event")


def _text(column: Any) -> Any:
    return cast(column, String)


def _part(kind: str, at: Any, ref: Any, **columns: Any) -> Any:
    """One part of the union, every column named and typed (a bare NULL in a subquery is text
    to PostgreSQL, which then cannot match it with an amount or a date)."""
    typed: dict[str, Any] = {"amount": Numeric(18, 2), "day": Date()}
    values = [
        columns[name] if name in columns else cast(null(), typed.get(name, String()))
        for name in _COLUMNS
    ]
    return select(
        literal(kind).label("kind"),
        at.label("at"),
        ref.label("ref"),
        *[
            (type_coerce(value, Money()) if name == "amount" else value).label(name)
            for name, value in zip(_COLUMNS, values, strict=True)
        ],
    )


_COLUMNS = ("status", "detail", "channel", "amount", "day", "note", "actor", "party")


@functools.cache
def _statement() -> Any:
    """The timeline's statement, built once: each part newest first up to the page's end
    (``window``), merged and paged. Its values are bound at each execution."""
    parts = [
        _part(
            "attempt",
            Attempt.occurred_at,
            Attempt.attempt_ref,
            status=_text(Attempt.result),
            detail=Attempt.disposition,
            channel=_text(Attempt.channel),
            note=Attempt.note,
            actor=Attempt.source,
            party=Contact.contact_ref,
        )
        .outerjoin(Contact, Contact.id == Attempt.contact_id)
        .where(Attempt.loan_id == _LOAN, current())
        .order_by(Attempt.occurred_at.desc())
        .limit(_WINDOW),
        _part(
            "promise",
            Promise.created_at,
            _text(Promise.id),
            status=_text(Promise.status),
            detail=Promise.source,
            amount=Promise.amount,
            day=Promise.promised_on,
            note=Promise.note,
            actor=Promise.created_by,
        )
        .where(Promise.loan_id == _LOAN)
        .order_by(Promise.created_at.desc())
        .limit(_WINDOW),
        _part(
            "payment",
            Payment.created_at,
            Payment.payment_ref,
            detail=Payment.source,
            amount=Payment.amount,
            day=Payment.paid_on,
        )
        .where(Payment.loan_id == _LOAN)
        .order_by(Payment.created_at.desc())
        .limit(_WINDOW),
        _part(
            "task",
            Task.created_at,
            _text(Task.id),
            status=_text(Task.status),
            detail=Task.kind,
            day=Task.due_on,
            note=Task.result,
            actor=Task.closed_by,
            party=Task.outcome,
        )
        .where(Task.loan_id == _LOAN)
        .order_by(Task.created_at.desc())
        .limit(_WINDOW),
        _part(
            "assignment",
            AssignmentMove.moved_at,
            _text(AssignmentMove.id),
            status=Queue.name,
            detail=AssignmentMove.reason,
            note=AssignmentMove.note,
            actor=AssignmentMove.actor,
            party=User.username,
        )
        .outerjoin(Queue, Queue.id == AssignmentMove.to_queue_id)
        .outerjoin(User, User.id == AssignmentMove.to_collector_id)
        .where(AssignmentMove.loan_id == _LOAN)
        .order_by(AssignmentMove.moved_at.desc())
        .limit(_WINDOW),
        _part(
            "event",
            AuditEvent.occurred_at,
            _text(AuditEvent.id),
            detail=AuditEvent.action,
            actor=AuditEvent.actor,
        )
        .where(AuditEvent.entity_type == "loan", AuditEvent.entity_ref == _REF)
        .order_by(AuditEvent.occurred_at.desc())
        .limit(_WINDOW),
    ]
    merged = union_all(*(part.subquery().select() for part in parts)).subquery("timeline")
    return (
        select(merged)
        .order_by(merged.c.at.desc(), merged.c.kind, merged.c.ref.desc())
        .limit(bindparam("page_limit", type_=Integer))
        .offset(bindparam("page_offset", type_=Integer))
    )


_LOAN = bindparam("loan_id", type_=Integer)
_REF = bindparam("loan_ref", type_=String)
_WINDOW = bindparam("window", type_=Integer)


async def timeline(
    conn: AsyncConnection,
    visible: ColumnElement[bool],
    loan_ref: str,
    *,
    limit: int = 50,
    offset: int = 0,
) -> dict[str, Any]:
    """A page of the account's timeline, newest first (ties: the kind, then the record)."""
    loan = await loan_in_view(conn, visible, loan_ref)
    values = {
        "loan_id": loan.id,
        "loan_ref": loan.loan_ref,
        "window": limit + offset,  # no part can give more than this to the page
        "page_limit": limit,
        "page_offset": offset,
    }
    rows = (await conn.execute(_statement(), values)).all()
    events = [int(row.ref) for row in rows if row.kind == "event"]
    details: dict[int, Any] = {}
    if events:
        details = {
            id_: detail
            for id_, detail in await conn.execute(
                select(AuditEvent.id, AuditEvent.details).where(AuditEvent.id.in_(events))
            )
        }
    return {
        "loan_ref": loan.loan_ref,
        "limit": limit,
        "offset": offset,
        "items": [_item(row, details) for row in rows],
    }


def _item(row: Any, details: dict[int, Any]) -> dict[str, Any]:
    item: dict[str, Any] = {"kind": row.kind, "at": row.at, "ref": row.ref}
    if row.kind == "attempt":
        item.update(
            result=row.status,
            disposition=row.detail,
            channel=row.channel,
            party=row.party or "debtor",
            source=row.actor,
            note=row.note,
        )
    elif row.kind == "promise":
        item.update(
            status=row.status,
            source=row.detail,
            amount=row.amount,
            promised_on=row.day,
            by=row.actor,
            note=row.note,
        )
    elif row.kind == "payment":
        item.update(amount=row.amount, paid_on=row.day, source=row.detail)
    elif row.kind == "assignment":
        item.update(
            queue=row.status, collector=row.party, reason=row.detail, by=row.actor, note=row.note
        )
    elif row.kind == "task":
        item.update(
            status=row.status,
            task=row.detail,
            due_on=row.day,
            outcome=row.party,
            result=row.note,
            by=row.actor,
        )
    else:
        item.update(action=row.detail, by=row.actor, details=details.get(int(row.ref)))
    return item
