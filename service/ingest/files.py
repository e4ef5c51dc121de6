"""The import contract (DESIGN.md §5): one :class:`FileSpec` per CSV file.

Each spec says which columns the file has, how a row is parsed into staging rows, which checks
reject rows against stored data (unknown references, duplicates), and how the clean staging rows
are upserted by their ``*_ref`` key. Specs are listed in dependency order.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from service.domain.phones import region_country, zones_for
from service.ingest import fields as f
from service.ingest.staging import Columns

# ---------------------------------------------------------------------------------------------
# Building blocks


class RowRejected(Exception):
    """A row failed parsing; ``problems`` is a list of (column, reason)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__(problems)
        self.problems = problems


@dataclasses.dataclass(frozen=True, slots=True)
class ParseContext:
    default_region: str
    now: dt.datetime


StagedRows = dict[str, list[tuple[Any, ...]]]
# A row parser gets the row's raw values in the spec's column order ("" for an optional column
# the file lacks) and its line number; staged rows start with that line number.
RowParser = Callable[[Sequence[str], ParseContext, int], StagedRows]


@dataclasses.dataclass(frozen=True, slots=True)
class Parent:
    """A reference from a staged row to a stored row, e.g. loans.borrower_ref → borrowers."""

    column: str  # staging column holding the reference
    table: str
    ref_column: str


@dataclasses.dataclass(frozen=True, slots=True)
class Check:
    """A set-based check: ``sql`` selects ``line, reason`` of the staged rows it rejects."""

    column: str
    sql: str


@dataclasses.dataclass(frozen=True, slots=True)
class Upsert:
    target: str
    conflict: tuple[str, ...]
    # target column -> SQL expression over the staging alias ``s`` and the joins
    values: Mapping[str, str]
    joins: str = ""
    # target columns written on insert only (never changed by a re-import)
    insert_only: tuple[str, ...] = ("created_at",)


@dataclasses.dataclass(frozen=True, slots=True)
class FileSpec:
    file: str
    columns: tuple[str, ...]
    required_columns: frozenset[str]
    key: tuple[str, ...]
    stage: Mapping[str, Columns]  # staging table -> columns (the main table first)
    parse: RowParser
    upsert: Upsert
    parents: tuple[Parent, ...] = ()
    checks: tuple[Check, ...] = ()
    after: tuple[str, ...] = ()  # SQL statements run after the upsert (bound :now)
    # Whether stored rows change loans' positions (schedules, payments): refreshed after import.
    moves_positions: bool = False
    # Extra staging indexes (SQLite plans nested loops; without them some steps go quadratic).
    stage_indexes: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)

    @property
    def main_stage(self) -> str:
        return next(iter(self.stage))


def parse_columns(row: Mapping[str, str], parsers: Mapping[str, f.Parser]) -> dict[str, Any]:
    """Apply a parser per column, collecting every problem of the row, not just the first."""
    raw = [row.get(column, "") for column in parsers]
    return dict(zip(parsers, parse_values(raw, tuple(parsers.items())), strict=True))


def parse_values(
    raw: Sequence[str], parsers: tuple[tuple[str, f.Parser], ...], *prefix: Any
) -> tuple[Any, ...]:
    """``prefix`` then each raw value parsed by its column's parser (the hot path: no dict)."""
    values: list[Any] = list(prefix)
    problems: list[tuple[str, str]] | None = None
    for value, (column, parser) in zip(raw, parsers, strict=True):
        try:
            values.append(parser(value))
        except f.FieldError as exc:
            if problems is None:
                problems = []
            problems.append((column, str(exc)))
    if problems:
        raise RowRejected(problems)
    return tuple(values)


# ---------------------------------------------------------------------------------------------
# borrowers.csv

BORROWER_COLUMNS = (
    "borrower_ref",
    "name",
    "phone",
    "alt_phones",
    "timezone",
    "locale",
    "region",
    "address",
    "sms_consent",
)
_LOCALE = re.compile(r"^[a-z]{2,3}(-[A-Z][a-z]{3})?(-[A-Z]{2})?$")


