"""Retention of the contact log, the guard's decisions and the audit log (docs/contact-log.md,
"Volume and retention"): a month's partition is dropped once it ended more than the retention
period ago *and* no loan with rows in it has had any collection activity (an attempt, a
payment, a guard decision) since then — Regulation F, 12 CFR 1006.100, keeps a debt's records
for three years after the last collection activity on it. Otherwise the month is kept, and
the report says for which loans. Each drop is an audit event in the same transaction.

PostgreSQL only (SQLite's log is not partitioned; nothing is pruned there).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncConnection

from service import audit
from service.db import dialect, partitions


@dataclass(frozen=True)
class Verdict:
    table: str
    partition: str
    month: dt.date
    rows: int
    dropped: bool
    reason: str
    active: list[str] = field(default_factory=list)  # a sample of the loans that keep it


def cutoff(today: dt.date, months: int) -> dt.date:
    """The first day still inside the retention period."""
    return partitions.add_months(today, -months)


async def prune_partitions(
    conn: AsyncConnection,
    *,
    today: dt.date,
    months: int,
    actor: str,
    dry_run: bool = False,
) -> list[Verdict]:
    """Decide (and unless ``dry_run``, act on) every month partition that ended before the
    retention period began. Months inside the period are not listed."""
    if not dialect.is_postgresql(conn):
        return []
    since = cutoff(today, months)
    verdicts: list[Verdict] = []
    for table in partitions.PARTITIONED:
        for partition in await partitions.partitions(conn, table):
            if partition.month is None or partition.end is None or partition.end > since:
                continue
            rows = await partitions.rows_in(conn, partition)
            active = await partitions.active_loans(conn, partition, since)
            if active:
                verdicts.append(
                    Verdict(
                        table,
                        partition.name,
                        partition.month,
                        rows,
                        dropped=False,
                        reason=f"kept: loans with activity since {since.isoformat()}",
                        active=active,
                    )
                )
                continue
            reason = (
                f"no loan in it had activity since {since.isoformat()} "
                f"({months} months before {today.isoformat()})"
            )
            if dry_run:
                verdicts.append(
                    Verdict(
                        table, partition.name, partition.month, rows, False, "would drop: " + reason
                    )
                )
                continue
            dropped = await partitions.drop(conn, partition)
            await audit.record(
                conn,
                actor=actor,
                action="retention.partition_dropped",
                entity_type="partition",
                entity_ref=partition.name,
                details={
                    "table": table,
                    "month": partition.month.isoformat(),
                    "rows": dropped.rows,
                    "retention_months": months,
                    "since": since.isoformat(),
                    "promises_unlinked": dropped.promises_unlinked,
                    "rule": "12 CFR 1006.100: kept three years after the last collection activity",
                },
            )
            verdicts.append(
                Verdict(
                    table, partition.name, partition.month, dropped.rows, True, "dropped: " + reason
                )
            )
    return verdicts
