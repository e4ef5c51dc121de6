"""Field parsers for import files: each turns one CSV cell into a typed value or raises
:class:`FieldError` with a reason a lender's data team can act on."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from service.domain.phones import InvalidPhone, normalise, parse_phone


class FieldError(ValueError):
    """One cell is unacceptable; the message is the reason stored in the import report."""


Parser = Callable[[str], Any]

TRUE = frozenset({"true", "t", "1", "yes", "y", "是"})
FALSE = frozenset({"false", "f", "0", "no", "n", "否", ""})


def ref(value: str) -> str:
    value = value.strip()
    if not value:
        raise FieldError("required reference is empty")
    if len(value) > 64:
        raise FieldError("reference longer than 64 characters")
    return value


def text(limit: int) -> Parser:
    def parse(value: str) -> str:
        value = value.strip()
        if len(value) > limit:
            raise FieldError(f"longer than {limit} characters")
        return value

    return parse


def required_text(limit: int) -> Parser:
    inner = text(limit)

    def parse(value: str) -> str:
        value = inner(value)
        if not value:
            raise FieldError("required value is empty")
        return value

    return parse


def boolean(value: str) -> bool:
    folded = value.strip().lower()
    if folded in TRUE:
        return True
    if folded in FALSE:
        return False
    raise FieldError(f"expected true or false, got {value.strip()!r}")


def date(value: str) -> dt.date:
    value = value.strip()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise FieldError(f"expected a date as YYYY-MM-DD, got {value!r}") from None


def timestamp(value: str) -> dt.datetime:
    value = value.strip()
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise FieldError(f"expected an ISO 8601 time with offset, got {value!r}") from None
    if parsed.tzinfo is None:
        raise FieldError("time has no UTC offset (write e.g. 2026-03-01T10:15:00+08:00)")
    return parsed.astimezone(dt.UTC)


def _decimal(value: str) -> Decimal:
    value = value.strip().replace(",", "")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise FieldError(f"expected a number, got {value!r}") from None
    if not number.is_finite():
        raise FieldError(f"expected a finite number, got {value!r}")
    return number


# The shape nearly every amount in a lender's file has; anything else takes the careful path.
_PLAIN_AMOUNT = re.compile(r"\d{1,13}(?:\.\d{1,2})?")
_ZERO = Decimal(0)


def money(*, positive: bool = False) -> Parser:
    def parse(value: str) -> Decimal:
        if _PLAIN_AMOUNT.fullmatch(value):
            amount = Decimal(value)
            if positive and amount == _ZERO:
                raise FieldError(f"amount must be positive, got {value}")
            return amount
        if not value.strip():
            raise FieldError("required amount is empty")
        amount = _decimal(value)
        exponent = amount.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -2:
            raise FieldError(f"amount {value.strip()} has more than 2 decimal places")
        if positive and amount <= 0:
            raise FieldError(f"amount must be positive, got {value.strip()}")
        if amount < 0:
            raise FieldError(f"amount must not be negative, got {value.strip()}")
        if amount >= Decimal("1e15"):
            raise FieldError(f"amount {value.strip()} is implausibly large")
        return amount

    return parse


def rate(*, upper: Decimal, optional: bool = False) -> Parser:
    """A rate written as a fraction (0.072 for 7.2 %); refused outside [0, upper)."""

    def parse(value: str) -> Decimal | None:
        if not value.strip():
            if optional:
                return None
            raise FieldError("required rate is empty")
        number = _decimal(value)
        if number < 0:
            raise FieldError(f"rate must not be negative, got {value.strip()}")
        if number >= upper:
            raise FieldError(
                f"rate {value.strip()} is not below {upper} (write rates as fractions: 0.072)"
            )
        exponent = number.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -8:
            raise FieldError("rate has more than 8 decimal places")
        return number

    return parse


def positive_int(value: str) -> int:
    value = value.strip()
    try:
        number = int(value)
    except ValueError:
        raise FieldError(f"expected a whole number, got {value!r}") from None
    if number < 1:
        raise FieldError(f"expected a number from 1, got {number}")
    return number


def currency(value: str) -> str:
    value = value.strip().upper()
    if len(value) != 3 or not value.isalpha():
        raise FieldError(f"expected an ISO 4217 currency code such as CNY, got {value!r}")
    return value


def choice(*allowed: str) -> Parser:
    options = frozenset(allowed)

    def parse(value: str) -> str:
        folded = value.strip().lower()
        if folded not in options:
            raise FieldError(f"expected one of {', '.join(allowed)}, got {value.strip()!r}")
        return folded

    return parse


def timezone(value: str) -> str | None:
    value = value.strip()
    if not value:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise FieldError(f"{value!r} is not an IANA time zone such as Asia/Shanghai") from None
    return value


def phone_with_type(region: str) -> Callable[[str], tuple[str, str]]:
    def parse(value: str) -> tuple[str, str]:
        try:
            return parse_phone(value, region)
        except InvalidPhone as exc:
            raise FieldError(str(exc)) from None

    return parse


def phone(region: str) -> Parser:
    def parse(value: str) -> str:
        try:
            return normalise(value, region)
        except InvalidPhone as exc:
            raise FieldError(str(exc)) from None

    return parse