def _parse_borrower(raw: Sequence[str], ctx: ParseContext, line: int) -> StagedRows:
    row = dict(zip(BORROWER_COLUMNS, raw, strict=True))
    problems: list[tuple[str, str]] = []
    values: dict[str, Any] = {}
    try:
        values = parse_columns(
            row,
            {
                "borrower_ref": f.ref,
                "name": f.required_text(200),
                "timezone": f.timezone,
                "region": f.text(16),
                "address": f.text(2000),
                "sms_consent": f.boolean,
                "locale": f.text(16),
            },
        )
    except RowRejected as exc:
        problems.extend(exc.problems)
    country = region_country(row.get("region", ""), ctx.default_region)
    phone_parser = f.phone_with_type(country)
    phones: list[tuple[str, str, str]] = []  # (e164, kind, line type)
    primary_raw = row.get("phone", "").strip()
    if primary_raw:
        try:
            number, line_type = phone_parser(primary_raw)
            phones.append((number, "primary", line_type))
        except f.FieldError as exc:
            problems.append(("phone", str(exc)))
    for raw in row.get("alt_phones", "").split(";"):
        if raw.strip():
            try:
                number, line_type = phone_parser(raw)
            except f.FieldError as exc:
                problems.append(("alt_phones", f"{exc} in {raw.strip()!r}"))
                continue
            if all(number != known for known, _, _ in phones):
                phones.append((number, "alt", line_type))
    locale = values.get("locale") or ("zh-CN" if country == "CN" else "en")
    if "locale" in values and not _LOCALE.match(locale):
        problems.append(("locale", f"expected a locale such as zh-CN or en, got {locale!r}"))
    if problems:
        raise RowRejected(problems)

    zone: str | None = values["timezone"]
    candidates: tuple[str, ...]
    if zone:
        candidates, source = (zone,), "file"
    elif phones:
        guess = zones_for(phones[0][0])
        zone, candidates = guess.zone, guess.candidates
        source = "phone" if guess.zone else ("ambiguous" if guess.ambiguous else "unknown")
    else:
        candidates, source = (), "unknown"
    ref = values["borrower_ref"]
    return {
        "stage_borrowers": [
            (
                line,
                ref,
                values["name"],
                locale,
                values["region"].upper(),
                values["address"],
                zone,
                ";".join(candidates),
                source,
                values["sms_consent"],
            )
        ],
        "stage_borrower_phones": [(line, ref, *phone) for phone in phones],
    }


BORROWERS = FileSpec(
    file="borrowers.csv",
    columns=BORROWER_COLUMNS,
    required_columns=frozenset({"borrower_ref", "name", "phone"}),
    key=("borrower_ref",),
    stage={
        "stage_borrowers": (
            ("borrower_ref", "text"),
            ("name", "text"),
            ("locale", "text"),
            ("region", "text"),
            ("address", "text"),
            ("timezone", "text"),
            ("timezone_candidates", "text"),
            ("timezone_source", "text"),
            ("sms_consent", "bool"),
        ),
        "stage_borrower_phones": (
            ("borrower_ref", "text"),
            ("e164", "text"),
            ("kind", "text"),
            ("line_type", "text"),
        ),
    },
    parse=_parse_borrower,
    stage_indexes={"stage_borrower_phones": ("borrower_ref", "e164")},
    upsert=Upsert(
        target="borrowers",
        conflict=("borrower_ref",),
        values={
            "borrower_ref": "s.borrower_ref",
            "name": "s.name",
            "locale": "s.locale",
            "region": "s.region",
            "address": "s.address",
            "timezone": "s.timezone",
            "timezone_candidates": "s.timezone_candidates",
            "timezone_source": "s.timezone_source",
            "sms_consent": "s.sms_consent",
            "created_at": ":now",
            "updated_at": ":now",
        },
    ),
    after=(
        # Numbers of rejected (duplicate) rows were staged too; keep only the accepted lines'.
        """DELETE FROM stage_borrower_phones
           WHERE line NOT IN (SELECT line FROM stage_borrowers)""",
        """INSERT INTO phone_numbers
             (borrower_id, e164, kind, line_type, verified, status, created_at, updated_at)
           SELECT b.id, p.e164, p.kind, p.line_type, false, 'active', :now, :now
           FROM stage_borrower_phones p JOIN borrowers b ON b.borrower_ref = p.borrower_ref
           WHERE true
           ON CONFLICT (borrower_id, e164) DO UPDATE
             SET kind = excluded.kind, line_type = excluded.line_type,
                 updated_at = excluded.updated_at
             WHERE phone_numbers.kind IS DISTINCT FROM excluded.kind
                OR phone_numbers.line_type IS DISTINCT FROM excluded.line_type""",
        # A number the lender no longer lists stays on file as 'former' (the contact log
        # refers to it), but is never dialled as the borrower's current number.
        """UPDATE phone_numbers SET kind = 'former', updated_at = :now
           WHERE kind <> 'former'
             AND borrower_id IN (
               SELECT b.id FROM stage_borrowers s JOIN borrowers b
                 ON b.borrower_ref = s.borrower_ref)
             AND NOT EXISTS (
               SELECT 1 FROM stage_borrower_phones p JOIN borrowers b
                 ON b.borrower_ref = p.borrower_ref
               WHERE b.id = phone_numbers.borrower_id AND p.e164 = phone_numbers.e164)""",
    ),
)


