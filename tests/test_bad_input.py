"""No input makes a server error: what a fuzzer found answering 500 (ids past 64 bits, broken
multipart, 5,000-digit numbers, deep nesting, far dates, NaN) gets a 4xx in the one error shape
with nothing stored and nothing logged as an error; and request values are strict (a list is
not a reference, a number not a date, ``true`` not a month, "١٢٣" not an amount)."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

import pytest
import structlog
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from service.db.models import ImportRun, Job, Payment, Role
from tests.conftest import login, make_user

Client = TestClient[Any, Any]
HUGE = "9" * 20  # past 64 bits
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def errors_logged() -> Iterator[list[MutableMapping[str, Any]]]:
    """The error-level events logged while the test runs (a traceback is one)."""
    with structlog.testing.capture_logs() as events:
        yield [e for e in events if e.get("log_level") in ("error", "critical", "exception")]


@pytest.fixture
async def staff(client: Client, engine: AsyncEngine) -> dict[str, str]:
    await make_user(engine, "sup", Role.supervisor)
    token = await login(client, "sup")
    client.session.cookie_jar.clear()  # the bearer token alone
    return {"Authorization": f"Bearer {token}"}


async def _refused(response: Any, status: int) -> dict[str, Any]:
    assert response.status == status, (response.status, await response.text())
    body: dict[str, Any] = await response.json()
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message", "details"}
    return error


async def _count(engine: AsyncEngine, table: Any) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table)) or 0)


async def test_ids_past_the_column_are_not_found(
    client: Client, staff: dict[str, str], errors_logged: list[MutableMapping[str, Any]]
) -> None:
    for path in (f"/api/jobs/{HUGE}", f"/api/imports/{HUGE}", f"/api/imports/{HUGE}/errors"):
        await _refused(await client.get(path, headers=staff), 404)
    # ids are 32-bit INTEGER columns: one past that is as unknown as any other
    await _refused(await client.get(f"/api/jobs/{2**31}", headers=staff), 404)
    close = await client.post(f"/api/tasks/{HUGE}/close", json={"status": "done"}, headers=staff)
    await _refused(close, 404)
    assert errors_logged == []


async def test_offsets_and_limits_past_64_bits_are_named(
    client: Client, staff: dict[str, str], errors_logged: list[MutableMapping[str, Any]]
) -> None:
    for path in ("/api/loans", "/api/jobs", "/api/imports", "/api/payments", "/api/tasks"):
        for name in ("offset", "limit"):
            error = await _refused(await client.get(f"{path}?{name}={HUGE}", headers=staff), 422)
            assert [d["field"] for d in error["details"]] == [name], path
    assert errors_logged == []


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data", b"no boundary at all"),
        ("multipart/form-data; boundary=b", b"--b\r\n\r\nloan_ref\r\n--b--\r\n"),
        (
            "multipart/form-data; boundary=b",
            b'--b\r\nContent-Disposition: form-data; name="loans.csv"; filename="loans.csv"'
            b"\r\n\r\nloan_ref,borrower",
        ),
        # A part whose header line is no header (the fuzz run's: a stray word before the end).
        ("multipart/form-data; boundary=b", b"--b\r\nFalse--b--\r\n"),
    ],
    ids=["missing boundary", "part without headers", "truncated", "unreadable header"],
)
async def test_a_malformed_upload_is_a_400_and_stores_nothing(
    client: Client,
    engine: AsyncEngine,
    staff: dict[str, str],
    errors_logged: list[MutableMapping[str, Any]],
    content_type: str,
    body: bytes,
) -> None:
    response = await client.post(
        "/api/imports", data=body, headers={**staff, "Content-Type": content_type}
    )
    error = await _refused(response, 400)
    assert error["code"] == "invalid_input"
    assert await _count(engine, ImportRun) == 0
    assert errors_logged == []


@pytest.mark.parametrize(
    "body",
    [
        '{"username": ' + "1" * 5000 + ', "password": "x"}',
        '{"username": "a", "password": "b", "x": ' + "[" * 5000 + "]" * 5000 + "}",
        '{"a": ' * 40 + "1" + "}" * 40,
        '{"username": "a", "password": NaN}',
        '{"username": "a", "password": Infinity}',
        '{"username": "a", "password": 1e999}',
    ],
    ids=["5000 digits", "5000 deep", "40 deep", "NaN", "Infinity", "1e999"],
)
async def test_json_no_parser_should_take_is_a_400(
    client: Client, staff: dict[str, str], errors_logged: list[MutableMapping[str, Any]], body: str
) -> None:
    # The anonymous login reads JSON before anyone is known, and so does every other endpoint.
    for path, headers in (("/api/session", JSON), ("/api/payments", {**staff, **JSON})):
        error = await _refused(await client.post(path, data=body, headers=headers), 400)
        assert error["code"] == "invalid_input"
    assert errors_logged == []


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "1899-12-31", "3000-01-01"])
async def test_dates_outside_1900_to_2999_are_refused_before_any_work(
    client: Client,
    engine: AsyncEngine,
    staff: dict[str, str],
    errors_logged: list[MutableMapping[str, Any]],
    day: str,
) -> None:
    posts = {
        "/api/cob": ({"as_of": day}, "as_of"),
        "/api/plans/dry-run": ({"for": day}, "for"),
        "/api/payments": (
            {"payment_ref": "P1", "loan_ref": "L1", "paid_on": day, "amount": "1.00"},
            "paid_on",
        ),
    }
    for path, (body, field) in posts.items():
        error = await _refused(await client.post(path, json=body, headers=staff), 422)
        assert [d["field"] for d in error["details"]] == [field], path
    gets = {
        f"/api/exports/accounts?as_of={day}": ["as_of"],
        f"/api/payments?since={day}": ["since"],
        f"/api/experiments/x/results?from={day}&to={day}": ["from", "to"],
    }
    for path, fields in gets.items():
        error = await _refused(await client.get(path, headers=staff), 422)
        assert [d["field"] for d in error["details"]] == fields, path
    assert await _count(engine, Job) == 0  # no close of business, no dry run was queued
    assert errors_logged == []


@pytest.mark.parametrize("share", ["NaN", "Infinity", "-Infinity", "1e999", "0", "1", "0.0"])
async def test_a_share_that_is_not_a_fraction_is_refused(
    client: Client, staff: dict[str, str], errors_logged: list[MutableMapping[str, Any]], share: str
) -> None:
    body = {"key": "m1", "challenger": "senior_first", "share": share}
    error = await _refused(await client.post("/api/experiments", json=body, headers=staff), 422)
    assert [d["field"] for d in error["details"]] == ["share"]
    assert errors_logged == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("payment_ref", ["a"]),
        ("payment_ref", 12),
        ("loan_ref", {"a": 1}),
        ("paid_on", 1767225600),  # midnight of 2026-01-01 as a Unix time
        ("paid_on", "1767225600"),
        ("paid_on", "2026-W01-1"),  # ISO week date
        ("paid_on", "2026-001"),  # ordinal date
        ("paid_on", "20260101"),
        ("paid_on", " 2026-01-01"),
        ("amount", "1,0,0.00"),
        ("amount", "1,000.00"),
        ("amount", "١٢٣"),  # Arabic-Indic digits
        ("amount", "１２３"),  # full-width digits
        ("amount", "1e3"),
        ("amount", " 12.50"),
        ("amount", "012.50"),
        ("amount", 12),
    ],
)
async def test_values_are_strict(
    client: Client, engine: AsyncEngine, staff: dict[str, str], field: str, value: Any
) -> None:
    payment = {"payment_ref": "P1", "loan_ref": "L1", "paid_on": "2026-01-01", "amount": "1.00"}
    response = await client.post("/api/payments", json={**payment, field: value}, headers=staff)
    error = await _refused(response, 422)
    assert [d["field"] for d in error["details"]] == [field]
    assert await _count(engine, Payment) == 0


async def test_true_is_not_a_month(client: Client, staff: dict[str, str]) -> None:
    event = {"type": "extension", "reason": "asked for", "months": True}
    response = await client.post("/api/loans/L1/events", json=event, headers=staff)
    error = await _refused(response, 422)
    assert [d["field"] for d in error["details"]] == ["months"]


@pytest.mark.parametrize("value", ["5.0", " 5", "+5", "٥", "0x5", "5e0"])
async def test_a_query_number_is_digits(client: Client, staff: dict[str, str], value: str) -> None:
    error = await _refused(await client.get(f"/api/loans?limit={value}", headers=staff), 422)
    assert [d["field"] for d in error["details"]] == ["limit"]


@pytest.mark.parametrize("value", ["yes", "1", "on", "True"])
async def test_a_query_flag_is_true_or_false(
    client: Client, staff: dict[str, str], value: str
) -> None:
    error = await _refused(await client.get(f"/api/tasks?all={value}", headers=staff), 422)
    assert [d["field"] for d in error["details"]] == ["all"]
    assert (await client.get("/api/tasks?all=true", headers=staff)).status == 200
