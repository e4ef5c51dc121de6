"""Phone numbers: E.164 normalisation, time-zone inference from a number, masking for logs."""

from __future__ import annotations

import dataclasses
import re
from functools import lru_cache

import phonenumbers
from phonenumbers import timezone as phone_timezone


class InvalidPhone(ValueError):
    """The text is not a valid phone number for the given region."""


_LINE_TYPES = {
    phonenumbers.PhoneNumberType.MOBILE: "mobile",
    phonenumbers.PhoneNumberType.FIXED_LINE: "fixed_line",
    # US and CA numbers cannot be told apart by prefix; they may or may not take SMS.
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_line_or_mobile",
    phonenumbers.PhoneNumberType.VOIP: "voip",
    phonenumbers.PhoneNumberType.TOLL_FREE: "toll_free",
}


def normalise(raw: str, default_region: str) -> str:
    """Return the E.164 form of ``raw``; national forms are read in ``default_region``.

    Raises :class:`InvalidPhone` with a reason a lender's data team can act on.
    """
    return parse_phone(raw, default_region)[0]


def parse_phone(raw: str, default_region: str) -> tuple[str, str]:
    """(E.164, line type) of ``raw``: mobile, fixed_line, fixed_line_or_mobile, voip, ..."""
    text = raw.strip()
    if not text:
        raise InvalidPhone("empty phone number")
    try:
        number = phonenumbers.parse(text, default_region.upper() or None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(f"not a phone number ({exc._msg})") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone("not a valid number for its country")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164, _LINE_TYPES.get(phonenumbers.number_type(number), "other")


def region_country(region: str, fallback: str) -> str:
    """The ISO country of a region field such as ``CN``, ``CN-GD`` or ``US-CA``."""
    code = region.strip().upper()[:2]
    return code if len(code) == 2 and code.isalpha() else fallback.upper()


@dataclasses.dataclass(frozen=True, slots=True)
class ZoneGuess:
    """The debtor's zone as far as the number tells: one zone, several candidates, or none."""

    zone: str | None
    candidates: tuple[str, ...]

    @property
    def ambiguous(self) -> bool:
        return len(self.candidates) > 1


@lru_cache(maxsize=65_536)
def zones_for(e164: str) -> ZoneGuess:
    """Zones the number's prefix is used in (area codes narrow US numbers; CN is one zone)."""
    number = phonenumbers.parse(e164, None)
    zones = tuple(
        sorted(z for z in phone_timezone.time_zones_for_number(number) if z != "Etc/Unknown")
    )
    if len(zones) == 1:
        return ZoneGuess(zones[0], zones)
    return ZoneGuess(None, zones)


# A run of digits with the separators people write in phone numbers, not part of a larger token:
# not after a letter (references like L00000001), a dot or "12:" (times), not a decimal tail.
_DIGIT_RUN = re.compile(r"(?<![\w.])(?<!\d:)\+?\d[\d \-()]{6,}\d(?![\d.]\d)")


def mask(text: str) -> str:
    """Mask phone numbers and ID numbers inside free text, keeping the last 4 digits.

    Any run of 8 or more digits (with the separators people write in phone numbers) is a phone,
    a national ID (18 characters in CN, possibly ending in X) or an account number: none may
    reach a log line whole.
    """
    return _DIGIT_RUN.sub(_mask_match, _CN_ID.sub(_mask_match, text))


_CN_ID = re.compile(r"\b\d{17}[\dXx]\b")


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _mask_match(match: re.Match[str]) -> str:
    value = match.group(0)
    if _ISO_DATE.match(value):
        return value  # a date or timestamp, not a number to hide
    digits = [c for c in value if c.isdigit() or c in "Xx"]
    if len(digits) < 8:
        return value
    keep = "".join(digits[-4:])
    prefix = "+" if value.startswith("+") else ""
    return f"{prefix}{'*' * (len(digits) - 4)}{keep}"
