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
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.auth import CurrentUser
from service.db import dialect
from service.db.dialect import asyncpg_sql
from service.db.models import Callback, CallbackStatus, Queue, QueueMember, WorkItem
from service.db.types import Money
from service.domain.queues import WORKED_KINDS
from service.settings import Settings

# The worked kinds as an SQL list, for the statements that filter on them.
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

    Rows of accounts that closed, left the worked queues or are placed with an agency go;
    others get their queue, collector, rank and score; a lease in progress is kept unless the
    collector changed.
    The rounds of work done today are kept, unless ``new_day`` (the close of business).
    """
    params = dict(params or {})
    params["today"] = today
    rank = ranks(settings.next_account_priority)
    source = f"""
        SELECT l.id AS loan_id, l.queue_id, l.collector_id,
               CASE WHEN bp.loan_id IS NOT NULL THEN {rank["broken_promise"]}
                    WHEN pt.loan_id IS NOT NULL THEN {rank["promise_due_today"]}
                    ELSE {rank["score"]} END AS rank,
               -ROUND(l.days_past_due * l.outstanding, 2) AS score
        FROM loans l
        JOIN queues q ON q.id = l.queue_id AND q.kind IN ({WORKED})
        LEFT JOIN (SELECT p.loan_id FROM promises p
                   WHERE p.status IN ('broken', 'partially_kept') AND NOT EXISTS (
                     SELECT 1 FROM promises n WHERE n.loan_id = p.loan_id AND n.id > p.id)
                  ) bp ON bp.loan_id = l.id
        LEFT JOIN (SELECT DISTINCT loan_id FROM promises
                   WHERE status = 'pending' AND promised_on = :today) pt ON pt.loan_id = l.id
        WHERE l.status = 'open' AND {scope}
          -- Placed with an agency (委外): worked outside, not in-house (service.casework).
          AND NOT EXISTS (SELECT 1 FROM placements pl
                          WHERE pl.loan_id = l.id AND pl.recalled_on IS NULL)"""
    await dialect.create_temp_table_as(conn, "work_source", source, params)
    await dialect.index_for_nested_loops(conn, "work_source", ("loan_id",), unique=True)
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
            # Not NOT EXISTS: PostgreSQL plans that as a scan of the growing table per row.
            """INSERT INTO work_items (loan_id, queue_id, collector_id, rank, score)
               SELECT s.loan_id, s.queue_id, s.collector_id, s.rank, s.score FROM work_source s
               WHERE true ON CONFLICT (loan_id) DO NOTHING"""
        )
    )
    await dialect.drop_temp_table(conn, "work_source")


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
        # Not dataclasses.asdict: it deep-copies, and this runs on every "next account".
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}


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
    # Two short statements: the partial index finds the (usually zero) expired rows; an
    # UPDATE ... WHERE loan_id IN (subquery) would be planned as a scan of the whole list.
    expired = list(
        (
            await conn.execute(
                select(WorkItem.loan_id)
                .where(WorkItem.lease_expires_at < now)
                .order_by(WorkItem.lease_expires_at)  # the index's order: never a table scan
                .limit(500)
                .with_for_update(skip_locked=True)
            )
        ).scalars()
    )
    if not expired:
        return 0
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


async def next_account_now(
    engine: AsyncEngine,
    user: CurrentUser,
    settings: Settings,
    now: dt.datetime,
    pool: Any = None,
) -> NextAccount | None:
    """:func:`next_account` in its own transaction.

    On PostgreSQL it is one function call (``arrears_next_account``, migration 0003), without
    BEGIN/COMMIT round trips; given ``pool`` (a raw asyncpg pool, the web app's hot path) it
    skips SQLAlchemy too. On SQLite the steps run from Python in an explicit transaction.
    """
    if pool is not None:
        until = now + dt.timedelta(minutes=settings.lease_minutes)
        found = await pool.fetchrow(_PG_NEXT_RAW, user.id, now, until, _pg_phases(settings), ROUND)
        return None if found is None else _assemble(tuple(found), until, settings)
    if dialect.is_postgresql(engine):
        # The whole algorithm differs: one server-side call needs no transaction around it.
        autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        async with autocommit.connect() as conn:
            return await next_account(conn, user, settings, now)
    async with engine.begin() as conn:
        return await next_account(conn, user, settings, now)


async def next_account(
    conn: AsyncConnection, user: CurrentUser, settings: Settings, now: dt.datetime
) -> NextAccount | None:
    """Lease the collector the most urgent free account of their queues (None: nothing left).

    Whatever they held before is released: asking for the next account means done with it.
    On PostgreSQL the steps run server-side in one call (``arrears_next_account``, migration
    0003): this is the floor's hot path. SQLite runs the same steps from here.
    """
    until = now + dt.timedelta(minutes=settings.lease_minutes)
    row: tuple[Any, ...] | None = None
    if dialect.is_postgresql(conn):
        # The whole algorithm differs: PostgreSQL runs the steps server-side (SKIP LOCKED).
        found = (
            await conn.execute(
                _PG_NEXT,
                {
                    "user": user.id,
                    "now": now,
                    "until": until,
                    "phases": _pg_phases(settings),
                    "round": ROUND,
                },
            )
        ).one_or_none()
        row = tuple(found) if found is not None else None
    else:
        phases = _phases(settings.next_account_priority)
        taken = await _next_steps(conn, user, phases, now, until)
        if taken is not None:
            details = (await conn.execute(_DETAILS, {"loan": taken[0]})).one()
            row = (*taken, *details)
    return None if row is None else _assemble(row, until, settings)


def _pg_phases(settings: Settings) -> list[int]:
    """The phases as the server-side function takes them: flat pairs, (-1, -1) for callbacks."""
    return [
        bound
        for kind, low, high in _phases(settings.next_account_priority)
        for bound in ((-1, -1) if kind == "callback_due" else (low, high))
    ]


def _assemble(row: tuple[Any, ...], until: dt.datetime, settings: Settings) -> NextAccount:
    _loan, rank, by_callback, *details = row
    stored = [p for p in settings.next_account_priority if p != "callback_due"]
    return NextAccount(
        loan_ref=details[0],
        borrower_ref=details[1],
        borrower_name=details[2],
        queue=details[3],
        reason="callback_due" if by_callback else stored[rank % ROUND],
        days_past_due=details[4],
        bucket=details[5],
        outstanding=details[6],
        lease_expires_at=until,
    )


_DETAIL_COLUMNS = (
    "l.loan_ref, b.borrower_ref, b.name, q.name, l.days_past_due, l.bucket, l.outstanding"
)
_DETAILS = text(
    f"""SELECT {_DETAIL_COLUMNS} FROM loans l JOIN borrowers b ON b.id = l.borrower_id
        JOIN work_items w ON w.loan_id = l.id JOIN queues q ON q.id = w.queue_id
        WHERE l.id = :loan"""
).columns(outstanding=Money)
_PG_NEXT_SQL = f"""
    SELECT n.picked_loan, n.picked_rank, n.by_callback, {_DETAIL_COLUMNS}
    FROM arrears_next_account(:user, :now, :until, CAST(:phases AS integer[]), :round) n
    JOIN loans l ON l.id = n.picked_loan JOIN borrowers b ON b.id = l.borrower_id
    JOIN queues q ON q.id = (SELECT queue_id FROM work_items WHERE loan_id = n.picked_loan)"""
_PG_NEXT = text(_PG_NEXT_SQL).columns(outstanding=Money)
_PG_NEXT_RAW = asyncpg_sql(_PG_NEXT_SQL, ("user", "now", "until", "phases", "round"))


async def _next_steps(
    conn: AsyncConnection,
    user: CurrentUser,
    phases: list[tuple[str, int, int]],
    now: dt.datetime,
    until: dt.datetime,
) -> tuple[int, int, bool] | None:
    """The steps of "next account", statement by statement (SQLite): (loan, rank, callback)."""
    await release(conn, user.id, worked=True)
    await release_expired(conn, now)
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
    for kind, low, high in phases:
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
        # One queue at a time, in the queues' order; in each, the head of the collector's own
        # accounts and the head of the pool (two ranges of one index), the more urgent taken.
        # The transaction holds SQLite's write lock since its first UPDATE: nobody else picks
        # between this read and the lease, which checks the row is still free all the same.
        for queue_id in queue_ids:
            heads = []
            for owner in (WorkItem.collector_id == user.id, WorkItem.collector_id.is_(None)):
                head = (
                    await conn.execute(
                        select(WorkItem.rank, WorkItem.score, WorkItem.loan_id)
                        .where(
                            owner,
                            WorkItem.queue_id == queue_id,
                            WorkItem.lease_holder_id.is_(None),
                            WorkItem.rank >= low,
                            WorkItem.rank < high,
                        )
                        .order_by(WorkItem.rank, WorkItem.score, WorkItem.loan_id)
                        .limit(1)
                    )
                ).first()
                if head is not None:
                    heads.append(tuple(head))
            if heads:
                taken = await _lease(conn, min(heads)[2], lease)
            if taken is not None:
                break
        if taken is not None:
            break
    if taken is None:
        return None
    rank = await conn.scalar(select(WorkItem.rank).where(WorkItem.loan_id == taken))
    return taken, int(rank or 0), reason == "callback_due"


async def _lease(conn: AsyncConnection, pick: Any, lease: dict[str, Any]) -> int | None:
    """Lease the picked row (an id, or a subquery picking one) if it is still free."""
    result = await conn.execute(
        update(WorkItem)
        .where(WorkItem.loan_id == pick, WorkItem.lease_holder_id.is_(None))
        .values(**lease)
        .returning(WorkItem.loan_id)
    )
    return result.scalar_one_or_none()
