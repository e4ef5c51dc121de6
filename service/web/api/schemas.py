"""The API's shared shapes: money as decimal strings, ISO 8601 dates and times, references,
pages of items, the error body. Each area's own models sit in its module."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

import pydantic
from pydantic import AwareDatetime, BeforeValidator, Field, PlainSerializer, StringConstraints

from service.domain.dates import DATE_PATTERN
from service.ingest import fields
from service.web.api.framework import Out

T = TypeVar("T")

MONEY_PATTERN = r"^-?\d+\.\d{2}$"
# The bounds of the database's integer columns: ids are INTEGER (32-bit) in this schema, and
# an offset is a 64-bit integer on both databases; beyond them the driver raises, not the API.
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1


def _amount(*, positive: bool) -> Callable[[Any], Decimal]:
    # The import contract's own rules for an amount (fields.MONEY_PATTERN: ASCII digits, two
    # decimals at most, no sign, no grouping), so an amount typed into the API is held to what a
    # CSV row is.
    parse = fields.money(positive=positive)

    def check(value: Any) -> Decimal:
        if not isinstance(value, str):
            raise ValueError('an amount is a decimal string, e.g. "150.25"')
        if value != value.strip():
            raise ValueError("an amount has no spaces around it")
        try:
            amount: Decimal = parse(value)
        except fields.FieldError as exc:
            raise ValueError(str(exc)) from None
        return amount

    return check


def _two_places(value: Decimal) -> str:
    return f"{value:.2f}"


def _string_schema(pattern: str, example: str, **extra: Any) -> pydantic.WithJsonSchema:
    return pydantic.WithJsonSchema(
        {"type": "string", "pattern": f"^{pattern}$", "examples": [example], **extra}
    )


# The same amounts without zero: a whole part from 1, or 0 with a cent that is not zero.
_POSITIVE_MONEY_PATTERN = r"(?:[1-9][0-9]{0,12}(?:\.[0-9]{1,2})?|0\.(?:[1-9][0-9]?|0[1-9]))"
# An amount in a request: a decimal string ("150.25"), never a JSON number.
MoneyIn = Annotated[
    Decimal,
    BeforeValidator(_amount(positive=False)),
    _string_schema(fields.MONEY_PATTERN, "150.25"),
]
PositiveMoneyIn = Annotated[
    Decimal,
    BeforeValidator(_amount(positive=True)),
    _string_schema(_POSITIVE_MONEY_PATTERN, "150.25"),
]
# An amount in an answer: always two decimals.
Money = Annotated[
    Decimal,
    PlainSerializer(_two_places, return_type=str),
    pydantic.WithJsonSchema(
        {"type": "string", "pattern": MONEY_PATTERN, "examples": ["1000.00"]}, mode="serialization"
    ),
]
# A rate as a fraction, as a decimal string ("0.072"; 0.0005 a day).
Rate = Annotated[
    Decimal,
    PlainSerializer(lambda value: str(value), return_type=str),
    pydantic.WithJsonSchema({"type": "string", "examples": ["0.072"]}, mode="serialization"),
]
# A share or ratio in an answer, four places ("0.2140"), or null when there is no whole.
Ratio = Annotated[
    Decimal,
    PlainSerializer(lambda value: str(value), return_type=str),
    pydantic.WithJsonSchema({"type": "string", "examples": ["0.2140"]}, mode="serialization"),
]
# A fraction strictly between 0 and 1 in a request, as a decimal string ("0.2").
SHARE_PATTERN = r"0\.0{0,5}[1-9][0-9]{0,5}"
ShareIn = Annotated[
    Decimal,
    BeforeValidator(
        lambda value: Decimal(_text_of(SHARE_PATTERN, 'a fraction such as "0.2"')(value))
    ),
    _string_schema(SHARE_PATTERN, "0.2"),
]
# An aware moment, ISO 8601 with its offset as Python writes it (+00:00, +08:00).
Instant = Annotated[
    dt.datetime,
    PlainSerializer(lambda value: value.isoformat(), return_type=str),
    pydantic.WithJsonSchema({"type": "string", "format": "date-time"}, mode="serialization"),
]


def _text_of(pattern: str, what: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str) or not re.fullmatch(pattern, value):
            raise ValueError(f"expected {what}")
        return value

    return check


def _day(value: Any) -> dt.date:
    # The import contract's reading of a date (fields.date), less its tolerance of padding.
    if not isinstance(value, str) or value != value.strip():
        raise ValueError("expected a date as YYYY-MM-DD")
    try:
        return fields.date(value)
    except fields.FieldError as exc:
        raise ValueError(str(exc)) from None


def _moment(value: Any) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(_text_of(MOMENT_PATTERN, _MOMENT)(value))
    except ValueError:
        raise ValueError(f"expected {_MOMENT}") from None


# A date in a request (body or query): YYYY-MM-DD as the import contract reads it (years
# 1900-2999: service.domain.dates); not a number, a week or ordinal date, nor year 1.
Day = Annotated[
    dt.date,
    BeforeValidator(_day),
    _string_schema(DATE_PATTERN, "2026-11-24", format="date"),
]
# A moment in a request: RFC 3339 with its offset (2026-11-24T10:00:00+08:00), years 1900-2999.
MOMENT_PATTERN = (
    DATE_PATTERN
    + r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?"
    + r"(?:Z|[+-](?:0[0-9]|1[0-4]):[0-5][0-9])"
)
_MOMENT = "a time with its offset, such as 2026-11-24T10:00:00+08:00"
MomentIn = Annotated[
    AwareDatetime,
    BeforeValidator(_moment),
    _string_schema(MOMENT_PATTERN, "2026-11-24T10:00:00+08:00", format="date-time"),
]
# A ``*_ref`` key: what the import contract allows (1 to 64 characters, none of them a space at
# either end).
REF_PATTERN = r"[^\s](?:.{0,62}[^\s])?"
Ref = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=f"^{REF_PATTERN}$"),
]
# A required piece of text (names, reasons, notes): 1 to 2000 characters, lines allowed.
Text = Annotated[
    str,
    StringConstraints(min_length=1, max_length=2000, pattern=r"^[^\s](?:[\s\S]*[^\s])?$"),
]
# A short name (a plan, a step, a strategy, a template): 1 to 64 characters.
Name = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=f"^{REF_PATTERN}$")]


# Query and path values (text on the wire; read by framework.TextIn, digits only).
Limit = Annotated[int, Field(ge=1)]
Offset = Annotated[int, Field(ge=0, le=INT64_MAX)]
Id = Annotated[int, Field(ge=1, le=INT32_MAX)]


class Page(Out, Generic[T]):
    total: int
    items: list[T]


class Items(Out, Generic[T]):
    items: list[T]


class ErrorDetail(Out):
    code: str
    message: str
    details: Any = None


class ErrorBody(Out):
    """Every error: ``{"error": {"code", "message", "details"}}``; a 422's details name each
    invalid field (``field``, ``reason``)."""

    error: ErrorDetail