# ---------------------------------------------------------------------------------------------
# contacts.csv


_CONTACT_COLUMNS = ("borrower_ref", "contact_ref", "name", "relation", "phone", "debt_related")


def _parse_contact(raw: Sequence[str], ctx: ParseContext, line: int) -> StagedRows:
    values = parse_columns(
        dict(zip(_CONTACT_COLUMNS, raw, strict=True)),
        {
            "borrower_ref": f.ref,
            "contact_ref": f.ref,
            "name": f.required_text(200),
            "relation": f.text(64),
            "phone": f.phone(ctx.default_region),
            "debt_related": f.boolean,
        },
    )
    return {
        "stage_contacts": [
            (
                line,
                values["contact_ref"],
                values["borrower_ref"],
                values["name"],
                values["relation"],
                values["phone"],
                values["debt_related"],
            )
        ]
    }


CONTACTS = FileSpec(
    file="contacts.csv",
    columns=_CONTACT_COLUMNS,
    required_columns=frozenset({"borrower_ref", "contact_ref", "name", "phone", "debt_related"}),
    key=("contact_ref",),
    stage={
        "stage_contacts": (
            ("contact_ref", "text"),
            ("borrower_ref", "text"),
            ("name", "text"),
            ("relation", "text"),
            ("phone", "text"),
            ("debt_related", "bool"),
        )
    },
    parse=_parse_contact,
    parents=(Parent("borrower_ref", "borrowers", "borrower_ref"),),
    upsert=Upsert(
        target="contacts",
        conflict=("contact_ref",),
        joins="JOIN borrowers b ON b.borrower_ref = s.borrower_ref",
        values={
            "contact_ref": "s.contact_ref",
            "borrower_id": "b.id",
            "name": "s.name",
            "relation": "s.relation",
            "phone": "s.phone",
            "debt_related": "s.debt_related",
            "created_at": ":now",
            "updated_at": ":now",
        },
    ),
)


# ---------------------------------------------------------------------------------------------
# loans.csv

_LOAN_PARSERS: dict[str, f.Parser] = {
    "loan_ref": f.ref,
    "borrower_ref": f.ref,
    "product": f.text(64),
    "currency": f.currency,
    "principal": f.money(positive=True),
    # Annual rates above 1000 % are typos (a percentage written as a fraction's place).
    "annual_rate": f.rate(upper=Decimal("10")),
    "penalty_rate_daily": f.rate(upper=Decimal("0.1"), optional=True),
    "disbursed_on": f.date,
    "maturity_on": f.date,
}


_LOAN_ITEMS = tuple(_LOAN_PARSERS.items())


def _parse_loan(raw: Sequence[str], ctx: ParseContext, line: int) -> StagedRows:
    values = parse_values(raw, _LOAN_ITEMS, line)
    if values[9] < values[8]:  # maturity_on before disbursed_on
        raise RowRejected([("maturity_on", "maturity date is before the disbursement date")])
    return {"stage_loans": [values]}


