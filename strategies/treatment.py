"""Treatment: which steps of a plan an account gets on a day (reminders, calls, letters, tasks).

A plan is data (``strategies/plans/*.toml``, stored versioned in ``treatment_plans``); a
treatment strategy reads it. The built-in ``plan_steps`` takes every step whose conditions
match; an outside package may register another (kind ``treatment``) that, say, skips the
due-day SMS for good payers. Strategies see plain data: no database, no clock, no settings.

A step's ``when`` keys, all of which must hold:

* ``days_before_due``: the next unpaid installment falls due that many days after the day
  (0: the due day);
* ``min_dpd`` / ``max_dpd``: days past due, inclusive;
* ``buckets``, ``tiers``, ``risk_classes``: lists of names;
* ``lost_contact``: true or false (失联);
* ``min_outstanding`` / ``max_outstanding``: amounts, inclusive / exclusive;
* ``days_before_maturity``: maturity falls that many days after the day;
* ``after_maturity``: true: the loan is past its maturity and not paid off;
* ``min_failed_visits`` / ``max_failed_visits``: field visits that found nobody, inclusive;
* ``days_before_promise``: the next pending promise to pay falls due that many days after the
  day (1: the reminder the day before);
* ``days_since_missed_promise``: a promise was found broken or partially kept that many days
  before the day (0: the night it was missed — the follow-up).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import tomllib
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from importlib import resources
from typing import Any, ClassVar, Literal, Protocol

from service.domain.casework import TaskKind
from strategies.types import Strategy


class StepChannel(enum.StrEnum):
    """How a plan's step reaches the account: a message, a letter, or a task for people."""

    sms = "sms"
    call = "call"
    letter = "letter"
    task = "task"


CHANNELS = tuple(channel.value for channel in StepChannel)
NAME_LENGTH = 64  # names, keys and templates are stored in columns of this size
TASK_KINDS = tuple(kind.value for kind in TaskKind)
WHEN_KEYS = frozenset(
    {
        "days_before_due",
        "min_dpd",
        "max_dpd",
        "buckets",
        "tiers",
        "risk_classes",
        "lost_contact",
        "min_outstanding",
        "max_outstanding",
        "days_before_maturity",
        "after_maturity",
        "min_failed_visits",
        "max_failed_visits",
        "days_before_promise",
        "days_since_missed_promise",
    }
)
_INT_KEYS = (
    "days_before_due",
    "min_dpd",
    "max_dpd",
    "days_before_maturity",
    "min_failed_visits",
    "max_failed_visits",
    "days_before_promise",
    "days_since_missed_promise",
)


# The most days of calls a plan may require before the debtor is lost (失联): the guard judges
# reachability from the contact history it loads, one day longer (service.treatment.facts).
LOST_CONTACT_MAX_DAYS = 13


@dataclasses.dataclass(frozen=True, slots=True)
class TreatmentAccount:
    """One open loan on the planning day, with what the steps' conditions read."""

    loan_id: int
    loan_ref: str
    product: str
    bucket: str
    amount_tier: str
    days_past_due: int
    outstanding: Decimal
    risk_class: str
    lost_contact: bool
    days_to_due: int | None  # the next unpaid installment, from the day (None: none left)
    days_to_maturity: int  # negative once past maturity
    failed_visits: int = 0  # field visits that found nobody, in the current lost-contact episode
    lost_since: dt.date | None = None  # the day contact was lost (this episode)
    closed_visits: int = 0  # field visits of this episode already closed, however they ended
    days_to_promise: int | None = None  # the next pending promise's date, from the day
    days_since_missed_promise: int | None = None  # the last broken or partially kept one


@dataclasses.dataclass(frozen=True, slots=True)
class Step:
    key: str
    channel: str  # sms | call | letter | task
    template: str  # sms/call/letter template, or the task kind
    at: dt.time  # debtor-local time to contact (tasks: ignored)
    once: bool  # one-off for the loan (letters, tasks) rather than once a day
    when: Mapping[str, Any]


