"""Logs are structured and never carry a phone or ID number whole, even foreign log lines."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import time
import urllib.parse
from collections.abc import Iterator

import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

from service.domain.phones import mask
from service.logs import configure_logging
from service.settings import Settings


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging(Settings(log_format="json", log_level="INFO"), stream=stream)
    yield stream
    logging.getLogger().handlers.clear()
    structlog.reset_defaults()


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_our_events_are_json_with_bound_context_and_masked_numbers(json_log: io.StringIO) -> None:
    structlog.contextvars.bind_contextvars(request_id="abc123")
    try:
        structlog.get_logger("test").info(
            "contact.sms_sent",
            phone="+8613800138000",
            note="called 138 0013 8000, id 11010519491231002X",
        )
    finally:
        structlog.contextvars.clear_contextvars()
    (line,) = _lines(json_log)
    assert line["event"] == "contact.sms_sent"
    assert line["request_id"] == "abc123"
    assert line["phone"] == "**********8000"
    text = json.dumps(line)
    assert "13800138000" not in text
    assert "138 0013 8000" not in text
    assert "11010519491231002X" not in text
    assert "002X" in text


def test_foreign_log_lines_are_masked_too(json_log: io.StringIO) -> None:
    logging.getLogger("aiohttp.access").info(
        '127.0.0.1 "GET /api/lookup?phone=13800138000 HTTP/1.1" 200'
    )
    logging.getLogger("sqlalchemy.engine.Engine").warning("[parameters: ('+12125550123',)]")
    lines = _lines(json_log)
    assert len(lines) == 2
    assert "13800138000" not in lines[0]["event"]  # type: ignore[operator]
    assert "2125550123" not in lines[1]["event"]  # type: ignore[operator]
    assert "0123" in lines[1]["event"]  # type: ignore[operator]


def test_masking_keeps_dates_times_and_references_readable() -> None:
    line = "2026-11-24T15:30:07.550552Z loan L00000001 amount 12345678.50"
    assert mask(line) == line


ACCESS_LINE = (
    '127.0.0.1 [24/Nov/2026:15:30:07 +0000] "GET {path} HTTP/1.1" {status} {size} "-" '
    '"Python/3.11 aiohttp/3.14.5"'
)


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("/api/lookup?phone=%2B8613800138000", "13800138000"),
        ("/api/lookup?phone=%2B12125550123", "2125550123"),
        ("/api/lookup?phone=%2B1%20212%20555%200123", "0123"),
        ("/api/lookup?phone=138+0013+8000", "8000"),
        ("called +86.138.0013.8000 twice", "8000"),
        ("called 138 0013 8000 twice", "8000"),
        ("called (212) 555-0123 twice", "0123"),
        ("the borrower's ID11010519491231002X", "002X"),
        ("dial tel13800138000 now", "8000"),
        ("电话13800138000", "8000"),
        ("id 110105 19491231 002X on file", "002X"),
    ],
)
def test_numbers_are_masked_however_they_are_written(text: str, hidden: str) -> None:
    masked = mask(text)
    # Decoded, the only digits left of the number are its last four.
    digits = "".join(c for c in urllib.parse.unquote(masked) if c.isdigit() or c in "Xx")
    assert digits == hidden[-4:], masked


def test_an_access_log_line_keeps_its_status_size_and_request_id() -> None:
    line = ACCESS_LINE.format(path="/api/x", status=200, size=12345678)
    assert mask(line) == line
    line = ACCESS_LINE.format(path="/api/x?phone=13800138000", status=404, size=1234)
    assert mask(line) == ACCESS_LINE.format(path="/api/x?phone=*******8000", status=404, size=1234)
    for request_id in ("1947aa122c9e4f0b", "0b1947aa122c9e41"):
        assert mask(f"request_id={request_id}") == f"request_id={request_id}"
        assert mask(f"run 20261124 {request_id}").endswith(f" {request_id}")


def test_masking_a_long_line_takes_linear_time() -> None:
    """Every value of every log line passes the masker: padding must not make it quadratic
    (200,000 spaces took hours when separators in front of a number could repeat)."""
    for filler in (" ", ".", "%20", "-", "+"):
        line = filler * 200_000 + "13800138000"
        started = time.perf_counter()
        assert mask(line).endswith("*******8000")
        assert time.perf_counter() - started < 5


def test_integers_and_mapping_keys_are_masked_too(json_log: io.StringIO) -> None:
    structlog.get_logger("test").info(
        "contact.lookup", phone=8613800138000, count=3, by_number={"+8613800138000": 2}
    )
    (line,) = _lines(json_log)
    text = json.dumps(line)
    assert "13800138000" not in text
    assert line["count"] == 3
    assert line["phone"] == "*********8000"


def _cn_mobile() -> st.SearchStrategy[str]:
    return st.builds(
        lambda second, rest: f"1{second}{rest}",
        st.sampled_from("3456789"),
        st.text("0123456789", min_size=9, max_size=9),
    )


def _us_number() -> st.SearchStrategy[str]:
    return st.builds(
        lambda area, exchange, line: f"{area}{exchange}{line}",
        st.integers(200, 999).map(str),
        st.integers(200, 999).map(str),
        st.text("0123456789", min_size=4, max_size=4),
    )


def _cn_id() -> st.SearchStrategy[str]:
    return st.builds(
        lambda area, born, seq, check: f"{area}{born:%Y%m%d}{seq}{check}",
        st.text("0123456789", min_size=6, max_size=6),
        st.dates(dt.date(1930, 1, 1), dt.date(2010, 12, 31)),
        st.text("0123456789", min_size=3, max_size=3),
        st.sampled_from("0123456789X"),
    )


@st.composite
def written_numbers(draw: st.DrawFn) -> tuple[str, str]:
    """(the number's digits, the number as someone wrote it in a log line)."""
    kind = draw(st.sampled_from(["cn", "us", "e164", "id"]))
    if kind == "cn":
        national = draw(_cn_mobile())
        country, groups = "86", [national[:3], national[3:7], national[7:]]
    elif kind == "us":
        national = draw(_us_number())
        country, groups = "1", [national[:3], national[3:6], national[6:]]
    elif kind == "e164":
        country = draw(st.sampled_from(["44", "49", "852", "91", "61", "7"]))
        national = draw(st.text("0123456789", min_size=12 - len(country), max_size=12))
        groups = [national[: len(national) - 8], national[-8:-4], national[-4:]]
    else:
        national = draw(_cn_id())
        country, groups = "", [national[:6], national[6:14], national[14:]]
    international = bool(country) and draw(st.booleans())
    separator = draw(st.sampled_from(["", " ", "-", ".", "+"]))
    written = separator.join(g for g in groups if g)
    if kind == "us" and separator and draw(st.booleans()):
        written = f"({groups[0]}) {groups[1]}-{groups[2]}"
    if international:
        written = f"+{country}{separator or ''}{written}"
    digits = (country if international else "") + national
    if draw(st.booleans()):  # as it arrives in a URL or a form
        written = draw(st.sampled_from([urllib.parse.quote, urllib.parse.quote_plus]))(
            written, safe=""
        )
    prefix = draw(st.sampled_from(["", "tel", "ID", "phone=", "tel:", "No.", "电话", "mobile "]))
    return digits, prefix + written


@settings(max_examples=300, deadline=None)
@given(
    number=written_numbers(),
    where=st.sampled_from(["text", "access"]),
    status=st.sampled_from([200, 201, 302, 404, 422, 500]),
    size=st.integers(0, 10**10),
)
def test_no_run_of_a_number_survives_masking_wherever_it_is_written(
    number: tuple[str, str], where: str, status: int, size: int
) -> None:
    digits, written = number
    if where == "text":
        left, right = "called ", " about L00000001 on 2026-11-24, owes 12345678.50"
    else:
        line = ACCESS_LINE.format(path="/api/lookup?q=\0", status=status, size=size)
        left, right = line.split("\0")
    masked = mask(left + written + right)

    # Everything around the number reads as it was: references, dates, amounts, the access
    # log's status and size.
    assert masked.startswith(left), masked
    assert masked.endswith(right), masked
    middle = urllib.parse.unquote(masked[len(left) : len(masked) - len(right)])
    kept = "".join(c for c in middle if c.isdigit() or c in "X")
    assert kept.endswith(digits[-4:]), (written, masked)
    for start in range(len(digits) - 7):
        assert digits[start : start + 8] not in kept, (written, masked)
