"""The supervisor dashboard on both databases: the aggregates the close of business keeps give
the figures worked out by hand for the small portfolio of tests/dashboard_floor.py; a night run
again, or the aggregates rebuilt, changes nothing; the date range and the groupings; the month's
closing snapshot survives retention; the page shows the API's numbers, each KPI's definition,
and every table as CSV safe in a spreadsheet; only supervisors and admins see any of it."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from service.cli.dashboard import cmd_dashboard
from service.cob.nightly import run_cob
from service.portfolio import dashboard
from service.settings import Settings
from tests import dashboard_floor
from tests.conftest import PASSWORD, login
from tests.dashboard_floor import ARMS, EVIL_QUEUE, Floor

BUCKETS = ("M0", "M1", "M2", "M3", "M4", "M5", "M6", "M7+")
NOVEMBER = dashboard.Period(dt.date(2026, 11, 1), dt.date(2026, 11, 30))
AGGREGATES = (
    "dash_portfolio_daily",
    "dash_activity_daily",
    "dash_promise_daily",
    "dash_roll_monthly",
)
Client = TestClient[Any, Any]


@pytest.fixture
async def floor(engine: AsyncEngine, tmp_path: Path) -> Floor:
    return await dashboard_floor.build(engine, tmp_path / "drop")


def grouped(period: dashboard.Period, group: dashboard.Grouping) -> dashboard.Period:
    return dashboard.Period(period.start, period.end, group)


def by_group(rows: list[dict[str, Any]], *keys: str) -> dict[Any, tuple[Any, ...]]:
    return {row["group"]: tuple(row[k] for k in keys) for row in rows}


def d(value: str) -> Decimal:
    return Decimal(value)


async def contents(engine: AsyncEngine) -> dict[str, list[tuple[Any, ...]]]:
    """Every aggregate row but its id, in a stable order."""
    found = {}
    async with engine.connect() as conn:
        for table in AGGREGATES:
            rows = (await conn.execute(text(f"SELECT * FROM {table}"))).mappings().all()
            found[table] = sorted(
                tuple(str(v) for k, v in row.items() if k != "id") for row in rows
            )
    return found


async def test_the_portfolio_at_the_periods_last_close_by_bucket_and_class(
    engine: AsyncEngine, floor: Floor
) -> None:
    async with engine.connect() as conn:
        buckets = await dashboard.portfolio(conn, NOVEMBER, "bucket", BUCKETS)
        classes = await dashboard.portfolio(conn, NOVEMBER, "risk_class", BUCKETS)
        by_queue = await dashboard.portfolio(conn, grouped(NOVEMBER, "queue"), "bucket", BUCKETS)
        october = await dashboard.portfolio(
            conn, dashboard.Period(dt.date(2026, 10, 1), dt.date(2026, 11, 28)), "bucket", BUCKETS
        )
    assert buckets["as_of"] == dt.date(2026, 11, 30)
    assert [
        (r["bucket"], r["accounts"], r["outstanding"], r["overdue_amount"]) for r in buckets["rows"]
    ] == [
        ("M0", 2, d("1200.00"), d("0.00")),  # B (500 left) and C (700 left after paying early)
        ("M2", 1, d("2000.00"), d("1000.00")),  # A, 41 days past due
        ("M3", 1, d("300.00"), d("300.00")),  # D, 76 days
    ]
    assert [(r["risk_class"], r["accounts"]) for r in classes["rows"]] == [
        ("normal", 2),
        ("special_mention", 2),
    ]
    assert [(r["group"], r["bucket"], r["accounts"]) for r in by_queue["rows"]] == [
        (EVIL_QUEUE, "M0", 1),  # by name: "=" before "Q"
        (EVIL_QUEUE, "M3", 1),
        ("Q1", "M0", 1),
        ("Q1", "M2", 1),
    ]
    # A range ending before 29 Nov: the 31 Oct close.
    assert october["as_of"] == dt.date(2026, 10, 31)
    assert [(r["bucket"], r["accounts"]) for r in october["rows"]] == [
        ("M0", 1),
        ("M1", 2),
        ("M2", 1),
    ]


async def test_recovery_collected_over_the_overdue_balance_at_the_close_before(
    engine: AsyncEngine, floor: Floor
) -> None:
    async with engine.connect() as conn:
        whole = await dashboard.recovery(conn, NOVEMBER)
        queues = await dashboard.recovery(conn, grouped(NOVEMBER, "queue"))
        last_day = await dashboard.recovery(
            conn, dashboard.Period(dt.date(2026, 11, 30), dt.date(2026, 11, 30))
        )
    # Overdue on 31 Oct: A 1000 + B 500 + D 300; collected in November: B's 500 (C's 100,
    # paid early by a current account, is not a recovery).
    assert whole["opening_close"] == dt.date(2026, 10, 31)
    assert by_group(whole["rows"], "overdue_at_start", "collected", "recovery_rate") == {
        None: (d("1800.00"), d("500.00"), d("0.2778"))
    }
    assert by_group(queues["rows"], "overdue_at_start", "collected", "recovery_rate") == {
        "Q1": (d("1500.00"), d("500.00"), d("0.3333")),
        EVIL_QUEUE: (d("300.00"), d("0.00"), d("0.0000")),
    }
    # 30 Nov alone: from the 29 Nov close (A 1000 + D 300 overdue), nothing paid that day.
    assert last_day["opening_close"] == dt.date(2026, 11, 29)
    assert by_group(last_day["rows"], "overdue_at_start", "recovery_rate") == {
        None: (d("1300.00"), d("0.0000"))
    }


async def test_contact_and_right_party_rates_count_outbound_calls_by_day_range_and_arm(
    engine: AsyncEngine, floor: Floor
) -> None:
    async with engine.connect() as conn:
        whole = await dashboard.contact(conn, NOVEMBER)
        arms = await dashboard.contact(conn, grouped(NOVEMBER, "arm"))
        collectors = await dashboard.contact(conn, grouped(NOVEMBER, "collector"))
        last_day = await dashboard.contact(
            conn, dashboard.Period(dt.date(2026, 11, 30), dt.date(2026, 11, 30))
        )
    keys = ("attempts", "connected", "right_party", "contact_rate", "rpc_rate")
    # Four calls (the SMS is not one): two answered, one by the debtor (the other a wrong party).
    assert by_group(whole["rows"], *keys) == {None: (4, 2, 1, d("0.5000"), d("0.2500"))}
    assert by_group(arms["rows"], *keys) == {
        ARMS[0]: (3, 1, 1, d("0.3333"), d("0.3333")),  # A's three calls
        ARMS[1]: (1, 1, 0, d("1.0000"), d("0.0000")),  # D's wrong party
    }
    assert set(by_group(collectors["rows"], "attempts")) == {"c1", "c2"}
    # 29 Nov 23:30 in Shanghai is the 29th's: not in a range of the 30th.
    assert by_group(last_day["rows"], *keys) == {None: (3, 2, 1, d("0.6667"), d("0.3333"))}


async def test_promises_kept_by_count_and_amount_of_those_falling_due(
    engine: AsyncEngine, floor: Floor
) -> None:
    async with engine.connect() as conn:
        whole = await dashboard.promises(conn, NOVEMBER)
        queues = await dashboard.promises(conn, grouped(NOVEMBER, "queue"))
    keys = ("made", "made_amount", "due", "kept", "partially_kept", "broken", "open")
    rates = ("kept_rate", "kept_amount_rate")
    # Made in November: four (the proposal is not a promise yet); due: A's, B's and D's.
    assert by_group(whole["rows"], *keys) == {None: (4, d("1400.00"), 3, 1, 1, 1, 0)}
    # Kept: one of three; paid 500 + 100 of 1200 promised.
    assert by_group(whole["rows"], *rates) == {None: (d("0.3333"), d("0.5000"))}
    assert by_group(queues["rows"], *rates) == {
        "Q1": (d("0.5000"), d("0.5556")),  # B kept 500, A broke 400
        EVIL_QUEUE: (d("0.0000"), d("0.3333")),  # D paid 100 of 300
    }


async def test_the_roll_rate_matrix_month_over_month_by_count_and_balance(
    engine: AsyncEngine, floor: Floor
) -> None:
    async with engine.connect() as conn:
        whole = await dashboard.rolls(conn, NOVEMBER, BUCKETS)
        queues = await dashboard.rolls(conn, grouped(NOVEMBER, "queue"), BUCKETS)
    (month,) = whole["months"]
    assert (month["month"], month["from_on"], month["to_on"]) == (
        dt.date(2026, 11, 1),
        dt.date(2026, 10, 31),
        dt.date(2026, 11, 30),
    )
    cells = {
        (row["from_bucket"], cell["bucket"]): (
            cell["accounts"],
            cell["share"],
            cell["balance_share"],
        )
        for row in month["rows"]
        for cell in row["to"]
        if cell["accounts"]
    }
    assert cells == {
        ("M0", "M0"): (1, d("1.0000"), d("1.0000")),  # C
        ("M1", "M0"): (1, d("0.5000"), d("0.3333")),  # B cured (1000 of M1's 3000)
        ("M1", "M2"): (1, d("0.5000"), d("0.6667")),  # A rolled
        ("M2", "M3"): (1, d("1.0000"), d("1.0000")),  # D rolled
    }
    keys = ("roll_rate", "roll_rate_balance", "cure_rate", "cure_rate_balance")
    # Rolled: A and D of four (2300 of 4100); cured: B of the three overdue (1000 of 3300).
    assert by_group(whole["rates"], *keys) == {
        None: (d("0.5000"), d("0.5610"), d("0.3333"), d("0.3030"))
    }
    assert by_group(queues["rates"], *keys) == {
        "Q1": (d("0.5000"), d("0.6667"), d("0.5000"), d("0.3333")),
        EVIL_QUEUE: (d("0.5000"), d("0.2727"), d("0.0000"), d("0.0000")),
    }


async def test_a_night_run_again_and_a_rebuild_change_no_aggregate(
    engine: AsyncEngine, floor: Floor, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    before = await contents(engine)
    assert all(before[table] for table in AGGREGATES)
    await run_cob(engine, dt.date(2026, 11, 30))
    assert await contents(engine) == before
    async with engine.begin() as conn:
        for table in AGGREGATES:
            await conn.execute(text(f"DELETE FROM {table}"))
    await cmd_dashboard(settings, argparse.Namespace(start=None, end=None))
    assert "rebuilt 3 date(s)" in capsys.readouterr().out
    assert await contents(engine) == before
    # A range rebuilds its dates only.
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM dash_portfolio_daily"))
    await cmd_dashboard(
        settings, argparse.Namespace(start=dt.date(2026, 11, 30), end=dt.date(2026, 11, 30))
    )
    async with engine.connect() as conn:
        days = (await conn.execute(text("SELECT DISTINCT as_of FROM dash_portfolio_daily"))).all()
    assert [str(day)[:10] for (day,) in days] == ["2026-11-30"]


async def test_retention_keeps_each_months_closing_snapshot_and_the_aggregates(
    engine: AsyncEngine, floor: Floor
) -> None:
    before = await contents(engine)
    await run_cob(engine, dt.date(2026, 12, 1), retention_days=1)
    async with engine.connect() as conn:
        kept = (await conn.execute(text("SELECT DISTINCT as_of FROM loan_snapshots"))).all()
        roll = await dashboard.rolls(conn, NOVEMBER, BUCKETS)
    # 29 Nov is gone; 31 Oct and 30 Nov closed their months.
    assert sorted(str(day)[:10] for (day,) in kept) == ["2026-10-31", "2026-11-30", "2026-12-01"]
    assert len(roll["months"]) == 1
    after = await contents(engine)
    assert set(before["dash_activity_daily"]) <= set(after["dash_activity_daily"])


async def test_a_range_backwards_or_a_grouping_unknown_is_refused(engine: AsyncEngine) -> None:
    with pytest.raises(Exception, match="to is before from"):
        dashboard.Period(dt.date(2026, 11, 2), dt.date(2026, 11, 1))
    with pytest.raises(Exception, match="group is one of"):
        dashboard.Period(dt.date(2026, 11, 1), dt.date(2026, 11, 2), "team")  # type: ignore[arg-type]


# --- over HTTP ------------------------------------------------------------------------------------


async def browser(client: Client, username: str) -> None:
    html = await (await client.get("/login")).text()
    token = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert token is not None
    origin = str(client.make_url("")).rstrip("/")
    answer = await client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)},
        headers={"Origin": origin},
    )
    assert answer.status == 200, await answer.text()


QUERY = "from=2026-11-01&to=2026-11-30&group=queue"


async def test_the_page_shows_the_apis_numbers_and_every_kpis_definition(
    client: Client, floor: Floor
) -> None:
    api = {"Authorization": f"Bearer {await login(client, 'sup')}"}
    contact = await (await client.get(f"/api/dashboard/contact?{QUERY}", headers=api)).json()
    recovery = await (await client.get(f"/api/dashboard/recovery?{QUERY}", headers=api)).json()
    assert {r["group"]: r["contact_rate"] for r in contact["rows"]} == {
        "Q1": "0.3333",
        EVIL_QUEUE: "1.0000",
    }
    await browser(client, "sup")
    answer = await client.get(f"/dashboard?{QUERY}")
    html = await answer.text()
    assert answer.status == 200, html
    shown = re.findall(r'data-kpi="contact_rate" data-value="([^"]*)"', html)
    assert shown == [r["contact_rate"] for r in contact["rows"]]
    shown = re.findall(r'data-kpi="recovery_rate" data-value="([^"]*)"', html)
    assert shown == [r["recovery_rate"] for r in recovery["rows"]]
    assert "33.33%" in html  # Q1's contact rate, as a reader sees it
    for words in (
        "Amount collected in the period ÷ overdue balance at period start.",
        "Share of accounts in bucket i at t that are current (M0) at t+1.",
        "Connected attempts ÷ attempts.",
        "Right-party contacts ÷ attempts.",
    ):
        assert words in html
    assert 'id="dashboard-data"' in html
    assert "vendor/echarts/echarts.min.js" in html
    for table in dashboard_floor_tables():
        assert f'href="/dashboard/{table}.csv?{QUERY.replace("&", "&amp;")}"' in html
    bad = await client.get("/dashboard?from=2026-12-01&to=2026-11-01")
    assert bad.status == 422
    assert 'data-testid="refused"' in await bad.text()


def dashboard_floor_tables() -> list[str]:
    from service.web.ui.dashboard import TABLES

    return list(TABLES)


async def test_every_table_downloads_as_csv_safe_in_a_spreadsheet(
    client: Client, floor: Floor
) -> None:
    await browser(client, "sup")
    answer = await client.get(f"/dashboard/contact.csv?{QUERY}")
    assert answer.status == 200
    assert answer.content_type == "text/csv"
    body = await answer.text()
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == ["group", "attempts", "connected", "right_party", "contact_rate", "rpc_rate"]
    # The queue named like a formula is written as text, after a quote.
    assert rows[1:] == [
        [f"'{EVIL_QUEUE}", "1", "1", "0", "1.0000", "0.0000"],
        ["Q1", "3", "1", "1", "0.3333", "0.3333"],
    ]
    for table in dashboard_floor_tables():
        answer = await client.get(f"/dashboard/{table}.csv?{QUERY}")
        assert answer.status == 200, table
        assert EVIL_QUEUE not in (await answer.text()).replace(f"'{EVIL_QUEUE}", ""), table


@pytest.mark.parametrize("path", ["/dashboard", "/dashboard/recovery.csv"])
async def test_only_supervisors_and_admins_open_the_dashboard(
    client: Client, floor: Floor, path: str
) -> None:
    anonymous = await client.get(path, allow_redirects=False)
    assert anonymous.status in (302, 303)
    collector = {"Authorization": f"Bearer {await login(client, 'c1')}"}
    for endpoint in ("portfolio", "recovery", "rolls", "promises", "contact", "backlog"):
        refused = await client.get(f"/api/dashboard/{endpoint}", headers=collector)
        assert refused.status == 403, endpoint
    await browser(client, "c1")
    assert (await client.get(path)).status == 403


def test_the_rebuild_verb_reads_its_range() -> None:
    from service.cli import build_parser

    args = build_parser().parse_args(["dashboard", "rebuild", "--from", "2026-11-01"])
    assert (args.start, args.end) == (dt.date(2026, 11, 1), None)
    assert args.handler is cmd_dashboard


async def test_before_any_close_the_dashboard_is_empty_not_broken(
    client: Client, engine: AsyncEngine
) -> None:
    from service.db.models import Role
    from tests.conftest import make_user

    await make_user(engine, "sup", Role.supervisor)
    api = {"Authorization": f"Bearer {await login(client, 'sup')}"}
    for endpoint in ("recovery", "promises", "contact"):
        answer = await client.get(f"/api/dashboard/{endpoint}", headers=api)
        assert answer.status == 200, endpoint
        assert (await answer.json())["rows"] == [], endpoint
    portfolio = await (await client.get("/api/dashboard/portfolio", headers=api)).json()
    assert (portfolio["as_of"], portfolio["by_bucket"]) == (None, [])
    await browser(client, "sup")
    answer = await client.get("/dashboard")
    assert answer.status == 200
    assert 'data-testid="no-close"' in await answer.text()