LOANS = FileSpec(
    file="loans.csv",
    columns=tuple(_LOAN_PARSERS),
    required_columns=frozenset(_LOAN_PARSERS) - {"product", "penalty_rate_daily"},
    key=("loan_ref",),
    stage={
        "stage_loans": (
            ("loan_ref", "text"),
            ("borrower_ref", "text"),
            ("product", "text"),
            ("currency", "text"),
            ("principal", "money"),
            ("annual_rate", "rate"),
            ("penalty_rate_daily", "rate"),
            ("disbursed_on", "date"),
            ("maturity_on", "date"),
        )
    },
    parse=_parse_loan,
    parents=(Parent("borrower_ref", "borrowers", "borrower_ref"),),
    upsert=Upsert(
        target="loans",
        conflict=("loan_ref",),
        joins="JOIN borrowers b ON b.borrower_ref = s.borrower_ref",
        values={
            "loan_ref": "s.loan_ref",
            "borrower_id": "b.id",
            "product": "s.product",
            "currency": "s.currency",
            "principal": "s.principal",
            "annual_rate": "s.annual_rate",
            "penalty_rate_daily": "s.penalty_rate_daily",
            "disbursed_on": "s.disbursed_on",
            "maturity_on": "s.maturity_on",
            "status": "'open'",
            "created_at": ":now",
            "updated_at": ":now",
        },
        # Whether a loan is open is the engine's to decide from payments, not the file's.
        insert_only=("created_at", "status"),
    ),
)


# ---------------------------------------------------------------------------------------------
# installments.csv

_INSTALLMENT_PARSERS: dict[str, f.Parser] = {
    "loan_ref": f.ref,
    "seq": f.positive_int,
    "due_on": f.date,
    "principal_due": f.money(),
    "interest_due": f.money(),
}


_INSTALLMENT_ITEMS = tuple(_INSTALLMENT_PARSERS.items())


def _parse_installment(raw: Sequence[str], ctx: ParseContext, line: int) -> StagedRows:
    return {"stage_installments": [parse_values(raw, _INSTALLMENT_ITEMS, line)]}


INSTALLMENTS = FileSpec(
    file="installments.csv",
    columns=tuple(_INSTALLMENT_PARSERS),
    required_columns=frozenset(_INSTALLMENT_PARSERS),
    key=("loan_ref", "seq"),
    stage={
        "stage_installments": (
            ("loan_ref", "text"),
            ("seq", "int"),
            ("due_on", "date"),
            ("principal_due", "money"),
            ("interest_due", "money"),
        )
    },
    parse=_parse_installment,
    moves_positions=True,
    parents=(Parent("loan_ref", "loans", "loan_ref"),),
    upsert=Upsert(
        target="installments",
        conflict=("loan_id", "seq"),
        joins="JOIN loans l ON l.loan_ref = s.loan_ref",
        values={
            "loan_id": "l.id",
            "seq": "s.seq",
            "due_on": "s.due_on",
            "principal_due": "s.principal_due",
            "interest_due": "s.interest_due",
            "updated_at": ":now",
        },
        insert_only=(),
    ),
)


# ---------------------------------------------------------------------------------------------
# payments.csv

_PAYMENT_PARSERS: dict[str, f.Parser] = {
    "payment_ref": f.ref,
    "loan_ref": f.ref,
    "paid_on": f.date,
    "amount": f.money(positive=True),
}


_PAYMENT_ITEMS = tuple(_PAYMENT_PARSERS.items())


def _parse_payment(raw: Sequence[str], ctx: ParseContext, line: int) -> StagedRows:
    return {"stage_payments": [parse_values(raw, _PAYMENT_ITEMS, line)]}


PAYMENTS = FileSpec(
    file="payments.csv",
    columns=tuple(_PAYMENT_PARSERS),
    required_columns=frozenset(_PAYMENT_PARSERS),
    key=("payment_ref",),
    stage={
        "stage_payments": (
            ("payment_ref", "text"),
            ("loan_ref", "text"),
            ("paid_on", "date"),
            ("amount", "money"),
        )
    },
    parse=_parse_payment,
    moves_positions=True,
    parents=(Parent("loan_ref", "loans", "loan_ref"),),
    upsert=Upsert(
        target="payments",
        conflict=("payment_ref",),
        joins="JOIN loans l ON l.loan_ref = s.loan_ref",
        values={
            "payment_ref": "s.payment_ref",
            "loan_id": "l.id",
            "paid_on": "s.paid_on",
            "amount": "s.amount",
            "source": "'import'",
            "created_at": ":now",
            "updated_at": ":now",
        },
        insert_only=("created_at", "source"),
    ),
)


