"""Whether promises were kept: evaluated from the payments at close of business and on every
payment (the API's at once, an import's after it), by the pure rules of service.domain.ptp.
Forward only — an update is conditional on the promise still being pending — and each
settled promise is audited. An arrangement follows its instalments: kept when all are, broken
(defaulted) as soon as one is missed, which cancels its open instalments and returns the
account to collections with an event."""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from service import audit
from service.clock import utcnow
from service.db.models import Arrangement, Loan, Payment, Promise, PromiseStatus
from service.domain import ptp
from service.domain.arrangements import ArrangementStatus, status_from_instalments

CHUNK = 1000
EVALUATED = (PromiseStatus.pending, *ptp.SETTLED)


@dataclasses.dataclass(slots=True)
class KeepingReport:
    """What an evaluation changed: promises by their new state, arrangements settled."""

    promises: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    arrangements: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)

    def as_dict(self) -> dict[str, Any]:
        return {"promises": dict(self.promises), "arrangements": dict(self.arrangements)}


async def keep_promises(
    conn: AsyncConnection,
    as_of: dt.date,
    grace_days: int,
    *,
    actor: str,
    loan_ids: Sequence[int] | None = None,
) -> KeepingReport:
    """Evaluate the pending promises of ``loan_ids`` (None: every loan with one) against the
    payments made up to ``as_of``, in the caller's transaction."""
    if loan_ids is None:
        loan_ids = list(
            await conn.scalars(
                select(Promise.loan_id)
                .where(Promise.status == PromiseStatus.pending, Promise.made_on <= as_of)
                .distinct()
            )
        )
    report = KeepingReport()
    ids = sorted(set(loan_ids))
    for start in range(0, len(ids), CHUNK):
        await _keep_chunk(conn, ids[start : start + CHUNK], as_of, grace_days, actor, report)
    return report


def after_import(
    grace_days: int, actor: str
) -> Callable[[AsyncConnection, list[int], dt.date], Awaitable[None]]:
    """What an import runs once it stored payments (``ImportOptions.after_refresh``): the
    promises of the loans they moved, kept or not, at once."""

    async def keep(conn: AsyncConnection, loan_ids: list[int], as_of: dt.date) -> None:
        await keep_promises(conn, as_of, grace_days, actor=actor, loan_ids=loan_ids)

    return keep


