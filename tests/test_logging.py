"""Logs are structured and never carry a phone or ID number whole, even foreign log lines."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

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