@dataclasses.dataclass(frozen=True, slots=True)
class PlanSpec:
    name: str
    portfolio: str  # a loan product; "" = every product without a plan of its own
    strategy: str
    lost_contact_after_days: int  # days of calls without reaching the debtor → 失联
    calls_from_dpd: int  # collector and automated calls start at this DPD (T+3)
    calls_per_day: int  # calls a day to the debtor, whoever makes them (the profile caps it too)
    steps: tuple[Step, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "portfolio": self.portfolio,
            "strategy": self.strategy,
            "calls": {"from_dpd": self.calls_from_dpd, "per_day": self.calls_per_day},
            "lost_contact": {"after_days": self.lost_contact_after_days},
            "steps": [
                {
                    "key": s.key,
                    "channel": s.channel,
                    ("task" if s.channel == "task" else "template"): s.template,
                    "at": s.at.strftime("%H:%M"),
                    "once": s.once,
                    "when": dict(s.when),
                }
                for s in self.steps
            ],
        }


class TreatmentStrategy(Strategy, Protocol):
    """The steps of ``plan`` that ``account`` gets on ``day``."""

    def plan(self, account: TreatmentAccount, plan: PlanSpec, day: dt.date) -> list[Step]: ...


def matches(when: Mapping[str, Any], account: TreatmentAccount) -> bool:
    def within(value: int, low_key: str, high_key: str) -> bool:
        low, high = when.get(low_key), when.get(high_key)
        return (low is None or value >= low) and (high is None or value <= high)

    if "days_before_due" in when and account.days_to_due != when["days_before_due"]:
        return False
    if "days_before_promise" in when and account.days_to_promise != when["days_before_promise"]:
        return False
    if (
        "days_since_missed_promise" in when
        and account.days_since_missed_promise != when["days_since_missed_promise"]
    ):
        return False
    if not within(account.days_past_due, "min_dpd", "max_dpd"):
        return False
    if not within(account.failed_visits, "min_failed_visits", "max_failed_visits"):
        return False
    for key, value in (
        ("buckets", account.bucket),
        ("tiers", account.amount_tier),
        ("risk_classes", account.risk_class),
    ):
        if key in when and value not in when[key]:
            return False
    if "lost_contact" in when and account.lost_contact is not when["lost_contact"]:
        return False
    if "min_outstanding" in when and account.outstanding < Decimal(when["min_outstanding"]):
        return False
    if "max_outstanding" in when and account.outstanding >= Decimal(when["max_outstanding"]):
        return False
    if "days_before_maturity" in when and account.days_to_maturity != when["days_before_maturity"]:
        return False
    if "after_maturity" in when:
        past = account.days_to_maturity < 0 and account.outstanding > 0
        if past is not when["after_maturity"]:
            return False
    return True


class PlanSteps:
    """Every step of the plan whose conditions match, in the plan's order."""

    name: ClassVar[str] = "plan_steps"
    kind: ClassVar[Literal["treatment"]] = "treatment"

    def plan(self, account: TreatmentAccount, plan: PlanSpec, day: dt.date) -> list[Step]:
        return [step for step in plan.steps if matches(step.when, account)]


# --- plans as data -------------------------------------------------------------------------------