async def _keep_chunk(
    conn: AsyncConnection,
    loan_ids: list[int],
    as_of: dt.date,
    grace_days: int,
    actor: str,
    report: KeepingReport,
) -> None:
    terms: dict[int, list[ptp.Terms]] = collections.defaultdict(list)
    refs: dict[int, str] = {}
    arrangement_of: dict[int, int] = {}
    rows = await conn.execute(
        select(
            Promise.id,
            Promise.loan_id,
            Promise.amount,
            Promise.promised_on,
            Promise.made_on,
            Promise.status,
            Promise.paid_amount,
            Promise.arrangement_id,
            Loan.loan_ref,
        )
        .join(Loan, Loan.id == Promise.loan_id)
        .where(Promise.loan_id.in_(loan_ids), Promise.status.in_(EVALUATED))
    )
    for row in rows:
        terms[row.loan_id].append(
            ptp.Terms(row.id, row.amount, row.promised_on, row.made_on, row.status, row.paid_amount)
        )
        refs[row.loan_id] = row.loan_ref
        if row.arrangement_id is not None:
            arrangement_of[row.id] = row.arrangement_id
    open_loans = [
        loan_id for loan_id, items in terms.items() if any(t.status == "pending" for t in items)
    ]
    if not open_loans:
        return
    paid: dict[int, list[ptp.Paid]] = collections.defaultdict(list)
    for loan_id, paid_on, amount, payment_id in await conn.execute(
        select(Payment.loan_id, Payment.paid_on, Payment.amount, Payment.id).where(
            Payment.loan_id.in_(open_loans), Payment.paid_on <= as_of
        )
    ):
        paid[loan_id].append(ptp.Paid(paid_on, amount, payment_id))
    now = utcnow()
    touched: set[int] = set()
    for loan_id in open_loans:
        before = {t.id: t for t in terms[loan_id]}
        outcomes = ptp.evaluate(terms[loan_id], paid[loan_id], as_of, grace_days)
        for outcome in ptp.changed(terms[loan_id], outcomes):
            was = before[outcome.id]
            if was.status is not PromiseStatus.pending:
                continue  # settled: never changes again
            moved = await conn.execute(
                update(Promise)
                .where(Promise.id == outcome.id, Promise.status == PromiseStatus.pending)
                .values(
                    status=outcome.status,
                    paid_amount=outcome.paid,
                    settled_on=outcome.settled_on,
                    updated_at=now,
                )
            )
            if not moved.rowcount or outcome.status is PromiseStatus.pending:
                continue  # progress toward a promise still open: not an event
            report.promises[outcome.status.value] += 1
            await audit.record(
                conn,
                actor=actor,
                action=f"promise.{outcome.status.value}",
                entity_type="loan",
                entity_ref=refs[loan_id],
                details={
                    "promise_id": outcome.id,
                    "before": {"status": was.status.value, "paid": str(was.paid)},
                    "after": {"status": outcome.status.value, "paid": str(outcome.paid)},
                    "amount": str(was.amount),
                    "promised_on": was.promised_on.isoformat(),
                    "settled_on": outcome.settled_on.isoformat() if outcome.settled_on else None,
                },
            )
            if outcome.id in arrangement_of:
                touched.add(arrangement_of[outcome.id])
    for arrangement_id in sorted(touched):
        settled = await settle_arrangement(conn, arrangement_id, as_of, actor=actor)
        if settled is not None:
            report.arrangements[settled.value] += 1


async def settle_arrangement(
    conn: AsyncConnection, arrangement_id: int, as_of: dt.date, *, actor: str
) -> ArrangementStatus | None:
    """An active arrangement after its instalments changed: kept, or broken (its open
    instalments cancelled: dunning resumes). Returns the new state, None if unchanged."""
    arrangement = (
        await conn.execute(
            select(Arrangement.id, Arrangement.kind, Arrangement.status, Loan.loan_ref)
            .join(Loan, Loan.id == Arrangement.loan_id)
            .where(Arrangement.id == arrangement_id)
        )
    ).one()
    if arrangement.status is not ArrangementStatus.active:
        return None
    statuses = [
        str(s)
        for s in await conn.scalars(
            select(Promise.status).where(
                Promise.arrangement_id == arrangement_id,
                Promise.status != PromiseStatus.cancelled,
            )
        )
    ]
    after = status_from_instalments(statuses)
    if after is ArrangementStatus.active:
        return None
    moved = await conn.execute(
        update(Arrangement)
        .where(Arrangement.id == arrangement_id, Arrangement.status == ArrangementStatus.active)
        .values(status=after, settled_on=as_of)
    )
    if not moved.rowcount:
        return None
    cancelled = 0
    if after is ArrangementStatus.broken:
        cancelled = (
            await conn.execute(
                update(Promise)
                .where(
                    Promise.arrangement_id == arrangement_id,
                    Promise.status.in_([PromiseStatus.pending, PromiseStatus.proposed]),
                )
                .values(
                    status=PromiseStatus.cancelled, decided_by="arrangement", updated_at=utcnow()
                )
            )
        ).rowcount
    await audit.record(
        conn,
        actor=actor,
        action="arrangement.defaulted" if after is ArrangementStatus.broken else "arrangement.kept",
        entity_type="loan",
        entity_ref=arrangement.loan_ref,
        details={
            "arrangement_id": arrangement_id,
            "kind": str(arrangement.kind),
            "before": {"status": ArrangementStatus.active.value},
            "after": {"status": after.value},
            "instalments_cancelled": int(cancelled or 0),
            # A defaulted plan returns the account to collections; a kept settlement's
            # discount is for the lender's core system to write down.
        },
    )
    return after
