"""The API's shared shapes: money as decimal strings, ISO 8601 dates and times, references,
pages of items, the error body. Each area's own models sit in its module."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

import pydantic
from pydantic import BeforeValidator, Field, PlainSerializer, StringConstraints

from service.ingest import fields
from service.web.api.framework import Out

T = TypeVar("T")

MONEY_PATTERN = r"^-?\d+\.\d{2}$"


def _amount(*, positive: bool) -> Callable[[Any], Decimal]:
    # The import contract's own rules for an amount (two decimals at most, not negative, not
    # absurd), so an amount typed into the API is held to what a CSV row is.
    parse = fields.money(positive=positive)

    def check(value: Any) -> Decimal:
        if not isinstance(value, str):
            raise ValueError('an amount is a decimal string, e.g. "150.25"')
        try:
            amount: Decimal = parse(value)
        except fields.FieldError as exc:
            raise ValueError(str(exc)) from None
        return amount

    return check


def _two_places(value: Decimal) -> str:
    return f"{value:.2f}"


_AMOUNT_SCHEMA = {"type": "string", "pattern": r"^\d{1,13}(\.\d{1,2})?$", "examples": ["150.25"]}
# An amount in a request: a decimal string ("150.25"), never a JSON number.
MoneyIn = Annotated[
    Decimal, BeforeValidator(_amount(positive=False)), pydantic.WithJsonSchema(_AMOUNT_SCHEMA)
]
PositiveMoneyIn = Annotated[
    Decimal, BeforeValidator(_amount(positive=True)), pydantic.WithJsonSchema(_AMOUNT_SCHEMA)
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
# An aware moment, ISO 8601 with its offset as Python writes it (+00:00, +08:00).
Instant = Annotated[
    dt.datetime,
    PlainSerializer(lambda value: value.isoformat(), return_type=str),
    pydantic.WithJsonSchema({"type": "string", "format": "date-time"}, mode="serialization"),
]
# A ``*_ref`` key: what the import contract allows.
Ref = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
# A required piece of text (names, reasons, notes).
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Limit = Annotated[int, Field(ge=1)]
Offset = Annotated[int, Field(ge=0)]


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
