"""What a collector's workspace shows of the work list: the queues they work with their counts,
the accounts they hold now, and an account's place (its queue, its collector, who holds it).

Counts are read from the work list's own indexes (``ix_work_items_free`` for what is free, the
loans' queue and collector indexes for the rest): a page of queues stays a handful of index
range counts however large the portfolio.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from service.assignment.worklist import ROUND
from service.auth import CurrentUser
from service.db.models import Borrower, Loan, LoanStatus, Queue, QueueMember, Role, User, WorkItem
from service.domain.queues import WORKED_KINDS


def _count(*where: ColumnElement[bool]) -> Any:
    return select(func.count()).select_from(WorkItem).where(*where).scalar_subquery()


def _loans(*where: ColumnElement[bool]) -> Any:
    return (
        select(func.count())
        .select_from(Loan)
        .where(Loan.queue_id == Queue.id, Loan.status == LoanStatus.open, *where)
        .scalar_subquery()
    )


async def my_queues(conn: AsyncConnection, user: CurrentUser) -> list[dict[str, Any]]:
    """The queues worked by people that ``user`` works, in routing order, with counts.

    A collector's are the queues they belong to; a supervisor or an administrator (who belongs
    to none: queues take collectors) sees every active one. Each queue: ``open_accounts`` (open
    loans in it), ``due_now`` (free accounts not worked since the last close of business — what
    "next account" serves before it goes round the worked ones again; for a collector, their
    own and the pool's), ``assigned`` (open accounts assigned to the collector; for staff, to
    anyone) and ``in_progress`` (leased now).
    """
    collector = user.role is Role.collector
    # Free, in this queue, not worked since the last close of business.
    free = (
        WorkItem.queue_id == Queue.id,
        WorkItem.lease_holder_id.is_(None),
        WorkItem.rank < ROUND,
    )
    if collector:
        # Two ranges of the free-rows index (the collector's own, the pool), not an OR.
        due = _count(*free, WorkItem.collector_id == user.id) + _count(
            *free, WorkItem.collector_id.is_(None)
        )
        assigned = _loans(Loan.collector_id == user.id)
    else:
        due = _count(*free)
        assigned = _loans(Loan.collector_id.is_not(None))
    query = (
        select(
            Queue.id,
            Queue.name,
            Queue.kind,
            _loans().label("open_accounts"),
            due.label("due_now"),
            assigned.label("assigned"),
            _count(WorkItem.queue_id == Queue.id, WorkItem.lease_holder_id.is_not(None)).label(
                "in_progress"
            ),
        )
        .where(Queue.active.is_(True), Queue.kind.in_(sorted(WORKED_KINDS)))
        .order_by(Queue.position, Queue.id)
    )
    if collector:
        query = query.join(
            QueueMember, (QueueMember.queue_id == Queue.id) & (QueueMember.user_id == user.id)
        )
    return [
        {
            "id": row.id,
            "name": row.name,
            "kind": str(row.kind),
            "open_accounts": int(row.open_accounts or 0),
            "due_now": int(row.due_now or 0),
            "assigned": int(row.assigned or 0),
            "in_progress": int(row.in_progress or 0),
        }
        for row in await conn.execute(query)
    ]


async def held_by(conn: AsyncConnection, user_id: int, now: dt.datetime) -> list[dict[str, Any]]:
    """The accounts ``user_id`` holds a lease on now (after "next account": one)."""
    rows = await conn.execute(
        select(Loan.loan_ref, Borrower.name, WorkItem.lease_expires_at)
        .join(Loan, Loan.id == WorkItem.loan_id)
        .join(Borrower, Borrower.id == Loan.borrower_id)
        .where(WorkItem.lease_holder_id == user_id, WorkItem.lease_expires_at > now)
        .order_by(WorkItem.lease_expires_at)
    )
    return [
        {"loan_ref": ref, "borrower_name": name, "lease_expires_at": until}
        for ref, name, until in rows
    ]


async def placement_of(conn: AsyncConnection, loan_ref: str, now: dt.datetime) -> dict[str, Any]:
    """Where an account sits: its queue, its collector, and who holds its lease until when
    (nobody once the lease ran out, though the row keeps it until the next release)."""
    collector = aliased(User)
    holder = aliased(User)
    row = (
        await conn.execute(
            select(
                Queue.name.label("queue"),
                collector.display_name.label("collector"),
                holder.id.label("holder_id"),
                holder.display_name.label("holder"),
                WorkItem.lease_expires_at,
            )
            .select_from(Loan)
            .outerjoin(Queue, Queue.id == Loan.queue_id)
            .outerjoin(collector, collector.id == Loan.collector_id)
            .outerjoin(WorkItem, WorkItem.loan_id == Loan.id)
            .outerjoin(holder, holder.id == WorkItem.lease_holder_id)
            .where(Loan.loan_ref == loan_ref)
        )
    ).one()
    held = row.holder_id is not None and row.lease_expires_at is not None
    held = held and row.lease_expires_at > now
    return {
        "queue": row.queue,
        "collector": row.collector,
        "lease_holder": row.holder if held else None,
        "lease_holder_id": row.holder_id if held else None,
        "lease_expires_at": row.lease_expires_at if held else None,
    }
