"""A reply that reads as a promise to pay ("PAY 500 FRI", "pay 500 on 12/5", "周五还500",
"明天还300元", "12月5日还款1000"): its amount and date, relative to the message's local date.

Pure and total: :func:`parse_promise` never raises, and what it returns is a positive amount
on a date from that day to :data:`MAX_DAYS_AHEAD` after it; anything else reads as no promise.
It reads conservatively — a word of paying, one date, one amount — because what it finds is
only *proposed*: a collector confirms it (service.contact.promises).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import unicodedata
from decimal import Decimal, InvalidOperation

# A promise further ahead than this is not one a reply can make (a collector can).
MAX_DAYS_AHEAD = 366
# The most a reply can promise: well inside the amount columns (NUMERIC(18, 2)).
MAX_AMOUNT = Decimal(1_000_000_000_000)
# Only the start of a long text is read: a promise is one short sentence.
MAX_CHARS = 480


@dataclasses.dataclass(frozen=True, slots=True)
class ReplyPromise:
    amount: Decimal
    promised_on: dt.date


# A word of paying. Not "paid": that is a claim about the past, not a promise.
_PAY = re.compile(r"\b(?:pay|paying|payment|repay|ptp|transfer)\b|[还付缴转存]")

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_WEEKDAYS_EN = {
    "mon": 0,
    "monday": 0,
    "tue": 1,
    "tues": 1,
    "tuesday": 1,
    "wed": 2,
    "wednesday": 2,
    "thu": 3,
    "thur": 3,
    "thurs": 3,
    "thursday": 3,
    "fri": 4,
    "friday": 4,
    "sat": 5,
    "saturday": 5,
    "sun": 6,
    "sunday": 6,
}
_WEEKDAY_EN = "|".join(sorted(_WEEKDAYS_EN, key=len, reverse=True))
_WEEKDAYS_ZH = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
_RELATIVE = {
    "大后天": 3,
    "后天": 2,
    "明天": 1,
    "明日": 1,
    "今天": 0,
    "今日": 0,
    "day after tomorrow": 2,
    "tomorrow": 1,
    "tmrw": 1,
    "tmr": 1,
    "today": 0,
    "tonight": 0,
}
_RELATIVE_WORDS = "|".join(sorted(map(re.escape, _RELATIVE), key=len, reverse=True))

# Dates, most specific first; each names its groups for :func:`_resolve`.
_DATES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("ymd", re.compile(r"(?<!\d)(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号]?")),
    ("md_zh", re.compile(r"(?<!\d)(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]")),
    ("slash", re.compile(r"(?<![\d/])(\d{1,2})\s*/\s*(\d{1,2})(?![\d/])")),
    ("d_mon", re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s*(?:of\s+)?({_MONTH})\b\.?")),
    ("mon_d", re.compile(rf"\b({_MONTH})\.?\s*(\d{{1,2}})(?:st|nd|rd|th)?\b")),
    ("relative", re.compile(_RELATIVE_WORDS)),
    (
        "in_days",
        re.compile(r"\bin\s+(\d{1,3})\s+days?\b|(?<!\d)(\d{1,3})\s*天\s*(?:后|之后|以后|内)"),
    ),
    ("weekday_zh", re.compile(r"(下个?)?(?:周|星期|礼拜)([一二三四五六日天])")),
    ("weekday_en", re.compile(rf"\b(next\s+)?({_WEEKDAY_EN})\b")),
    ("day_zh", re.compile(r"(?<!\d)(\d{1,2})\s*[日号]")),
    ("day_en", re.compile(r"\bthe\s+(\d{1,2})(?:st|nd|rd|th)\b|\b(\d{1,2})(?:st|nd|rd|th)\b")),
)

_CURRENCY_BEFORE = r"(?:[¥￥$£]|rmb|cny|usd|gbp)\s*"
_CURRENCY_AFTER = r"\s*(?:元|块|圆|yuan|rmb|cny|dollars?|usd|pounds?|gbp)"
_NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_AMOUNT = re.compile(
    rf"(?P<before>{_CURRENCY_BEFORE})?(?P<number>{_NUMBER})\s*(?P<scale>万|千|k\b)?"
    rf"(?P<after>{_CURRENCY_AFTER})?"
)
_ZH_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7}
_ZH_DIGITS |= {"八": 8, "九": 9}
_ZH_UNITS = {"十": 10, "百": 100, "千": 1000}
_ZH_AMOUNT = re.compile(r"([零一二两三四五六七八九十百千万]+)\s*(元|块|圆)")


def parse_promise(text: str, today: dt.date, *, day_first: bool = False) -> ReplyPromise | None:
    """The promise ``text`` makes, read on ``today`` (the message's local date), or None.

    ``12/5`` is month/day (as 12月5日 reads) unless ``day_first`` (a UK lender's texts).
    A weekday is the next one from today on (today included); a date without a year is the
    next such date; a day of the month alone is this month's or, past it, next month's.
    """
    folded = unicodedata.normalize("NFKC", text[:MAX_CHARS]).casefold()
    if not _PAY.search(folded):
        return None
    found = _find_date(folded, today, day_first)
    if found is None:
        return None
    promised_on, (start, end) = found
    if not today <= promised_on <= _plus(today, MAX_DAYS_AHEAD, dt.date.max):
        return None
    amount = _find_amount(folded[:start] + " " + folded[end:])
    if amount is None:
        return None
    return ReplyPromise(amount, promised_on)


def _plus(day: dt.date, days: int, otherwise: dt.date) -> dt.date:
    try:
        return day + dt.timedelta(days=days)
    except OverflowError:
        return otherwise


def _date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:  # 31 November, year 10000, …
        return None


def _find_date(
    text: str, today: dt.date, day_first: bool
) -> tuple[dt.date, tuple[int, int]] | None:
    for kind, pattern in _DATES:
        match = pattern.search(text)
        if match is None:
            continue
        resolved = _resolve(kind, match, today, day_first)
        # A date written but impossible (13/45) is no readable promise: stop, do not guess on.
        return (resolved, match.span()) if resolved is not None else None
    return None


def _resolve(kind: str, match: re.Match[str], today: dt.date, day_first: bool) -> dt.date | None:
    groups = match.groups()
    if kind == "ymd":
        return _date(int(groups[0]), int(groups[1]), int(groups[2]))
    if kind in ("md_zh", "slash", "d_mon", "mon_d"):
        if kind == "md_zh" or (kind == "slash" and not day_first):
            month, day = int(groups[0]), int(groups[1])
        elif kind == "slash":
            day, month = int(groups[0]), int(groups[1])
        elif kind == "d_mon":
            day, month = int(groups[0]), _MONTHS[groups[1]]
        else:
            month, day = _MONTHS[groups[0]], int(groups[1])
        return _next_month_day(today, month, day)
    if kind == "relative":
        return _plus(today, _RELATIVE[match.group(0)], dt.date.max)
    if kind == "in_days":
        return _plus(today, int(groups[0] or groups[1]), dt.date.max)
    if kind in ("weekday_zh", "weekday_en"):
        later = bool(groups[0])
        weekday = (_WEEKDAYS_ZH if kind == "weekday_zh" else _WEEKDAYS_EN)[groups[1]]
        if later:  # 下周五, next friday: that day of next week (weeks start on Monday)
            return _plus(today, 7 - today.weekday() + weekday, dt.date.max)
        return _plus(today, (weekday - today.weekday()) % 7, dt.date.max)
    day = int(groups[0] or groups[1])  # day_zh, day_en: a day of the month
    this_month = _date(today.year, today.month, day)
    if this_month is not None and this_month >= today:
        return this_month
    year, month = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
    return _date(year, month, day)


def _next_month_day(today: dt.date, month: int, day: int) -> dt.date | None:
    for year in (today.year, today.year + 1):
        found = _date(year, month, day)
        if found is not None and found >= today:
            return found
    return None


def _find_amount(text: str) -> Decimal | None:
    candidates: list[tuple[bool, Decimal]] = []
    for match in _AMOUNT.finditer(text):
        value = _number(match.group("number"), match.group("scale"))
        if value is not None:
            money = bool(match.group("before") or match.group("after") or match.group("scale"))
            candidates.append((money, value))
    for match in _ZH_AMOUNT.finditer(text):
        whole = _zh_number(match.group(1))
        if whole is not None:
            candidates.append((True, Decimal(whole).quantize(Decimal("0.01"))))
    if not candidates:
        return None
    # One marked as money ("500元", "$500", "1万") wins over bare numbers; else the first.
    marked = [value for is_money, value in candidates if is_money]
    amount = marked[0] if marked else candidates[0][1]
    if not Decimal(0) < amount <= MAX_AMOUNT:
        return None
    return amount


def _number(digits: str, scale: str | None) -> Decimal | None:
    try:
        value = Decimal(digits.replace(",", ""))
    except InvalidOperation:
        return None
    if scale:
        value *= {"万": 10_000, "千": 1_000, "k": 1_000}[scale]
    if value > MAX_AMOUNT:
        return value  # too much: refused by the caller (quantize would overflow)
    if value != value.quantize(Decimal("0.01")):
        return None  # fractions of a cent are no amount anyone pays
    return value.quantize(Decimal("0.01"))


def _zh_number(text: str) -> int | None:
    """五百 → 500, 一万二千 → 12000, 二十五 → 25, 一千零五 → 1005; shorthand that leaves its
    unit out (三千五 for 3500) and anything out of order is not read."""
    total, section, digit, last_unit = 0, 0, None, 1
    for char in text:
        if char == "零":
            if digit is not None:
                return None
            last_unit = 1  # a digit after 零 is written out in full
        elif char in _ZH_DIGITS:
            if digit is not None:
                return None  # two digits in a row (五五): not a numeral we read
            digit = _ZH_DIGITS[char]
        elif char in _ZH_UNITS:
            unit = _ZH_UNITS[char]
            if unit >= last_unit > 1:
                return None  # 百千: out of order
            section += (1 if digit is None else digit) * unit
            digit, last_unit = None, unit
        else:  # 万
            section += digit or 0
            if section == 0 or total:
                return None
            total, section, digit, last_unit = section * 10_000, 0, None, 10_000
    if digit is not None and last_unit > 10:
        return None
    total += section + (digit or 0)
    return total or None
