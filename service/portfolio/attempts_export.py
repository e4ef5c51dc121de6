"""``arrears export attempts`` (DESIGN.md §5): the contact log of a period as a regulator or an
auditor asks for it — every attempt Arrears made or recorded (automated SMS and calls,
collectors' calls, letters, field visits, inbound texts and calls, the previous system's
history), each as it stands (its newest revision), in the columns of ``attempts.csv`` plus
``channel_detail``, ``template``, ``collector`` and ``guard_reasons``."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from service.db.models import Attempt, Contact, GuardDecision, Loan, OutboxMessage, User
from service.db.models.contact import current
from service.errors import ValidationFailed
from service.portfolio.exports import BATCH, Column, CsvTable

ATTEMPTS = CsvTable(
    [
        Column("attempt_ref"),
        Column("loan_ref"),
        Column("party"),
        Column("phone", "phone"),
        Column("channel"),
        Column("direction"),
        Column("occurred_at"),
        Column("result"),
        Column("disposition"),
        Column("channel_detail"),
        Column("template"),
        Column("collector"),
        Column("guard_reasons"),
    ]
)
# A year of the log at most per file: the file is streamed, but a request should end.
MAX_DAYS = 366


def _decision() -> Any:
    """The verdict and reasons of the guard's last decision on the outbox row the attempt
    was sent for (dispatch stage: none comes after the send)."""
    return (
        select(GuardDecision.verdict + ":" + GuardDecision.reasons)
        .where(
            GuardDecision.idempotency_key == OutboxMessage.idempotency_key,
            GuardDecision.stage == "dispatch",  # the last is the one it was sent on
        )
        .order_by(GuardDecision.decided_at.desc(), GuardDecision.id.desc())
        .limit(1)
        .correlate(Attempt, OutboxMessage)
        .scalar_subquery()
    )


def check_period(start: dt.date, end: dt.date) -> None:
    if end < start:
        raise ValidationFailed("--to is before --from", details=[{"field": "to"}])
    if (end - start).days >= MAX_DAYS:
        raise ValidationFailed(f"a file covers {MAX_DAYS} days at most", details=[{"field": "to"}])


async def attempt_rows(
    engine: AsyncEngine, start: dt.date, end: dt.date, lender_zone: str
) -> AsyncIterator[str]:
    """CSV text, header first, of the attempts that occurred on the lender's days ``start`` to
    ``end`` (inclusive), in time order; times written with the lender's offset."""
    check_period(start, end)
    zone = ZoneInfo(lender_zone)
    since = dt.datetime.combine(start, dt.time(), zone).astimezone(dt.UTC)
    until = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), zone).astimezone(dt.UTC)
    query = (
        select(
            Attempt.attempt_ref,
            Loan.loan_ref,
            Contact.contact_ref,
            Attempt.phone,
            Attempt.channel,
            Attempt.direction,
            Attempt.occurred_at,
            Attempt.result,
            Attempt.disposition,
            Attempt.source,
            Attempt.provider_ref,
            Attempt.provider_status,
            Attempt.error_code,
            Attempt.revision,
            Attempt.template,
            User.username,
            _decision().label("decision"),
        )
        .join(Loan, Loan.id == Attempt.loan_id)
        .outerjoin(Contact, Contact.id == Attempt.contact_id)
        .outerjoin(User, User.id == Attempt.collector_id)
        .outerjoin(OutboxMessage, OutboxMessage.id == Attempt.outbox_id)
        .where(Attempt.occurred_at >= since, Attempt.occurred_at < until, current())
        .order_by(Attempt.occurred_at, Attempt.id)
    )
    async with engine.connect() as conn:
        yield ATTEMPTS.header()
        result = await conn.stream(query.execution_options(yield_per=BATCH))
        async for partition in result.partitions(BATCH):
            yield ATTEMPTS.rows(_row(row, zone) for row in partition)


def _row(row: Any, zone: ZoneInfo) -> tuple[Any, ...]:
    detail = [f"source={row.source}"]
    for name in ("provider_ref", "provider_status", "error_code"):
        if getattr(row, name):
            detail.append(f"{name}={getattr(row, name)}")
    if row.revision:
        detail.append(f"revision={row.revision}")  # corrected since: earlier revisions kept
    return (
        row.attempt_ref,
        row.loan_ref,
        row.contact_ref or "debtor",
        row.phone,
        str(row.channel),
        str(row.direction),
        row.occurred_at.astimezone(zone).isoformat(),
        str(row.result),
        row.disposition,
        "; ".join(detail),
        row.template,
        row.username,
        (row.decision or "").rstrip(":").replace(":", ": ", 1) if row.decision else None,
    )
