"""The work list: what a collector gets from "next account", in priority order, under a lease.

Each open account of a queue worked by people has one row in ``work_items`` with a rank (its
place in the configured priority order) and a score (DPD × balance, negated so that ascending
order is most urgent first). "Next account" takes the first free row of the collector's queues
and leases it; on PostgreSQL with ``FOR UPDATE SKIP LOCKED`` so that concurrent collectors never
wait on, or take, the same row; on SQLite the pick and the lease are one ``UPDATE`` statement,
which SQLite runs under its single write lock.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from service.auth import CurrentUser
from service.models import (
    Borrower,
    Callback,
    CallbackStatus,
    Loan,
    Queue,
    QueueMember,
    WorkItem,
)
from service.settings import Settings
from strategies.types import WORKED_KINDS

WORKED = ", ".join(f"'{kind}'" for kind in sorted(WORKED_KINDS))

RANKED = ("broken_promise", "promise_due_today", "score")
# Ranks 0..ROUND-1 are accounts not worked since the last close of business; each time an
# account is worked it moves up by ROUND, behind every account worked fewer times.
ROUND = len(RANKED)


def ranks(priority: Sequence[str]) -> dict[str, int]:
    """Rank of each stored priority (the callback phase is not stored: it depends on the hour)."""
    stored = [p for p in priority if p != "callback_due"]
    return {name: stored.index(name) for name in RANKED}


async def refresh_work_items(
    conn: AsyncConnection,
    settings: Settings,
    today: dt.date,
    scope: str = "1 = 1",
    params: dict[str, Any] | None = None,
    new_day: bool = False,
) -> None:
    """Bring the work list in line with the loans (``scope``: a condition on loans ``l``).

    Rows of accounts that closed or left the worked queues go; others get their queue,
    collector, rank and score; a lease in progress is kept unless the collector changed.
    The rounds of work done today are kept, unless ``new_day`` (the close of business).
    """
    params = dict(params or {})
    params["today"] = today
    rank = ranks(settings.next_account_priority)
    postgres = conn.dialect.name == "postgresql"
    source = f"""
        SELECT l.id AS loan_id, l.queue_id, l.collector_id,
               CASE WHEN bp.loan_id IS NOT NULL THEN {rank["broken_promise"]}
                    WHEN pt.loan_id IS NOT NULL THEN {rank["promise_due_today"]}
                    ELSE {rank["score"]} END AS rank,
               -ROUND(l.days_past_due * l.outstanding, 2) AS score
        FROM loans l
        JOIN queues q ON q.id = l.queue_id AND q.kind IN ({WORKED})
        LEFT JOIN (SELECT p.loan_id FROM promises p
                   WHERE p.status = 'broken' AND NOT EXISTS (
                     SELECT 1 FROM promises n WHERE n.loan_id = p.loan_id AND n.id > p.id)
                  ) bp ON bp.loan_id = l.id
        LEFT JOIN (SELECT DISTINCT loan_id FROM promises
                   WHERE status = 'pending' AND promised_on = :today) pt ON pt.loan_id = l.id
        WHERE l.status = 'open' AND {scope}"""
    await conn.execute(text("DROP TABLE IF EXISTS work_source"))
    await conn.execute(
        text(
            f"CREATE TEMPORARY TABLE work_source {'ON COMMIT DROP ' if postgres else ''}AS {source}"
        ),
        params,
    )
    if not postgres:
        await conn.execute(text("CREATE UNIQUE INDEX temp.ix_work_source ON work_source (loan_id)"))
    # Integer division on both databases: how many rounds the account was worked today.
    rounds = "s.rank" if new_day else f"s.rank + (work_items.rank / {ROUND}) * {ROUND}"
    await conn.execute(
        text(
            f"""DELETE FROM work_items WHERE loan_id IN (
                  SELECT l.id FROM loans l WHERE {scope}
                    AND NOT EXISTS (SELECT 1 FROM work_source s WHERE s.loan_id = l.id))"""
        ),
        params,
    )
    await conn.execute(
        text(
            f"""UPDATE work_items SET queue_id = s.queue_id, collector_id = s.collector_id,
                   rank = {rounds}, score = s.score,
                   lease_holder_id = CASE WHEN work_items.collector_id IS DISTINCT FROM
                                               s.collector_id THEN NULL
                                          ELSE work_items.lease_holder_id END,
                   lease_expires_at = CASE WHEN work_items.collector_id IS DISTINCT FROM
                                                s.collector_id THEN NULL
                                           ELSE work_items.lease_expires_at END
               FROM work_source s
               WHERE work_items.loan_id = s.loan_id
                 AND (work_items.queue_id IS DISTINCT FROM s.queue_id
                      OR work_items.collector_id IS DISTINCT FROM s.collector_id
                      OR work_items.rank <> {rounds} OR work_items.score <> s.score)"""
        )
    )
    await conn.execute(
        text(
            """INSERT INTO work_items (loan_id, queue_id, collector_id, rank, score)
               SELECT s.loan_id, s.queue_id, s.collector_id, s.rank, s.score FROM work_source s
               WHERE NOT EXISTS (SELECT 1 FROM work_items w WHERE w.loan_id = s.loan_id)"""
        )
    )
    await conn.execute(text("DROP TABLE IF EXISTS work_source"))


@dataclasses.dataclass(frozen=True, slots=True)
class NextAccount:
    loan_ref: str
    borrower_ref: str
    borrower_name: str
    queue: str
    reason: str
    days_past_due: int
    bucket: str
    outstanding: Any
    lease_expires_at: dt.datetime

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


async def release(conn: AsyncConnection, user_id: int, worked: bool = False) -> int:
    """Let go of every account this user holds.

    ``worked``: the collector is done with them for now, so they go behind every account
    worked fewer times today (their rank moves up by one full round); the next close of
    business puts them back in place. A plain release keeps their place.
    """
    values: dict[str, Any] = {"lease_holder_id": None, "lease_expires_at": None}
    if worked:
        values["rank"] = WorkItem.rank + ROUND
    result = await conn.execute(
        update(WorkItem).where(WorkItem.lease_holder_id == user_id).values(**values)
    )
    return int(result.rowcount or 0)


async def release_expired(conn: AsyncConnection, now: dt.datetime) -> int:
    """Return to the list the accounts whose lease ran out."""
    expired = (
        select(WorkItem.loan_id)
        .where(WorkItem.lease_expires_at < now)
        .limit(500)
        .with_for_update(skip_locked=True)
    )
    result = await conn.execute(
        update(WorkItem)
        .where(WorkItem.loan_id.in_(expired))
        .values(lease_holder_id=None, lease_expires_at=None)
    )
    return int(result.rowcount or 0)


def _phases(priority: Sequence[str]) -> list[tuple[str, int, int]]:
    """The pops "next account" tries in order: (kind, lowest rank, highest rank + 1)."""
    rank = ranks(priority)
    stored = [p for p in priority if p != "callback_due"]
    cut = priority.index("callback_due")
    before = [rank[p] for p in stored[:cut]]
    phases: list[tuple[str, int, int]] = []
    if before:
        phases.append(("rank", min(before), max(before) + 1))
    phases.append(("callback_due", 0, 0))
    phases.append(("rank", len(before), ROUND))
    phases.append(("rank", ROUND, 2**31 - 1))  # then round again, over the worked ones
    return phases


async def next_account(
    conn: AsyncConnection, user: CurrentUser, settings: Settings, now: dt.datetime
) -> NextAccount | None:
    """Lease the collector the most urgent free account of their queues (None: nothing left).

    Whatever they held before is released: asking for the next account means done with it.
    """
    await release(conn, user.id, worked=True)
    await release_expired(conn, now)
    until = now + dt.timedelta(minutes=settings.lease_minutes)
    queue_ids = list(
        (
            await conn.execute(
                select(Queue.id)
                .join(QueueMember, QueueMember.queue_id == Queue.id)
                .where(
                    QueueMember.user_id == user.id,
                    Queue.active.is_(True),
                    Queue.kind.in_(sorted(WORKED_KINDS)),
                )
                .order_by(Queue.position, Queue.id)
            )
        ).scalars()
    )
    if not queue_ids:
        return None
    mine_or_pool = or_(WorkItem.collector_id == user.id, WorkItem.collector_id.is_(None))
    lease = {"lease_holder_id": user.id, "lease_expires_at": until}
    taken: int | None = None
    reason = ""
    for kind, low, high in _phases(settings.next_account_priority):
        if kind == "callback_due":
            pick = (
                select(WorkItem.loan_id)
                .join(Callback, Callback.loan_id == WorkItem.loan_id)
                .where(
                    Callback.status == CallbackStatus.scheduled,
                    Callback.due_at <= now,
                    WorkItem.lease_holder_id.is_(None),
                    or_(
                        Callback.user_id == user.id,
                        and_(
                            Callback.user_id.is_(None),
                            WorkItem.queue_id.in_(queue_ids),
                            mine_or_pool,
                        ),
                    ),
                )
                .order_by(Callback.due_at, Callback.id)
                .limit(1)
                .with_for_update(of=WorkItem, skip_locked=True)
                .scalar_subquery()
            )
            taken = await _lease(conn, pick, lease)
            if taken is not None:
                reason = "callback_due"
                # Handed out once: the call it asks for is logged as an attempt, not re-served.
                await conn.execute(
                    update(Callback)
                    .where(
                        Callback.loan_id == taken,
                        Callback.status == CallbackStatus.scheduled,
                        Callback.due_at <= now,
                    )
                    .values(status=CallbackStatus.done)
                )
                break
            continue
        # One queue at a time, in the queues' order: each pop reads one index range in order.
        for queue_id in queue_ids:
            pick = (
                select(WorkItem.loan_id)
                .where(
                    WorkItem.queue_id == queue_id,
                    WorkItem.lease_holder_id.is_(None),
                    WorkItem.rank >= low,
                    WorkItem.rank < high,
                    mine_or_pool,
                )
                .order_by(WorkItem.rank, WorkItem.score, WorkItem.loan_id)
                .limit(1)
                .with_for_update(skip_locked=True)
                .scalar_subquery()
            )
            taken = await _lease(conn, pick, lease)
            if taken is not None:
                break
        if taken is not None:
            break
    if taken is None:
        return None
    row = (
        await conn.execute(
            select(
                Loan.loan_ref,
                Borrower.borrower_ref,
                Borrower.name,
                Queue.name,
                WorkItem.rank,
                Loan.days_past_due,
                Loan.bucket,
                Loan.outstanding,
            )
            .join(Borrower, Borrower.id == Loan.borrower_id)
            .join(WorkItem, WorkItem.loan_id == Loan.id)
            .join(Queue, Queue.id == WorkItem.queue_id)
            .where(Loan.id == taken)
        )
    ).one()
    if not reason:
        stored = [p for p in settings.next_account_priority if p != "callback_due"]
        reason = stored[row[4] % ROUND]
    return NextAccount(
        loan_ref=row[0],
        borrower_ref=row[1],
        borrower_name=row[2],
        queue=row[3],
        reason=reason,
        days_past_due=row[5],
        bucket=row[6],
        outstanding=row[7],
        lease_expires_at=until,
    )


async def _lease(conn: AsyncConnection, pick: Any, lease: dict[str, Any]) -> int | None:
    # The lease condition is repeated: on SQLite the pick and the update are one statement.
    result = await conn.execute(
        update(WorkItem)
        .where(WorkItem.loan_id == pick, WorkItem.lease_holder_id.is_(None))
        .values(**lease)
        .returning(WorkItem.loan_id)
    )
    return result.scalar_one_or_none()
