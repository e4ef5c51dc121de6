"""A portfolio with N reminders due now, for the dispatch fault test, the dispatch benchmark and
load trials: N borrowers (one confirmed zone where it is midday now, so the guard's window
is open for hours; SMS consent; a distinct mobile number each), one late loan each, and one
planned overdue SMS each, pending and due — what a night's plan leaves for the morning.

Written with bulk inserts in chunks: 100,000 rows take seconds, and memory stays flat.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from service.db.models import (
    Borrower,
    Loan,
    LoanStatus,
    OutboxMessage,
    OutboxStatus,
    PhoneNumber,
    TreatmentPlan,
)
from service.db.models.portfolio import PhoneKind
from service.domain.compliance import TimezoneSource
from service.treatment.plans import install_default_plan

CHUNK = 5000


def midday_zone(now: dt.datetime) -> str:
    """An IANA zone where ``now`` is about noon (Etc/GMT-N is N hours *ahead* of UTC)."""
    offset = ((12 - now.astimezone(dt.UTC).hour + 12) % 24) - 12
    if offset == 0:
        return "Etc/GMT"
    return f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


def phone_for(index: int) -> str:
    """A distinct, valid Chinese mobile number per index (+86 139 …)."""
    return f"+86139{index:08d}"


async def seed_due_reminders(
    engine: AsyncEngine, count: int, now: dt.datetime, *, prefix: str = "LD"
) -> str:
    """Write ``count`` borrowers, loans and due SMS rows; returns the zone they live in."""
    zone = midday_zone(now)
    today = now.date()
    async with engine.begin() as conn:
        await install_default_plan(conn)
        plan_id = int(await conn.scalar(select(func.min(TreatmentPlan.id))) or 0)
    for start in range(0, count, CHUNK):
        indices = range(start, min(count, start + CHUNK))
        async with engine.begin() as conn:
            borrower_ids = await _insert_returning(
                conn,
                Borrower,
                [
                    {
                        "borrower_ref": f"{prefix}B{i:07d}",
                        "name": f"客户{i}",
                        "locale": "zh-CN",
                        "region": "",
                        "address": "",
                        "timezone": zone,
                        "timezone_candidates": zone,
                        "timezone_source": TimezoneSource.confirmed,
                        "sms_consent": True,
                        "credit_coefficient": Decimal(1),
                    }
                    for i in indices
                ],
            )
            await conn.execute(
                insert(PhoneNumber),
                [
                    {
                        "borrower_id": borrower_id,
                        "e164": phone_for(i),
                        "kind": PhoneKind.primary,
                        "line_type": "mobile",
                    }
                    for i, borrower_id in zip(indices, borrower_ids, strict=True)
                ],
            )
            loan_ids = await _insert_returning(
                conn,
                Loan,
                [
                    {
                        "loan_ref": f"{prefix}L{i:07d}",
                        "borrower_id": borrower_id,
                        "currency": "CNY",
                        "principal": Decimal("3000.00"),
                        "annual_rate": Decimal("0.12"),
                        "disbursed_on": today - dt.timedelta(days=120),
                        "maturity_on": today + dt.timedelta(days=240),
                        "status": LoanStatus.open,
                        "state_as_of": today,
                        "days_past_due": 15,
                        "bucket": "M1",
                        "overdue_amount": Decimal("500.00"),
                        "outstanding": Decimal("3000.00"),
                    }
                    for i, borrower_id in zip(indices, borrower_ids, strict=True)
                ],
            )
            await conn.execute(
                insert(OutboxMessage),
                [
                    _row(i, loan_id, plan_id, today, now)
                    for i, loan_id in zip(indices, loan_ids, strict=True)
                ],
            )
    return zone


async def _insert_returning(conn: Any, model: Any, rows: list[dict[str, Any]]) -> list[int]:
    """Insert and return the new ids in the rows' order (refs are unique and ordered)."""
    await conn.execute(insert(model), rows)
    key = "borrower_ref" if model is Borrower else "loan_ref"
    column = getattr(model, key)
    refs = [row[key] for row in rows]
    found = dict((await conn.execute(select(column, model.id).where(column.in_(refs)))).all())
    return [int(found[ref]) for ref in refs]


def _row(index: int, loan_id: int, plan_id: int, day: dt.date, now: dt.datetime) -> dict[str, Any]:
    context = {
        "lender": "Arrears Demo Lender",
        "name": f"客户{index}",
        "loan_tail": f"{index:04d}"[-4:],
        "due_on": "",
        "amount_due": "",
        "currency": "CNY",
        "dpd": 15,
        "overdue_amount": "500.00",
    }
    return {
        "idempotency_key": f"{loan_id}:overdue_sms:{day.isoformat()}",
        "loan_id": loan_id,
        "plan_id": plan_id,
        "step": "overdue_sms",
        "channel": "sms",
        "party": "debtor",
        "phone": phone_for(index),
        "template": "overdue",
        "locale": "zh-CN",
        "context": json.dumps(context, ensure_ascii=False),
        "planned_for": day,
        "not_before": now - dt.timedelta(minutes=1),
        "status": OutboxStatus.pending,
        "reasons": "",
        "tries": 0,
        "created_at": now - dt.timedelta(hours=1),
        "updated_at": now - dt.timedelta(hours=1),
    }
