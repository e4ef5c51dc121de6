"""Treatment plans over the API: the versions, a new version, and the dry run of a day (a job)."""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import Field, StringConstraints

from service.auth import CurrentUser
from service.db.models import JobKind
from service.domain.casework import TaskKind
from service.treatment import plans
from service.web.api.framework import STAFF, Api, In, Out
from service.web.api.jobs import JobOut
from service.web.api.schemas import Day, Instant, Items, MoneyIn, Name
from service.web.keys import ENGINE, JOBS, STRATEGIES
from strategies.treatment import LOST_CONTACT_MAX_DAYS, StepChannel
from workers.jobs import get_job, submit

api = Api("plans")


# Days and counts in a plan: whole numbers in a range a portfolio could mean (a century of days).
Days = Annotated[int, Field(ge=0, le=36_500)]
Count = Annotated[int, Field(ge=1, le=1_000)]
# Template names become file names: letters, digits and underscores (strategies.treatment).
Template = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_]{1,56}$")]
# When a step runs, debtor-local: HH:MM.
ClockTime = Annotated[str, StringConstraints(pattern=r"^(?:[01][0-9]|2[0-3]):[0-5][0-9]$")]
Names = Annotated[list[Name], Field(max_length=50)]


class PlanCalls(In):
    from_dpd: Annotated[Days, Field(ge=1)] = Field(
        3, description="collector and automated calls start at this DPD (T+3)"
    )
    per_day: Count = Field(3, description="calls a day to the debtor (the profile caps it too)")


class PlanLostContact(In):
    after_days: Annotated[Days, Field(ge=1, le=LOST_CONTACT_MAX_DAYS)] = Field(
        3, description="days of calls without reaching the debtor → 失联"
    )


class StepWhen(In):
    """Conditions of a step; every one given must hold (docs/treatment.md)."""

    days_before_due: Days | None = None
    min_dpd: Days | None = None
    max_dpd: Days | None = None
    buckets: Names | None = None
    tiers: Names | None = None
    risk_classes: Names | None = None
    lost_contact: bool | None = None
    min_outstanding: MoneyIn | None = None
    max_outstanding: MoneyIn | None = None
    days_before_maturity: Days | None = None
    after_maturity: bool | None = None
    min_failed_visits: Days | None = None
    max_failed_visits: Days | None = None
    days_before_promise: Days | None = None
    days_since_missed_promise: Days | None = None


class PlanStep(In):
    key: Name
    channel: StepChannel
    template: Template | None = Field(None, description="sms, call and letter steps")
    task: TaskKind | None = Field(None, description="task steps")
    at: ClockTime = Field("09:00", description="debtor-local time, HH:MM")
    once: bool | None = Field(None, description="default: letters and tasks once per loan")
    when: StepWhen = Field(default_factory=lambda: StepWhen())


class PlanDefinition(In):
    """A plan in the form of its TOML file (``strategies/plans/standard.toml``)."""

    name: Name
    portfolio: str = Field(
        "", max_length=64, description='a loan product; "" treats every product without one'
    )
    strategy: Name = "plan_steps"
    calls: PlanCalls = Field(default_factory=lambda: PlanCalls())
    lost_contact: PlanLostContact = Field(default_factory=lambda: PlanLostContact())
    steps: list[PlanStep] = Field(min_length=1, max_length=200)


class PlanSummary(Out):
    name: str
    version: int
    portfolio: str
    strategy: str
    active: bool
    created_by: str
    created_at: Instant
    steps: list[str]


class StoredStep(Out):
    key: str
    channel: StepChannel
    template: str | None = None
    task: str | None = None
    at: str
    once: bool
    when: dict[str, Any]


class StoredPlan(Out):
    name: str
    version: int
    portfolio: str
    strategy: str
    calls: dict[str, int]
    lost_contact: dict[str, int]
    steps: list[StoredStep]


class DryRun(In):
    day: Day = Field(alias="for", description="the day to plan, written nowhere")


@api.get("/api/plans", summary="Every version of every plan", roles=STAFF)
async def list_plans(request: web.Request) -> Items[PlanSummary]:
    async with request.app[ENGINE].begin() as conn:
        await plans.install_default_plan(conn)
        items = await plans.list_plans(conn)
    return Items[PlanSummary](items=[PlanSummary.model_validate(item) for item in items])


@api.post("/api/plans", summary="Store a new version of a plan", roles=STAFF, status=201)
async def store_plan(request: web.Request, user: CurrentUser, body: PlanDefinition) -> StoredPlan:
    """Checked before it is stored (every template in every locale, the strategy registered);
    the new version replaces the portfolio's active one."""
    definition = body.model_dump(exclude_unset=True, exclude_none=True, mode="json")
    async with request.app[ENGINE].begin() as conn:
        stored = await plans.store_plan(conn, definition, request.app[STRATEGIES], user.username)
    return StoredPlan.model_validate(
        {"name": stored.spec.name, "version": stored.version, **stored.spec.as_dict()}
    )


@api.post(
    "/api/plans/dry-run",
    summary="What a day's plan would send, call and block — as a job, written nowhere",
    roles=STAFF,
    status=202,
)
async def dry_run(request: web.Request, user: CurrentUser, body: DryRun) -> JobOut:
    """``arrears plan --dry-run --for DATE``: close of business for the day when it has not run
    (rolled back), then the plan, counted by channel, step and reason."""
    job_id = await submit(
        request.app[ENGINE],
        request.app[JOBS],
        JobKind.dry_run,
        {"for": body.day.isoformat()},
        user.username,
    )
    return JobOut.of(await get_job(request.app[ENGINE], job_id))
