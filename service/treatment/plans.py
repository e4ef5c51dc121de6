"""Treatment plans as stored data: versions per portfolio, the active one, checks on the way in.

The plan's rules are read by treatment strategies (:mod:`strategies.treatment`); this module
keeps the versions (``treatment_plans``) and answers which plan treats which product.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import tomllib
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection

from service import audit
from service.clock import utcnow
from service.db.models import Loan, TreatmentPlan
from service.domain.contact import LOCALES
from service.errors import ValidationFailed
from service.treatment.messages import has_template
from strategies.registry import Registry, StrategyError
from strategies.treatment import PlanSpec, builtin_plan, parse_plan


@dataclasses.dataclass(frozen=True, slots=True)
class StoredPlan:
    id: int
    version: int
    spec: PlanSpec


# --- plans ---------------------------------------------------------------------------------------


async def install_default_plan(conn: AsyncConnection, actor: str = "system") -> None:
    """Store the built-in plan as version 1 of "standard" when no plan exists yet."""
    if await conn.scalar(select(func.count()).select_from(TreatmentPlan)):
        return
    await _insert_plan(conn, builtin_plan(), 1, actor)


async def store_plan(
    conn: AsyncConnection, data: dict[str, Any], registry: Registry, actor: str
) -> StoredPlan:
    """A new version of a plan (from its TOML/JSON form), checked before it is stored."""
    try:
        spec = parse_plan(data)
        registry.get(spec.strategy, "treatment")
    except (ValueError, StrategyError) as exc:
        raise ValidationFailed(str(exc)) from None
    missing = [
        f"{kind}/{locale}/{step.template}"
        for step in spec.steps
        if step.channel != "task"
        for kind in [{"sms": "sms", "call": "voice", "letter": "letters"}[step.channel]]
        for locale in LOCALES
        if not has_template(kind, step.template, locale)
    ]
    if missing:
        raise ValidationFailed(f"plan {spec.name}: no template {', '.join(missing)}")
    await install_default_plan(conn, actor)
    latest = await conn.scalar(
        select(func.max(TreatmentPlan.version)).where(TreatmentPlan.name == spec.name)
    )
    version = int(latest or 0) + 1
    plan_id = await _insert_plan(conn, spec, version, actor)
    await audit.record(
        conn,
        actor=actor,
        action="plan.stored",
        entity_type="treatment_plan",
        entity_ref=f"{spec.name}@{version}",
        details={"portfolio": spec.portfolio, "steps": len(spec.steps)},
    )
    return StoredPlan(plan_id, version, spec)


async def load_plan_file(
    conn: AsyncConnection, path: Path, registry: Registry, actor: str
) -> StoredPlan:
    try:
        data = tomllib.loads(await asyncio.to_thread(path.read_text, "utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValidationFailed(f"{path}: {exc}") from None
    return await store_plan(conn, data, registry, actor)


async def _insert_plan(conn: AsyncConnection, spec: PlanSpec, version: int, actor: str) -> int:
    # Earlier versions for the same portfolio stop being used.
    await conn.execute(
        update(TreatmentPlan)
        .where(TreatmentPlan.portfolio == spec.portfolio, TreatmentPlan.active.is_(True))
        .values(active=False)
    )
    result = await conn.execute(
        insert(TreatmentPlan).values(
            name=spec.name,
            version=version,
            portfolio=spec.portfolio,
            strategy=spec.strategy,
            definition=json.dumps(spec.as_dict(), ensure_ascii=False),
            active=True,
            created_by=actor,
            created_at=utcnow(),
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


async def active_plans(conn: AsyncConnection) -> list[StoredPlan]:
    rows = await conn.execute(
        select(TreatmentPlan.id, TreatmentPlan.version, TreatmentPlan.definition)
        .where(TreatmentPlan.active.is_(True))
        .order_by(TreatmentPlan.portfolio)
    )
    return [StoredPlan(pid, version, parse_plan(json.loads(text_))) for pid, version, text_ in rows]


async def list_plans(conn: AsyncConnection) -> list[dict[str, Any]]:
    rows = await conn.execute(
        select(
            TreatmentPlan.name,
            TreatmentPlan.version,
            TreatmentPlan.portfolio,
            TreatmentPlan.strategy,
            TreatmentPlan.active,
            TreatmentPlan.created_by,
            TreatmentPlan.created_at,
            TreatmentPlan.definition,
        ).order_by(TreatmentPlan.name, TreatmentPlan.version)
    )
    return [
        {
            "name": r.name,
            "version": r.version,
            "portfolio": r.portfolio,
            "strategy": r.strategy,
            "active": r.active,
            "created_by": r.created_by,
            "created_at": r.created_at,
            "steps": [s["key"] for s in json.loads(r.definition)["steps"]],
        }
        for r in rows
    ]


def plan_for(plans: dict[str, StoredPlan], product: str) -> StoredPlan | None:
    return plans.get(product) or plans.get("")


def product_filter(plans: dict[str, StoredPlan], portfolio: str) -> Any:
    """Loans that ``portfolio``'s plan treats: its product, or (for "") products without one."""
    if portfolio:
        return Loan.product == portfolio
    others = [p for p in plans if p]
    return Loan.product.not_in(others) if others else true()


async def plans_by_portfolio(conn: AsyncConnection) -> dict[str, StoredPlan]:
    """The active plans by portfolio; the built-in plan (not yet stored) when there are none."""
    stored = {plan.spec.portfolio: plan for plan in await active_plans(conn)}
    return stored or {"": StoredPlan(0, 0, builtin_plan())}
