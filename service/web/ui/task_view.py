"""What every task page shares: which tasks a user may see, reading a form's fields within the
API's bounds, a service's refusal put in the page's words, and the task page itself (shown
again, with the entered values and the refusal, when a form on it is refused)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections.abc import Mapping
from typing import Any, TypeVar

import pydantic
from aiohttp import web
from sqlalchemy import ColumnElement, and_, or_, true

from service.auth import CurrentUser
from service.casework import agencies, placements, visits
from service.casework.inspections import get_inspection
from service.casework.tasks import get_task
from service.casework.write_off import list_write_offs
from service.clock import lender_today
from service.db.models import Role, Task
from service.domain.agencies import PLACED
from service.domain.casework import LegalOutcome, TaskKind, TaskStatus, VisitOutcome
from service.domain.inspections import InspectionFinding, InspectionMethod, InspectionOutcome
from service.errors import ArrearsError, Conflict, NotFound, PermissionDenied, ValidationFailed
from service.portfolio.visibility import loan_visible
from service.web.api.framework import JsonBody, validated
from service.web.api.inspections import inspection_visible
from service.web.keys import CLOCK, ENGINE, SETTINGS
from service.web.ui.i18n import format_number
from service.web.ui.i18n import gettext as _
from service.web.ui.labels import label
from service.web.ui.render import render

STAFF_ROLES = (Role.supervisor, Role.admin)


def task_visible(user: CurrentUser) -> ColumnElement[bool]:
    """The tasks a user may see, each kind by its API's rule: an inspection as
    ``/api/inspections`` (a collector's queues' and those they own as the loan's officer),
    every other kind as ``/api/tasks`` (a collector's queues' accounts)."""
    if user.role is not Role.collector:
        return true()
    inspection = Task.kind == TaskKind.inspection.value
    return or_(
        and_(~inspection, loan_visible(user)),
        and_(inspection, inspection_visible(user)),
    )


def is_staff(user: CurrentUser) -> bool:
    return user.role in STAFF_ROLES


def lender_day(request: web.Request) -> dt.date:
    return lender_today(request.app[SETTINGS].lender_timezone, request.app[CLOCK].now())


# --- a form's fields -----------------------------------------------------------------------------

M = TypeVar("M", bound=pydantic.BaseModel)


def api_body(model: type[M], values: Mapping[str, Any]) -> M:
    """A form's fields checked as the API checks its JSON body: the same model, so the same
    bounds and the same refusals (ValidationFailed naming the fields)."""
    return validated(model, JsonBody(json.dumps(values).encode(), dict(values)))


def field_text(form: Mapping[str, Any], name: str) -> str:
    """A text field as typed, less the spaces and line ends a text box leaves around it."""
    return str(form.get(name, "") or "").strip()


def optional(form: Mapping[str, Any], name: str) -> str | None:
    """A field left empty is a field not sent."""
    return field_text(form, name) or None


def page_number(raw: str | None) -> int:
    try:
        return max(1, min(int(raw or 1), 100_000))
    except ValueError:
        return 1


# --- a refusal in the page's words ---------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Problem:
    """A refused form: what the page says (translated) and the service's own words beside it."""

    text: str
    detail: str
    status: int
    fields: tuple[str, ...] = ()


def _field_messages() -> dict[str, str]:
    promise = _("A promise needs a positive amount (two decimals at most) and a date from today.")
    return {
        "outcome": _("Choose what came of it."),
        "status": _("That outcome does not go with that state."),
        "promise": promise,
        "promise.amount": promise,
        "promise.promised_on": promise,
        "promise_amount": promise,
        "promise_on": promise,
        "photo": _("A photo is a JPEG, PNG or WebP image."),
        "note": _("Say why, in at most 2,000 characters."),
        "reason": _("Give the reason, in at most 2,000 characters."),
        "recall_on": _("The recall date is after today."),
        "agency_ref": _("Choose an agency."),
        "method": _("Choose how the inspection was done."),
        "findings": _("Choose findings from the list."),
        "notes": _("Notes are at most 2,000 characters."),
        "inspected_on": _(
            "The day of the inspection is not in the future, nor before the loan was disbursed."
        ),
        "commission_rate": _("The commission is a percentage above 0 and below 100."),
        "name": _("Give the agency's name."),
    }


def problem(exc: ArrearsError, photo_limit: int | None = None) -> Problem:
    """The page's words for a service's refusal, with the status an API client would get."""
    rule = exc.details.get("rule") if isinstance(exc.details, dict) else None
    fields: tuple[str, ...] = ()
    if isinstance(exc.details, list):
        fields = tuple(
            re.sub(r"\[[0-9]+\]", "", str(d.get("field", "")))
            for d in exc.details
            if isinstance(d, dict)
        )
    status = 400
    if rule == "maker_checker":
        text = _(
            "Maker-checker: the proposer of a write-off cannot approve or reject it. Another "
            "supervisor or an administrator decides it."
        )
        status = 409
    elif rule == "admin_required":
        text = _("A write-off above the largest amount tier is decided by an administrator.")
        status = 403
    elif isinstance(exc, visits.PhotoTooLarge):
        limit = format_number(round((photo_limit or 0) / 1024 / 1024, 1))
        text = _("A photo is at most %(size)s MB.", size=limit)
        status = 413
    elif isinstance(exc, NotFound):
        text, status = _("Not found."), 404
    elif isinstance(exc, PermissionDenied):
        text, status = _("You may not do this."), 403
    elif isinstance(exc, Conflict):
        text = _("This cannot be done any more: the task or the account has changed.")
        status = 409
    elif isinstance(exc, ValidationFailed):
        messages = _field_messages()
        known = [messages[f] for f in fields if f in messages]
        text = " ".join(dict.fromkeys(known)) or _("Please correct the form.")
        status = 422
    else:
        text = _("This could not be done.")
    return Problem(text, exc.message, status, fields)


# --- the task page -------------------------------------------------------------------------------


def outcome_label(kind: str, outcome: str | None) -> str:
    """A closed task's outcome in the page's words, by its kind's list."""
    if outcome is None:
        return "—"
    lists: dict[str, str] = {
        TaskKind.field_visit: "visit_outcome",
        TaskKind.legal_review: "legal_outcome",
        TaskKind.inspection: "inspection_outcome",
    }
    if kind in lists:
        return label(outcome, lists[kind])
    if outcome == PLACED:
        return _("Placed with an agency")
    if outcome == "proposed":
        return _("Write-off proposed")
    return outcome


FLASHES = {
    "visit": lambda: _("The visit is recorded."),
    "photos": lambda: _("The photos are attached."),
    "legal": lambda: _("The legal review is recorded."),
    "inspection": lambda: _("The inspection is recorded."),
    "placed": lambda: _("The account is placed with the agency."),
    "recalled": lambda: _("The account is recalled from the agency."),
    "cancelled": lambda: _("The task is called off."),
}


def flash_for(request: web.Request) -> str | None:
    message = FLASHES.get(request.query.get("flash", ""))
    return message() if message else None


def _entered(form: Mapping[str, Any] | None) -> dict[str, Any]:
    """What the refused form held, to show it again (every finding ticked, not only one)."""
    if form is None:
        return {}
    values = {name: form[name] for name in form if name != "csrf_token"}
    getall = getattr(form, "getall", None)
    if getall is not None:
        values["findings"] = [str(f) for f in getall("findings", [])]
    return values


async def task_page(
    request: web.Request,
    user: CurrentUser,
    task_id: int,
    *,
    refused: Problem | None = None,
    entered: Mapping[str, Any] | None = None,
) -> web.Response:
    """A task with its account and the outcome form of its kind (NotFound if not visible)."""
    settings = request.app[SETTINGS]
    staff = is_staff(user)
    context: dict[str, Any] = {
        "photos": [],
        "agencies": [],
        "placements": [],
        "write_offs": [],
        "inspection": None,
    }
    async with request.app[ENGINE].connect() as conn:
        task = await get_task(conn, task_id, task_visible(user))
        kind = task["kind"]
        if kind is TaskKind.field_visit:
            context["photos"] = await visits.list_photos(conn, task_id, loan_visible(user))
        elif kind is TaskKind.agency_placement:
            context["placements"] = await placements.list_placements(
                conn, loan_visible(user), loan_ref=task["loan_ref"]
            )
            if staff:
                context["agencies"] = await agencies.list_agencies(conn, active_only=True)
        elif kind is TaskKind.write_off_proposal and staff:
            found = await list_write_offs(conn, loan_ref=task["loan_ref"], limit=20)
            context["write_offs"] = found["items"]
        elif kind is TaskKind.inspection:
            context["inspection"] = await get_inspection(conn, task_id, inspection_visible(user))
    today = lender_day(request)
    return render(
        request,
        "tasks/task.html",
        status=refused.status if refused else 200,
        task=task,
        today=today,
        overdue=task["status"] is TaskStatus.open and task["due_on"] < today,
        staff=staff,
        refused=refused,
        entered=_entered(entered),
        flash=flash_for(request),
        outcome_label=outcome_label,
        visit_outcomes=list(VisitOutcome),
        legal_outcomes=list(LegalOutcome),
        methods=list(InspectionMethod),
        findings=list(InspectionFinding),
        inspection_outcomes=list(InspectionOutcome),
        default_recall_on=today + dt.timedelta(days=settings.agency_recall_days),
        photo_limit_mb=format_number(round(settings.photo_max_bytes / 1024 / 1024, 1)),
        **context,
    )
