"""Field parsers for import files: each turns one CSV cell into a typed value or raises
:class:`FieldError` with a reason a lender's data team can act on."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from service.domain.dates import DATE_PATTERN, EARLIEST_DATE, LATEST_DATE
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


# A date as the contract writes it: YYYY-MM-DD in ASCII digits, years 1900-2999. Python's own
# fromisoformat also takes week dates (2026-W01-1), ordinal and compact forms and year 1, and
# a far year overflows the date arithmetic of a close of business; none of those is a loan's date.
# The pattern and the years are the one calendar's (service.domain.dates).
_DATE = re.compile(DATE_PATTERN)


def date(value: str) -> dt.date:
    value = value.strip()
    if _DATE.fullmatch(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass  # the 31st of a 30-day month
    raise FieldError(
        f"expected a date as YYYY-MM-DD between {EARLIEST_DATE} and {LATEST_DATE}, got {value!r}"
    )


def timestamp(value: str) -> dt.datetime:
    value = value.strip()
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise FieldError(f"expected an ISO 8601 time with offset, got {value!r}") from None
    if parsed.tzinfo is None:
        raise FieldError("time has no UTC offset (write e.g. 2026-03-01T10:15:00+08:00)")
    if not EARLIEST_DATE <= parsed.date() <= LATEST_DATE:
        raise FieldError(f"time {value!r} is outside {EARLIEST_DATE} to {LATEST_DATE}")
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


# An amount as the contract writes it: ASCII digits without a sign, grouping or leading zeros,
# and at most two decimals ("150.25"). Python's Decimal also reads "١٢٣", "１２３" and "1e3",
# and stripping commas turned "1,0,0.00" into 100.00: none of those is what a core system exports.
MONEY_PATTERN = r"(?:0|[1-9][0-9]{0,12})(?:\.[0-9]{1,2})?"
_AMOUNT = re.compile(MONEY_PATTERN)
_ZERO = Decimal(0)


def money(*, positive: bool = False) -> Parser:
    def parse(value: str) -> Decimal:
        if not _AMOUNT.fullmatch(value):
            value = value.strip()
            if not value:
                raise FieldError("required amount is empty")
            if not _AMOUNT.fullmatch(value):
                raise FieldError(_not_an_amount(value, positive))
        amount = Decimal(value)
        if positive and amount == _ZERO:
            raise FieldError(f"amount must be positive, got {value}")
        return amount

    return parse


def _not_an_amount(value: str, positive: bool) -> str:
    """Why ``value`` is not an amount, in the words a data team can act on."""
    if value.startswith("-") and _AMOUNT.fullmatch(value[1:]):
        return f"amount must {'be positive' if positive else 'not be negative'}, got {value}"
    if not value.isascii():
        return f"write amounts with the digits 0-9, got {value!r}"
    if "," in value:
        return f"write amounts without thousands separators (1234.50), got {value!r}"
    whole, _, decimals = value.partition(".")
    if whole.isdigit() and decimals.isdigit() and len(decimals) > 2:
        return f"amount {value} has more than 2 decimal places"
    if whole.isdigit() and len(whole.lstrip("0")) > 13:
        return f"amount {value} is implausibly large"
    if whole.isdigit() and whole.startswith("0") and len(whole) > 1:
        return f"write amounts without leading zeros, got {value!r}"
    return f"expected an amount such as 150.25, got {value!r}"


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
