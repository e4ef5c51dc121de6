"""The built-in plan read by the built-in treatment strategy: which steps an account gets."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest

from strategies.registry import load_registry
from strategies.treatment import PlanSteps, TreatmentAccount, builtin_plan, parse_plan

DAY = dt.date(2026, 11, 25)
PLAN = builtin_plan()


def account(**changes: object) -> TreatmentAccount:
    base = TreatmentAccount(
        loan_id=1,
        loan_ref="L1",
        product="",
        bucket="M0",
        amount_tier="S",
        days_past_due=0,
        outstanding=Decimal("5000"),
        risk_class="normal",
        lost_contact=False,
        days_to_due=None,
        days_to_maturity=200,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def steps(**changes: object) -> list[str]:
    return [step.key for step in PlanSteps().plan(account(**changes), PLAN, DAY)]


def test_reminders_before_and_on_the_due_day_and_the_first_day_late() -> None:
    assert steps(days_to_due=3) == ["pre_due_sms"]
    assert steps(days_to_due=2) == []
    assert steps(days_to_due=0) == ["due_day_sms"]
    assert steps(days_past_due=1, bucket="M1") == ["overdue_sms"]
    assert steps(days_past_due=2, bucket="M1") == []


def test_calls_from_dpd_3_through_m1_unless_contact_is_lost() -> None:
    assert steps(days_past_due=3, bucket="M1") == ["reminder_call"]
    assert steps(days_past_due=30, bucket="M1") == ["reminder_call"]
    assert steps(days_past_due=31, bucket="M2") == []
    assert "reminder_call" not in steps(days_past_due=10, lost_contact=True)


def test_lost_contact_goes_to_a_field_visit_or_an_agency_by_balance_then_to_an_agency() -> None:
    big = Decimal("10000")
    assert steps(days_past_due=10, lost_contact=True, outstanding=big) == ["field_visit"]
    assert steps(days_past_due=10, lost_contact=True, outstanding=big - 1) == ["agency_placement"]
    one_failed = steps(days_past_due=40, lost_contact=True, outstanding=big, failed_visits=1)
    assert one_failed == ["field_visit"]
    two_failed = steps(days_past_due=40, lost_contact=True, outstanding=big, failed_visits=2)
    assert two_failed == ["agency_after_visits"]


def test_escalation_by_age_and_classification_and_the_two_letters() -> None:
    assert steps(days_past_due=91, bucket="M4") == ["legal_review"]
    assert steps(days_past_due=200, bucket="M7+", risk_class="loss") == [
        "legal_review",
        "write_off_proposal",
    ]
    assert steps(days_to_maturity=30) == ["due_notice"]
    assert steps(days_to_maturity=-1, days_past_due=1) == ["overdue_sms", "overdue_notice"]
    assert steps(days_to_maturity=-1, outstanding=Decimal(0)) == []


def test_the_builtin_treatment_is_registered_like_any_other_strategy() -> None:
    registry = load_registry()
    assert "plan_steps" in registry.names("treatment")
    assert registry.source("plan_steps").startswith("strategies.treatment:PlanSteps")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"steps": []}, "steps must be a non-empty list"),
        ({"color": "red"}, "unknown keys ['color']"),
        ({"steps": [{"key": "x", "channel": "fax", "template": "t"}]}, "channel must be"),
        ({"steps": [{"key": "x", "channel": "task", "task": "party"}]}, "task must be"),
        (
            {"steps": [{"key": "x", "channel": "sms", "template": "t", "when": {"dpd": 3}}]},
            "unknown conditions ['dpd']",
        ),
        (
            {"steps": [{"key": "x", "channel": "sms", "template": "t", "when": {"min_dpd": "3"}}]},
            "min_dpd must be a whole number",
        ),
        (
            {"steps": [{"key": "x", "channel": "sms", "template": "t", "at": "25:00"}]},
            "at must be a time",
        ),
        (
            {
                "steps": [
                    {"key": "x", "channel": "sms", "template": "t"},
                    {"key": "x", "channel": "sms", "template": "u"},
                ]
            },
            "step keys must be unique",
        ),
    ],
)
def test_a_bad_plan_is_refused_with_the_step_and_key_named(
    change: dict[str, object], message: str
) -> None:
    data = {**PLAN.as_dict(), **change}
    with pytest.raises(ValueError, match="plan standard") as caught:
        parse_plan(data)
    assert message in str(caught.value)


def test_a_plan_survives_its_stored_form() -> None:
    assert parse_plan(PLAN.as_dict()) == PLAN