# ---------------------------------------------------------------------------------------------
# attempts.csv (contact history from a previous system)

RESULTS = (
    "busy",
    "not_in_service",
    "no_answer",
    "voicemail",
    "conversation",
    "wrong_number",
    "delivered",
    "failed",
)
DISPOSITIONS = (
    "rpc",
    "wrong_party",
    "third_party",
    "promise_to_pay",
    "refused",
    "dispute",
    "claims_paid",
    "callback_requested",
    "deceased",
    "bankruptcy",
    "cease_request",
    "wrong_number",
)


def _optional_disposition(value: str) -> str | None:
    return f.choice(*DISPOSITIONS)(value) if value.strip() else None


_ATTEMPT_COLUMNS = (
    "attempt_ref",
    "loan_ref",
    "party",
    "phone",
    "channel",
    "direction",
    "occurred_at",
    "result",
    "disposition",
)


def _parse_attempt(raw: Sequence[str], ctx: ParseContext, line: int) -> StagedRows:
    values = parse_columns(
        dict(zip(_ATTEMPT_COLUMNS, raw, strict=True)),
        {
            "attempt_ref": f.ref,
            "loan_ref": f.ref,
            "party": f.ref,
            "phone": f.phone(ctx.default_region),
            "channel": f.choice("call", "sms"),
            "direction": f.choice("outbound", "inbound"),
            "occurred_at": f.timestamp,
            "result": f.choice(*RESULTS),
            "disposition": _optional_disposition,
        },
    )
    if values["occurred_at"] > ctx.now + dt.timedelta(minutes=5):
        raise RowRejected([("occurred_at", "time is in the future")])
    if values["party"].lower() == "debtor":
        values["party"] = "debtor"
    return {
        "stage_attempts": [
            (
                line,
                values["attempt_ref"],
                values["loan_ref"],
                values["party"],
                values["phone"],
                values["channel"],
                values["direction"],
                values["occurred_at"],
                values["result"],
                values["disposition"],
            )
        ]
    }


ATTEMPTS = FileSpec(
    file="attempts.csv",
    columns=_ATTEMPT_COLUMNS,
    required_columns=frozenset(_ATTEMPT_COLUMNS) - {"disposition"},
    key=("attempt_ref",),
    stage={
        "stage_attempts": (
            ("attempt_ref", "text"),
            ("loan_ref", "text"),
            ("party", "text"),
            ("phone", "text"),
            ("channel", "text"),
            ("direction", "text"),
            ("occurred_at", "timestamp"),
            ("result", "text"),
            ("disposition", "text"),
        )
    },
    parse=_parse_attempt,
    parents=(Parent("loan_ref", "loans", "loan_ref"),),
    checks=(
        Check(
            column="party",
            sql="""SELECT s.line, 'contact_ref ''' || s.party
                          || ''' is not a contact of the loan''s borrower' AS reason
                   FROM stage_attempts s
                   JOIN loans l ON l.loan_ref = s.loan_ref
                   WHERE s.party <> 'debtor' AND NOT EXISTS (
                     SELECT 1 FROM contacts c
                     WHERE c.contact_ref = s.party AND c.borrower_id = l.borrower_id)""",
        ),
    ),
    upsert=Upsert(
        target="attempts",
        conflict=("attempt_ref",),
        joins="""JOIN loans l ON l.loan_ref = s.loan_ref
                 LEFT JOIN contacts c ON c.contact_ref = s.party AND s.party <> 'debtor'""",
        values={
            "attempt_ref": "s.attempt_ref",
            "loan_id": "l.id",
            "contact_id": "c.id",
            "phone": "s.phone",
            "channel": "s.channel",
            "direction": "s.direction",
            "occurred_at": "s.occurred_at",
            "result": "s.result",
            "disposition": "s.disposition",
            "source": "'import'",
            "created_at": ":now",
        },
        insert_only=("created_at", "source"),
    ),
)


FILES: Sequence[FileSpec] = (BORROWERS, CONTACTS, LOANS, INSTALLMENTS, PAYMENTS, ATTEMPTS)
FILES_BY_NAME = {spec.file: spec for spec in FILES}
