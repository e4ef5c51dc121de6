"""Reading a reply as a promise to pay: the examples debtors write, and the invariants for
anything they might write (never raises; a positive amount; a date from today, not too far)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.domain.promises import MAX_AMOUNT, MAX_DAYS_AHEAD, parse_promise

TUESDAY = dt.date(2026, 11, 24)


@pytest.mark.parametrize(
    ("text", "amount", "on"),
    [
        ("PAY 500 FRI", "500", dt.date(2026, 11, 27)),
        ("pay 500 on 12/5", "500", dt.date(2026, 12, 5)),
        ("周五还500", "500", dt.date(2026, 11, 27)),
        ("明天还300元", "300", dt.date(2026, 11, 25)),
        ("12月5日还款1000", "1000", dt.date(2026, 12, 5)),
        ("下周一还两千元", "2000", dt.date(2026, 11, 30)),
        ("I will pay $1,250.50 tomorrow", "1250.50", dt.date(2026, 11, 25)),
        ("3天后还五百元", "500", dt.date(2026, 11, 27)),
        ("pay 100 on Dec 5th", "100", dt.date(2026, 12, 5)),
        ("我5号还500", "500", dt.date(2026, 12, 5)),
        ("还款 2026-12-01 800", "800", dt.date(2026, 12, 1)),
        ("pay 200 on 11/20", "200", dt.date(2027, 11, 20)),  # 20 November past: next year's
    ],
)
def test_the_replies_debtors_write(text: str, amount: str, on: dt.date) -> None:
    found = parse_promise(text, TUESDAY)
    assert found is not None
    assert (found.amount, found.promised_on) == (Decimal(amount), on)


@pytest.mark.parametrize(
    "text",
    ["pay 500", "paid 500 yesterday", "pay 500 on 13/45", "see you FRI", "还款", "pay 0 tomorrow"],
)
def test_what_is_no_promise(text: str) -> None:
    assert parse_promise(text, TUESDAY) is None


def test_day_first_for_a_uk_lender() -> None:
    found = parse_promise("pay 500 on 5/12", TUESDAY, day_first=True)
    assert found is not None
    assert found.promised_on == dt.date(2026, 12, 5)


@given(st.text(max_size=200), st.dates())
def test_never_raises_and_only_sound_promises(text: str, today: dt.date) -> None:
    found = parse_promise(text, today)
    if found is not None:
        assert Decimal(0) < found.amount <= MAX_AMOUNT
        assert today <= found.promised_on
        assert (found.promised_on - today).days <= MAX_DAYS_AHEAD


_WORDS = st.sampled_from(
    [
        "pay",
        "1",
        "2",
        "12",
        "31",
        "500",
        "/",
        "fri",
        "月",
        "日",
        "还",
        "元",
        "明天",
        "下周",
        "周五",
        "next",
        "dec",
        " ",
        "万",
        "五",
        "百",
        ",",
        ".",
        "号",
        "天后",
        "tomorrow",
        "$",
        "-",
        "2026",
    ]
)


@given(st.lists(_WORDS, max_size=12).map("".join), st.dates())
def test_promise_shaped_noise_is_read_soundly(text: str, today: dt.date) -> None:
    found = parse_promise(text, today)
    if found is not None:
        assert found.amount > 0
        assert today <= found.promised_on <= today + dt.timedelta(days=MAX_DAYS_AHEAD)


@given(
    st.integers(min_value=1, max_value=99_999),
    st.integers(min_value=0, max_value=6),
    st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2100, 1, 1)),
    st.sampled_from(["PAY {a} {w}", "{wz}还{a}元", "pay {a} on {w}day"]),
)
def test_a_weekday_promise_is_read_back_exactly(
    amount: int, weekday: int, today: dt.date, form: str
) -> None:
    en = ("mon", "tues", "wednes", "thurs", "fri", "satur", "sun")[weekday]
    zh = "周" + "一二三四五六日"[weekday]
    text = form.format(a=amount, w=en[:3] if "day" not in form else en, wz=zh)
    found = parse_promise(text, today)
    assert found is not None, text
    assert found.amount == Decimal(amount)
    assert found.promised_on.weekday() == weekday
    assert 0 <= (found.promised_on - today).days < 7