def parse_plan(data: Mapping[str, Any]) -> PlanSpec:
    """A plan from its TOML/JSON form; every mistake is refused with the step and key named."""
    name = data.get("name")
    if not isinstance(name, str) or not name or len(name) > NAME_LENGTH:
        raise ValueError(f"a plan needs a name of 1 to {NAME_LENGTH} characters")
    portfolio = data.get("portfolio", "")
    if not isinstance(portfolio, str) or len(portfolio) > NAME_LENGTH:
        raise ValueError(f"plan {name}: portfolio must be a product name (or empty)")
    strategy = data.get("strategy", "plan_steps")
    if not isinstance(strategy, str) or not strategy or len(strategy) > NAME_LENGTH:
        raise ValueError(f"plan {name}: strategy must be a strategy's name")
    for table in ("calls", "lost_contact"):
        if not isinstance(data.get(table, {}), Mapping):
            raise ValueError(f"plan {name}: {table} must be a table")
    unknown = set(data) - {"name", "portfolio", "strategy", "calls", "lost_contact", "steps"}
    if unknown:
        raise ValueError(f"plan {name}: unknown keys {sorted(unknown)}")
    lost, calls = data.get("lost_contact", {}), data.get("calls", {})
    if set(lost) - {"after_days"} or set(calls) - {"from_dpd", "per_day"}:
        raise ValueError(
            f"plan {name}: lost_contact takes after_days; calls take from_dpd and per_day"
        )
    after = lost.get("after_days", 3)
    calls_from, per_day = calls.get("from_dpd", 3), calls.get("per_day", 3)
    for value in (after, calls_from, per_day):
        if not (isinstance(value, int) and value >= 1):
            raise ValueError(
                f"plan {name}: lost_contact after_days, calls from_dpd and per_day are "
                "whole numbers from 1"
            )
    if after > LOST_CONTACT_MAX_DAYS:
        raise ValueError(
            f"plan {name}: lost_contact after_days is at most {LOST_CONTACT_MAX_DAYS} (the "
            "contact history the guard judges reachability from)"
        )
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise ValueError(f"plan {name}: steps must be a non-empty list")
    steps = tuple(_step(name, raw) for raw in raw_steps)
    keys = [s.key for s in steps]
    if len(set(keys)) != len(keys):
        raise ValueError(f"plan {name}: step keys must be unique")
    return PlanSpec(
        name=name,
        portfolio=portfolio,
        strategy=strategy,
        lost_contact_after_days=after,
        calls_from_dpd=calls_from,
        calls_per_day=per_day,
        steps=steps,
    )


def _step(plan: str, raw: Any) -> Step:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("key"), str) or not raw["key"]:
        raise ValueError(f"plan {plan}: every step needs a key")
    key = raw["key"]
    if len(key) > NAME_LENGTH:
        raise ValueError(f"plan {plan}: step key {key[:20]}... is over {NAME_LENGTH} characters")
    where = f"plan {plan}, step {key}"
    unknown = set(raw) - {"key", "channel", "template", "task", "at", "once", "when"}
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
    channel = raw.get("channel")
    if channel not in CHANNELS:
        raise ValueError(f"{where}: channel must be one of {', '.join(CHANNELS)}")
    if channel == "task":
        template = raw.get("task")
        if template not in TASK_KINDS:
            raise ValueError(f"{where}: task must be one of {', '.join(TASK_KINDS)}")
    else:
        template = raw.get("template")
        if not isinstance(template, str) or not template:
            raise ValueError(f"{where}: a template is required")
        # Template names become file names: letters, digits and underscores only.
        if not template.replace("_", "").isalnum() or len(template) > NAME_LENGTH - 8:
            raise ValueError(f"{where}: template must be a short name of letters and _")
    try:
        at = dt.time.fromisoformat(raw.get("at", "09:00"))
    except (TypeError, ValueError):
        raise ValueError(f"{where}: at must be a time like 09:30") from None
    if not isinstance(raw.get("when", {}), Mapping):
        raise ValueError(f"{where}: when must be a table of conditions")
    when = dict(raw.get("when", {}))
    bad = set(when) - WHEN_KEYS
    if bad:
        raise ValueError(f"{where}: unknown conditions {sorted(bad)}")
    for name in _INT_KEYS:
        if name in when and not isinstance(when[name], int):
            raise ValueError(f"{where}: {name} must be a whole number")
    for name in ("buckets", "tiers", "risk_classes"):
        if name in when and not (
            isinstance(when[name], list) and all(isinstance(v, str) for v in when[name])
        ):
            raise ValueError(f"{where}: {name} must be a list of names")
    for name in ("lost_contact", "after_maturity"):
        if name in when and not isinstance(when[name], bool):
            raise ValueError(f"{where}: {name} must be true or false")
    for name in ("min_outstanding", "max_outstanding"):
        if name in when:
            try:
                when[name] = str(Decimal(str(when[name])))
            except InvalidOperation:
                raise ValueError(f"{where}: {name} must be an amount") from None
    once = raw.get("once", channel in ("letter", "task"))
    if not isinstance(once, bool):
        raise ValueError(f"{where}: once must be true or false")
    return Step(key, channel, template, at, once, when)


def builtin_plan(name: str = "standard") -> PlanSpec:
    """A plan shipped with Arrears (``strategies/plans/NAME.toml``)."""
    text = resources.files("strategies.plans").joinpath(f"{name}.toml").read_text("utf-8")
    return parse_plan(tomllib.loads(text))
