"""The compliance report: what the guard stopped (blocked, deferred or sent for review) over the
lender's days, counted by reason, and the decisions behind each count — for the supervisors'
page, its CSV download and ``GET /api/compliance/report``.

A decision stops a contact for one or more reasons (``reasons`` holds the codes, comma
separated): it counts once under each of them and once in its verdict's total."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from service.db.models import GuardDecision, Loan
from service.domain.compliance import Verdict
from service.errors import NotFound
from service.portfolio.attempts_export import check_period

# What the report is about: every verdict but the one that let the contact go.
STOPPED = (Verdict.block.value, Verdict.defer.value, Verdict.review.value)


def _period(start: dt.date, end: dt.date, lender_zone: str) -> list[ColumnElement[bool]]:
    """Decisions made on the lender's days ``start`` to ``end`` (inclusive)."""
    check_period(start, end)
    zone = ZoneInfo(lender_zone)
    since = dt.datetime.combine(start, dt.time(), zone).astimezone(dt.UTC)
    until = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), zone).astimezone(dt.UTC)
    return [GuardDecision.decided_at >= since, GuardDecision.decided_at < until]


def _codes(reasons: str | None) -> list[str]:
    return [code for code in (reasons or "").split(",") if code]


async def stopped_by_reason(
    conn: AsyncConnection, start: dt.date, end: dt.date, lender_zone: str
) -> dict[str, Any]:
    """``{"totals": {verdict: n}, "reasons": [{"reason", "block", "defer", "review", "total"}]}``,
    the reasons most often met first. Counted in SQL by (verdict, reasons) — few distinct
    combinations however many decisions — then split into codes here."""
    rows = await conn.execute(
        select(GuardDecision.verdict, GuardDecision.reasons, func.count())
        .where(GuardDecision.verdict.in_(STOPPED), *_period(start, end, lender_zone))
        .group_by(GuardDecision.verdict, GuardDecision.reasons)
    )
    totals = dict.fromkeys(STOPPED, 0)
    by_reason: dict[str, dict[str, int]] = {}
    for verdict, reasons, count in rows:
        totals[verdict] += count
        for code in _codes(reasons) or ["—"]:
            counts = by_reason.setdefault(code, dict.fromkeys(STOPPED, 0))
            counts[verdict] += count
    listed: list[dict[str, Any]] = [
        {"reason": code, **counts, "total": sum(counts.values())}
        for code, counts in by_reason.items()
    ]
    listed.sort(key=lambda item: (-int(item["total"]), str(item["reason"])))
    return {"totals": totals, "reasons": listed}


def _with_reason(code: str) -> ColumnElement[bool]:
    # The codes are comma separated: match a whole code, not one that contains it.
    return (literal(",") + GuardDecision.reasons + literal(",")).like(f"%,{code},%")


async def stopped_decisions(
    conn: AsyncConnection,
    start: dt.date,
    end: dt.date,
    lender_zone: str,
    *,
    reason: str | None = None,
    verdict: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> dict[str, Any]:
    """The stopping decisions of the period (one reason's, one verdict's), newest first."""
    conditions = [GuardDecision.verdict.in_(STOPPED), *_period(start, end, lender_zone)]
    if reason:
        conditions.append(_with_reason(reason))
    if verdict:
        conditions.append(GuardDecision.verdict == verdict)
    total = await conn.scalar(select(func.count()).select_from(GuardDecision).where(*conditions))
    rows = await conn.execute(
        _decisions()
        .where(*conditions)
        .order_by(GuardDecision.decided_at.desc(), GuardDecision.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return {"total": int(total or 0), "items": [_view(row, full=False) for row in rows]}


async def show_decision(conn: AsyncConnection, decision_id: int) -> dict[str, Any]:
    """One decision with the facts it was made from."""
    row = (await conn.execute(_decisions().where(GuardDecision.id == decision_id))).one_or_none()
    if row is None:
        raise NotFound(f"guard decision {decision_id} not found")
    return _view(row, full=True)


def _decisions() -> Any:
    return select(GuardDecision, Loan.loan_ref).join(Loan, Loan.id == GuardDecision.loan_id)


def _view(row: Any, full: bool) -> dict[str, Any]:
    view = {
        "id": row.id,
        "loan_ref": row.loan_ref,
        "stage": row.stage,
        "party": row.party,
        "channel": row.channel,
        "verdict": row.verdict,
        "reasons": _codes(row.reasons),
        "contact_at": row.contact_at,
        "next_allowed_at": row.next_allowed_at,
        "decided_at": row.decided_at,
        "idempotency_key": row.idempotency_key,
    }
    if full:
        try:
            inputs = json.loads(row.inputs or "{}")
        except ValueError:  # kept as written: the facts are shown, never lost
            inputs = {"raw": row.inputs}
        view["inputs"] = inputs if isinstance(inputs, dict) else {"value": inputs}
    return view
