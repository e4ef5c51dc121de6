"""The sequence of the night: positions, lost contact, assignment, snapshots, the day's plan.

One transaction per close of business, one at a time (whichever worker or command starts it):
every loan is positioned (:mod:`service.cob.engine`); when the date is the latest run (and no
loan is positioned as of a later date), lost contact is marked, accounts whose segment changed
are re-assigned before the snapshot (so the snapshot says who owned each account that night),
and the day's treatment is planned into the outbox. Running a date again gives the same result;
snapshots are replaced.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service import audit
from service.assignment.run import assign
from service.casework.inspections import schedule_inspections
from service.casework.placements import recall_due
from service.cob import aggregates, engine
from service.contact.promise_keeping import keep_promises
from service.db import dialect, partitions
from service.domain.delinquency import CobConfig
from service.errors import ValidationFailed
from service.settings import Settings
from service.treatment.lost_contact import mark_lost_contact
from service.treatment.planner import PlanReport, plan_day
from strategies import Registry

log = structlog.get_logger(__name__)

# The lender's zone of a night without planning (whose settings name it): the settings'
# default. The dashboard's activity is counted by the lender's days.
DEFAULT_ZONE: str = next(
    f.default for f in dataclasses.fields(Settings) if f.name == "lender_timezone"
)  # type: ignore[assignment]
# Told the name of each step as the night reaches it (a job's progress); never awaited.
StepReport = Callable[[str], None]


def _quiet(step: str) -> None:
    pass


@dataclasses.dataclass(frozen=True, slots=True)
class Planning:
    """What a night needs beyond positions to assign and plan: the strategies and the settings
    naming them. Without it a close of business positions and snapshots only."""

    registry: Registry
    settings: Settings


@dataclasses.dataclass(frozen=True, slots=True)
class CobReport:
    as_of: dt.date
    loans: int
    steps: int
    seconds: float
    buckets: dict[str, int]
    resumed: int = 0  # loans continued from their stored settlement rather than replayed
    plan: PlanReport | None = None  # the day's treatment plan, when COB planned it
    not_planned: str | None = None  # why a night with planning asked for planned nothing

    def as_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "loans": self.loans,
            "steps": self.steps,
            "resumed": self.resumed,
            "buckets": self.buckets,
            "seconds": round(self.seconds, 3),
            "plan": self.plan.as_dict() if self.plan is not None else None,
            "not_planned": self.not_planned,
        }


async def run_cob(
    db: AsyncEngine,
    as_of: dt.date,
    config: CobConfig | None = None,
    actor: str = "cob",
    retention_days: int | None = None,
    planning: Planning | None = None,
    progress: StepReport = _quiet,
    lender_zone: str = DEFAULT_ZONE,
) -> CobReport:
    """Close of business for ``as_of``, in one transaction.

    ``retention_days`` drops snapshots and bucket changes older than that many days before
    ``as_of`` (kept forever when None). With ``planning``, when ``as_of`` is the latest date
    run, accounts are assigned and the day's treatment is planned.
    """
    started = time.perf_counter()
    await partitions.upkeep_in_own_transaction(db, as_of)  # PostgreSQL: the months ahead (0016)
    async with db.begin() as conn:
        report = await close_of_business(
            conn,
            as_of,
            config,
            actor,
            retention_days,
            planning,
            plan=None,
            progress=progress,
            lender_zone=lender_zone,
        )
    report = dataclasses.replace(report, seconds=time.perf_counter() - started)
    log.info(
        "cob.completed",
        as_of=as_of.isoformat(),
        loans=report.loans,
        resumed=report.resumed,
        steps=report.steps,
        seconds=round(report.seconds, 2),
    )
    return report


async def close_of_business(
    conn: AsyncConnection,
    as_of: dt.date,
    config: CobConfig | None,
    actor: str,
    retention_days: int | None,
    planning: Planning | None,
    plan: bool | None,
    progress: StepReport = _quiet,
    lender_zone: str = DEFAULT_ZONE,
) -> CobReport:
    """COB's work in the caller's transaction (``run_cob`` commits it; a dry run rolls it back).

    ``plan``: None plans (and assigns) only when ``as_of`` is the latest date run.
    """
    config = config or CobConfig()
    progress("waiting for any other close of business")
    await dialect.serialise(conn, "arrears.cob")
    await dialect.tune_for_batch(conn, work_mem="256MB", jit=False)
    progress("positions")
    settled = await engine.position_loans(conn, as_of, config)
    latest = await engine.latest_close(conn)
    lost = (0, 0)
    skipped: str | None = None
    if plan is None:
        # A back-filled night (an earlier date than the latest run, or than the loans' own
        # positions) writes its snapshots only: lost contact, assignment and the plan read the
        # loans' positions, which then are not the night's.
        positioned = await engine.latest_position(conn)
        plan = (latest is None or latest <= as_of) and (positioned is None or positioned <= as_of)
        if not plan:
            ahead = latest if latest is not None and latest > as_of else positioned
            assert ahead is not None
            skipped = (
                f"snapshots only: loans are positioned as of {ahead.isoformat()}, after "
                f"{as_of.isoformat()}"
            )
            log.warning("cob.back_filled", as_of=as_of.isoformat(), ahead=ahead.isoformat())
    kept = None
    if planning is not None and plan:
        settings = planning.settings
        # Before lost contact, assignment and the plan: a promise missed tonight ranks the
        # account higher and starts the plan's follow-up step tonight.
        progress("promises")
        kept = await keep_promises(conn, as_of, settings.promise_grace_days, actor=actor)
        progress("agency recalls")
        await recall_due(conn, as_of, actor)  # casework: agency placements due back (委外 recall)
        progress("lost contact")
        lost = await mark_lost_contact(conn, as_of, settings.lender_timezone, settings.cob_time)
        progress("assignment")
        await assign(conn, planning.registry, settings, as_of, reason="cob", actor=actor)
    progress("snapshot")
    buckets = await engine.snapshot(conn, as_of)
    progress("dashboard")
    zone = planning.settings.lender_timezone if planning is not None else lender_zone
    await aggregates.refresh_day(conn, as_of, zone)
    planned = None
    if planning is not None and plan:
        progress("planning")
        planned = await plan_day(conn, planning.registry, planning.settings, as_of, lost)
        # Post-loan inspections (贷后检查, docs/inspections.md): the loans due one get a task.
        await schedule_inspections(conn, as_of, planning.settings.inspection_policy(), actor=actor)
    if retention_days is not None:
        await engine.prune(conn, as_of, retention_days)
    await engine.record_run(conn, as_of, settled.loans, actor, config)
    details: dict[str, Any] = {"loans": settled.loans, "buckets": buckets}
    if skipped is not None and planning is not None:
        details["not_planned"] = skipped
    if kept is not None:
        details["promises"] = kept.as_dict()
    if planned is not None:
        details["planned"] = {f"{c}:{s}": n for (c, s), n in sorted(planned.contacts.items())}
    await audit.record(
        conn,
        actor=actor,
        action="cob.completed",
        entity_type="cob",
        entity_ref=as_of.isoformat(),
        details=details,
    )
    return CobReport(
        as_of=as_of,
        loans=settled.loans,
        steps=settled.steps,
        seconds=0.0,
        buckets=buckets,
        resumed=settled.resumed,
        plan=planned,
        not_planned=skipped if planning is not None else None,
    )


async def dry_run_plan(
    db: AsyncEngine,
    day: dt.date,
    config: CobConfig | None,
    planning: Planning,
    progress: StepReport = _quiet,
) -> PlanReport:
    """What ``day``'s plan would send, call and block, written nowhere.

    When ``day`` is not the date COB last ran, COB for ``day`` runs first (positions, lost
    contact, assignment), in the same transaction, which is rolled back with the plan.
    """
    async with db.connect() as conn:
        transaction = await conn.begin()
        try:
            latest = await engine.latest_close(conn)
            if latest is not None and latest > day:
                # Positions are those of the latest close; an earlier day cannot be replayed
                # without rewriting them.
                raise ValidationFailed(
                    f"close of business has run for {latest.isoformat()}: a dry run plans that "
                    "day or a later one",
                    details=[{"field": "for"}],
                )
            positioned = await engine.latest_position(conn)
            if positioned is not None and positioned > day:
                raise ValidationFailed(
                    f"loans are positioned as of {positioned.isoformat()} (an import or a "
                    "payment refreshed them): a dry run plans that day or a later one",
                    details=[{"field": "for"}],
                )
            if latest == day:
                progress("planning")
                return await plan_day(conn, planning.registry, planning.settings, day)
            report = await close_of_business(
                conn, day, config, "dry-run", None, planning, plan=True, progress=progress
            )
            assert report.plan is not None
            return report.plan
        finally:
            await transaction.rollback()
