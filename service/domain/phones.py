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


# --- Masking for logs -------------------------------------------------------------------------
# What people write between the digits of a phone or ID number, also as it arrives in a URL or a
# form: spaces, dots, hyphens, plus signs (a form's space), parentheses, and their percent-encoded
# forms (%20 %2B %2D %2E %28 %29).
_SEPARATOR_CHARS = r"[ \t\u00a0.+\-()]"
_SEPARATOR_ESCAPES = r"%2[0BbDdEe89]"
_SEPARATOR = rf"(?:{_SEPARATOR_CHARS}|{_SEPARATOR_ESCAPES})"
_HEX_ESCAPE = r"%[0-9A-Fa-f]{2}"
# A number: groups of digits joined by one to three separators, a CN ID's final X included. It
# does not start inside a %XX escape (the "20" of "%20"); nothing in it can repeat unbounded
# before its first digit, so that a long run of spaces costs linear time.
_NUMBER = re.compile(rf"(?<!%)(?<!%[0-9A-Fa-f])\d+(?:{_SEPARATOR}{{1,3}}\d+)*[Xx]?")
_ESCAPE = re.compile(_HEX_ESCAPE)
_GROUP = re.compile(rf"{_HEX_ESCAPE}|(\d+)")  # a group of digits, not the hex of an escape
_TOKEN = re.compile(rf"{_HEX_ESCAPE}|.", re.DOTALL)

# What stays readable although it is made of digits, each only when it stands alone (no digit,
# nor a separator and a digit, either side), so that no group of a number can pass for one:
_ALONE_BEFORE = rf"(?<!\d)(?<!\d{_SEPARATOR_CHARS})(?<!\d{_SEPARATOR_ESCAPES})"
_ALONE_AFTER = rf"(?!\d)(?!{_SEPARATOR}\d)"
_READABLE = re.compile(
    "|".join(
        (
            # an ISO 8601 date, with its time and offset if it has them;
            rf"{_ALONE_BEFORE}(?:19|20|21)\d\d-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
            rf"(?:[T ](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:[.,]\d+)?)?"
            rf"(?:Z|[+-]\d\d(?::?\d\d)?)?)?{_ALONE_AFTER}",
            # a time of day with its fraction of a second (the fraction follows a dot);
            rf"(?<![\d:])\d{{1,2}}:[0-5]\d:[0-5]\d[.,]\d+{_ALONE_AFTER}",
            # an amount with two decimals;
            rf"{_ALONE_BEFORE}(?<!\.)\d+\.\d\d{_ALONE_AFTER}",
            # aiohttp's access log (%a %t "%r" %s %b ...): the peer's IPv4 address opening the
            # line, and the status and size after the request line.
            r"^\d{1,3}(?:\.\d{1,3}){3}(?= \[)",
            r'(?<=HTTP/\d\.\d" )[1-5]\d\d (?:\d+|-)(?= ")',
        )
    )
)
_SHOWN = 4  # digits a masked number keeps, the last ones
_MASKED_FROM = 8  # digits that make a number personal
_AFTER_LETTER_FROM = 9  # right after a letter: L00000001 is a reference, not a number


def mask(text: str) -> str:
    """Mask phone and ID numbers inside free text, keeping their last 4 digits.

    A number of 8 or more digits (9 or more right after an ASCII letter, so that references like
    L00000001 stay readable) is a phone, a national ID (18 characters in CN, possibly ending in
    X) or an account number, however it is written (separators, URL-encoding, glued to words):
    none reaches a log line whole. Dates, times, two-decimal amounts and an access log's status
    and size stay as they are.
    """
    pieces: list[str] = []
    done = 0
    for readable in _READABLE.finditer(text):
        pieces.append(_mask_numbers(text, done, readable.start()))
        pieces.append(readable.group(0))
        done = readable.end()
    pieces.append(_mask_numbers(text, done, len(text)))
    return "".join(pieces)


def _mask_numbers(text: str, start: int, end: int) -> str:
    """``text[start:end]`` with its numbers masked (the glue to letters is read in ``text``)."""
    pieces: list[str] = []
    done = start
    for found in _NUMBER.finditer(text, start, end):
        begin, finish = found.span()
        number = found.group()
        after_letter = _ascii_letter(text[begin - 1]) if begin > 0 else False
        if after_letter and _ESCAPE.fullmatch(text, max(begin - 3, 0), begin):
            after_letter = False  # "%2B86...": the letter ends an escape, the number is alone
        least = _AFTER_LETTER_FROM if after_letter else _MASKED_FROM
        if number[-1] in "Xx" and _count(number[:-1]) != 17:
            number, finish = number[:-1], finish - 1  # only an ID ends in X
        # A last group glued to a word ("... 1947aa122c9e", an id) stays out of the number
        # when the number is long enough to be masked without it.
        if finish < len(text) and (text[finish].isalnum() or text[finish] == "_"):
            groups = [group for group in _GROUP.finditer(number) if group.group(1)]
            if len(groups) > 1 and _count(number[: groups[-1].start()]) >= least:
                cut = groups[-2].end()
                number, finish = number[:cut], begin + cut
        pieces.append(text[done:begin])
        pieces.append(_starred(number) if _count(number) >= least else number)
        done = finish
    pieces.append(text[done:end])
    return "".join(pieces)


def _ascii_letter(char: str) -> bool:
    return char.isascii() and char.isalpha()


def _is_digit(piece: str) -> bool:
    """A digit of the number (its final X too), not a separator nor a ``%XX`` escape."""
    return piece.isdigit() or piece in ("X", "x")


def _count(number: str) -> int:
    """Digits of a number as written (an encoded separator's hex digits are not the number's)."""
    return sum(1 for piece in _TOKEN.findall(number) if _is_digit(piece))


def _starred(number: str) -> str:
    """Every digit but the last four replaced by ``*``; separators kept as written."""
    hidden = _count(number) - _SHOWN
    out = []
    for piece in _TOKEN.findall(number):
        if _is_digit(piece) and hidden > 0:
            out.append("*")
            hidden -= 1
        else:
            out.append(piece)
    return "".join(out)
