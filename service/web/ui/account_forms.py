"""The account page's forms, read as the API reads its bodies (the same pydantic models, so a
form holds to the API's rules), and a refusal — the model's or the service's — turned into
messages beside the fields, in the page's language, with what was typed kept."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo

import pydantic

from service.contact.callbacks import MAX_DAYS_AHEAD as CALLBACK_DAYS
from service.domain.arrangements import MAX_INSTALMENTS
from service.domain.promises import MAX_DAYS_AHEAD as PROMISE_DAYS
from service.errors import (
    ArrearsError,
    Conflict,
    InputError,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from service.web.ui.framework import Form
from service.web.ui.i18n import gettext as _

Model = TypeVar("Model", bound=pydantic.BaseModel)
Kind = Literal["money", "date", "moment", "choice", "count", "text", "flag", "id"]
# A moment as a datetime-local field sends it (the seconds optional), on the lender's clock.
LOCAL_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?")


@dataclasses.dataclass(frozen=True, slots=True)
class Field:
    name: str  # the form's field, named as the API body's
    kind: Kind
    message: Callable[[], str] | None = None  # what to say when it is refused (default: by kind)


class Problem(Exception):
    """A form refused: its messages, beside its fields, and what was typed, kept."""

    def __init__(
        self,
        form: str,
        values: Mapping[str, str],
        status: int,
        message: str,
        fields: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.form = form
        self.values = dict(values)
        self.status = status
        self.message = message
        self.fields = dict(fields or {})


def typed(form: Form) -> dict[str, str]:
    """What the form carried, as typed (the CSRF token left out)."""
    return {key: str(value) for key, value in form.items() if key != "csrf_token"}


def local_moment(value: str, zone: str) -> str | None:
    """A datetime-local value (the lender's wall clock) as an ISO moment with its offset."""
    if not LOCAL_MOMENT.fullmatch(value):
        return None
    try:
        moment = dt.datetime.fromisoformat(value).replace(tzinfo=ZoneInfo(zone))
    except ValueError:
        return None
    return moment.isoformat(timespec="seconds")


def _by_kind(kind: Kind) -> str:
    return {
        "money": _("Enter an amount such as 500 or 500.50."),
        "date": _("Choose a date."),
        "moment": _("Choose a day and a time."),
        "choice": _("Choose one of the options."),
        "count": _("Enter a whole number."),
        "text": _("This text is too long."),
        "flag": _("Choose one of the options."),
        "id": _("Choose one of the options."),
    }[kind]


def read(
    name: str, model: type[Model], form: Form, spec: Sequence[Field], zone: str, **fixed: Any
) -> Model:
    """The form ``name`` as the API's ``model`` (plus ``fixed`` values), or :class:`Problem`."""
    values = typed(form)
    body: dict[str, Any] = dict(fixed)
    for field in spec:
        raw = values.get(field.name, "")
        if field.kind == "flag":
            body[field.name] = raw in ("on", "true", "1")
            continue
        if field.kind != "text":
            raw = raw.strip()
        if raw == "":
            continue  # the model's default, or its "required"
        if field.kind == "moment":
            body[field.name] = local_moment(raw, zone) or raw
        elif field.kind in ("count", "id"):
            body[field.name] = int(raw) if raw.isascii() and raw.isdigit() else raw
        else:
            body[field.name] = raw
    try:
        return model.model_validate_json(json.dumps(body))
    except pydantic.ValidationError as exc:
        kinds = {field.name: field for field in spec}
        messages: dict[str, str] = {}
        for error in exc.errors():
            where = str(error["loc"][0]) if error["loc"] else ""
            refused = kinds.get(where)
            if refused is None or where in messages:
                continue
            if error["type"] == "missing":
                messages[where] = _("Required.")
            elif refused.message is not None:
                messages[where] = refused.message()
            else:
                messages[where] = _by_kind(refused.kind)
        raise Problem(name, values, 400 if not messages else 422, _summary(), messages) from None


def _summary() -> str:
    return _("Not saved: check the fields marked below.")


# A service's reasons, by what it says (service.contact.outcomes, promises, callbacks,
# arrangements, service.domain.ptp), as the page says them; anything else shows as it is.
_REASONS: tuple[tuple[re.Pattern[str], Callable[[], str]], ...] = tuple(
    (re.compile(pattern), message)
    for pattern, message in (
        (r"a disposition needs a conversation", lambda: _("A disposition needs a conversation.")),
        (
            r"a promise has an amount and a date",
            lambda: _("A promise to pay needs an amount and a date."),
        ),
        (
            r"a promise is promise_to_pay",
            lambda: _("An amount and a date are a promise: choose “Promise to pay”."),
        ),
        (
            r"a callback is callback_requested",
            lambda: _("A callback time goes with “Callback requested”."),
        ),
        (
            r"a positive amount with two decimals",
            lambda: _("A positive amount, with two decimals at most."),
        ),
        (
            r"^from today to \d+ days ahead",
            lambda: _("A day from today to %(days)d days ahead.", days=PROMISE_DAYS),
        ),
        (
            r"a callback is due from now to",
            lambda: _("From now to %(days)d days ahead.", days=CALLBACK_DAYS),
        ),
        (r"is not a contact of", lambda: _("Choose the debtor or one of the borrower's contacts.")),
        (r"a call needs the number called", lambda: _("Choose the number called.")),
        (r"^below the balance", lambda: _("A settlement is for less than the balance.")),
        (
            r"^at least the balance",
            lambda: _("A payment plan pays the whole balance; a discount is a settlement."),
        ),
        (
            r"an arrangement has 1 to|instalments are at least a day apart",
            lambda: _(
                "From 1 to %(count)d instalments, at least a day apart.", count=MAX_INSTALMENTS
            ),
        ),
        (
            r"already has an arrangement proposed or in force",
            lambda: _("This account already has an arrangement proposed or in force."),
        ),
        (r"owes nothing to arrange", lambda: _("Nothing is owed on this account.")),
        (r"^loan .* is (closed|written_off): ", lambda: _("This account is no longer open.")),
        (
            r"cannot become|was decided meanwhile|is \w+, not proposed",
            lambda: _("This was decided already; the page shows where it stands now."),
        ),
        (
            r"is already (done|cancelled)|was closed meanwhile",
            lambda: _("This callback is closed already."),
        ),
        (r"is \S+'s$", lambda: _("This callback belongs to another collector.")),
        (
            r"a different person must decide it",
            lambda: _("You proposed this arrangement: someone else decides it."),
        ),
        (
            r"needs the approval of",
            lambda: _("Your role may not approve an arrangement of this size."),
        ),
        (
            r"above the top tier|credit committee|beyond",
            lambda: _("Beyond every approval tier: the credit committee decides."),
        ),
        (r"logged with other values", lambda: _("This outcome was logged already.")),
    )
)


def _known(text: str) -> str | None:
    for pattern, message in _REASONS:
        if pattern.search(text):
            return message()
    return None


def _status(exc: ArrearsError) -> int:
    if isinstance(exc, ValidationFailed):
        return 422
    if isinstance(exc, InputError):
        return 400
    if isinstance(exc, PermissionDenied):
        return 403
    if isinstance(exc, Conflict):
        return 409
    return 400


def refusal(
    name: str,
    form: Form,
    exc: ArrearsError,
    spec: Sequence[Field] = (),
    renames: Mapping[str, str] | None = None,
) -> Problem:
    """A service's refusal of the form ``name`` as messages beside its fields. NotFound is not
    the form's to show: the caller lets it through (the page answers 404)."""
    if isinstance(exc, NotFound):
        raise exc
    renames = renames or {}
    kinds = {field.name: field for field in spec}
    fields: dict[str, str] = {}
    for detail in exc.details if isinstance(exc.details, list) else []:
        if not isinstance(detail, dict) or "field" not in detail:
            continue
        where = renames.get(str(detail["field"]), str(detail["field"]))
        said = _known(str(detail.get("reason", ""))) or _known(exc.message)
        if said is None and where in kinds:
            said = _by_kind(kinds[where].kind)
        if said is not None and where in kinds:
            fields.setdefault(where, said)
    message = _summary() if fields else (_known(exc.message) or "")
    problem = Problem(name, typed(form), _status(exc), message, fields)
    if not fields and not message:
        problem.message = _("Not saved.")
        problem.fields["_service"] = exc.message  # shown as it is, marked as not translated
    return problem
