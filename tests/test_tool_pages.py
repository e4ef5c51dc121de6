"""The supervisor tools over HTTP, on both databases: the index, the outbox with its filters and
one message, the compliance report by reason with its drill-down and CSV, imports uploaded
through the page with their rejected lines, the jobs, the plans and a dry run; a collector gets
403 on every tool, a refusal is a page with its status (never a server error), a form without
its token 403. Queues, moves and users: tests/test_tool_pages_people.py."""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from service.clock import FixedClock
from service.settings import Settings
from service.web.app import create_app
from service.web.ui import routes
from tests.conftest import PASSWORD, job_done
from tests.task_floor import Floor, build_floor, moment, origin, token_of
from tests.tool_floor import page, rows_of, upload


@pytest.fixture
async def floor(
    aiohttp_client: Any,
    aiohttp_server: Any,
    engine: AsyncEngine,
    settings: Settings,
    tmp_path: Path,
) -> Floor:
    clock = FixedClock(moment(25))
    built = await build_floor(engine, settings, clock, tmp_path / "drop")
    server = await aiohttp_server(create_app(settings, clock))
    await built.log_in(aiohttp_client, server)
    return built


async def test_the_index_links_each_tool_and_a_collector_gets_403_everywhere(
    floor: Floor,
) -> None:
    html = await page(floor, "sup1", "/tools")
    for path in ("/tools/outbox", "/tools/compliance", "/tools/imports", "/tools/queues"):
        assert f'href="{path}"' in html
    tools = [route for route in routes() if route.path.startswith("/tools")]
    assert len(tools) >= 10
    for route in tools:
        path = re.sub(r"{\w+(?::(?:[^{}]|{[^}]*})*)?}", "1", route.path)
        if route.method == "GET":
            answer = await floor["field"].get(path, allow_redirects=False)
        else:
            answer = await floor.post("field", path, {})
        assert answer.status == 403, (route.path, await answer.text())


async def test_the_outbox_lists_filters_and_shows_a_message(floor: Floor) -> None:
    planned = await floor.rows(
        "SELECT o.id, l.loan_ref, o.status FROM outbox o JOIN loans l ON l.id = o.loan_id"
    )
    assert planned, "the close of business planned a contact"
    html = await page(floor, "sup1", "/tools/outbox")
    assert sorted(rows_of(html, "outbox")) == sorted(str(row[0]) for row in planned)
    outbox_id, loan_ref, status = planned[0]
    assert rows_of(await page(floor, "sup1", f"/tools/outbox?loan_ref={loan_ref}"), "outbox") == [
        str(outbox_id)
    ]
    assert rows_of(await page(floor, "sup1", "/tools/outbox?loan_ref=L-NONE"), "outbox") == []
    other = "sent" if status != "sent" else "failed"
    html = await page(floor, "sup1", f"/tools/outbox?status={other}")
    assert 'data-testid="no-outbox"' in html
    # A filter the API refuses: the page says so, with the API's status, and lists everything.
    html = await page(floor, "sup1", "/tools/outbox?status=nonsense", status=422)
    assert 'data-testid="refused"' in html
    assert rows_of(html, "outbox")

    await floor.execute(
        "UPDATE outbox SET status = 'sent', body = :body, sender = '+15005550006' WHERE id = :id",
        body="<p>您好</p>",
        id=outbox_id,
    )
    html = await page(floor, "sup2", f"/tools/outbox/{outbox_id}")
    assert f'href="/api/outbox/{outbox_id}/letter"' in html  # a letter: ready to print
    await floor.execute(
        "UPDATE outbox SET channel = 'sms', body = :body WHERE id = :id",
        body="<b>您好</b> please pay",
        id=outbox_id,
    )
    html = await page(floor, "sup2", f"/tools/outbox/{outbox_id}")
    assert "&lt;b&gt;您好&lt;/b&gt; please pay" in html  # what was sent, escaped
    assert 'data-testid="state">Accepted by the channel<' in html
    await page(floor, "sup1", "/tools/outbox/999999", status=404)


DECISION = (
    "INSERT INTO guard_decisions (loan_id, idempotency_key, stage, party, channel, contact_at, "
    "verdict, reasons, next_allowed_at, inputs, decided_at) SELECT id, NULL, 'plan', 'debtor', "
    "'sms', :at, :verdict, :reasons, NULL, :inputs, :at FROM loans WHERE loan_ref = :ref"
)


async def _decide(floor: Floor, ref: str, verdict: str, reasons: str, day: int = 24) -> None:
    await floor.execute(
        DECISION,
        ref=ref,
        verdict=verdict,
        reasons=reasons,
        at=moment(day),
        inputs='{"facts": {"local_time": "22:10"}, "formula": "=HYPERLINK(1)"}',
    )


async def test_the_compliance_report_counts_stops_by_reason_and_drills_down(
    floor: Floor,
) -> None:
    await floor.execute("DELETE FROM guard_decisions")
    await _decide(floor, "L-LOST", "block", "outside_window,opted_out")
    await _decide(floor, "L-LOST", "block", "outside_window")
    await _decide(floor, "L-LOSS", "defer", "sms_per_day")
    await _decide(floor, "L-M4", "allow", "")
    await _decide(floor, "L-M4", "block", "opted_out", day=10)  # before the period

    period = "from=2026-11-20&to=2026-11-25"
    html = await page(floor, "sup1", f"/tools/compliance?{period}")
    assert rows_of(html, "reason") == ["outside_window", "opted_out", "sms_per_day"]  # most first
    totals = dict(re.findall(r'<b data-verdict="(\w+)">([0-9]+)</b>', html))
    assert totals == {"block": "2", "defer": "1", "review": "0"}
    row = re.search(r'<tr data-reason="opted_out">.*?</tr>', html, re.S)
    assert row is not None
    assert '<td class="num" data-testid="total">1</td>' in row.group(0)
    assert "quiet hours" in html  # the reason by its name

    # The same counts as the API gives.
    api = await (await floor["sup1"].get(f"/api/compliance/report?{period}")).json()
    assert {r["reason"]: r["total"] for r in api["reasons"]} == {
        "outside_window": 2,
        "opted_out": 1,
        "sms_per_day": 1,
    }

    # Drill-down: the decisions behind a reason (a whole code, in the period), then one.
    html = await page(floor, "sup1", f"/tools/compliance/decisions?reason=opted_out&{period}")
    (decision,) = rows_of(html, "decision")
    html = await page(floor, "sup1", f"/tools/compliance/decisions?verdict=block&{period}")
    assert len(rows_of(html, "decision")) == 2
    html = await page(floor, "sup1", f"/tools/compliance/decisions/{decision}")
    assert 'data-testid="verdict">Blocked<' in html
    assert "22:10" in html
    await page(floor, "sup1", f"/tools/compliance/decisions?verdict=allow&{period}", status=422)

    # The file: a row per reason, a cell that would be a formula neutralised.
    await _decide(floor, "L-LOST", "review", "=cmd|' /C calc'!A0")
    answer = await floor["sup1"].get(f"/tools/compliance.csv?{period}")
    assert answer.status == 200
    assert answer.content_type == "text/csv"
    table = list(csv.reader(io.StringIO(await answer.text())))
    assert table[0] == ["reason", "blocked", "deferred", "review", "total"]
    assert ["outside_window", "2", "0", "0", "2"] in table
    assert ["'=cmd|' /C calc'!A0", "0", "0", "1", "1"] in table

    # A period that ends before it starts: said, with the last week shown instead.
    html = await page(floor, "sup1", "/tools/compliance?from=2026-11-25&to=2026-11-01", 422)
    assert 'data-testid="refused"' in html
    await page(floor, "sup1", "/tools/compliance?from=yesterday", 422)
    answer = await floor["sup1"].get("/tools/compliance.csv?from=2026-11-25&to=2026-11-01")
    assert answer.status == 422


LOANS_WITH_A_BAD_LINE = """\
loan_ref,borrower_ref,currency,principal,annual_rate,disbursed_on,maturity_on
L-NEW,B-LOST,CNY,3000.00,0.00,2026-10-01,2027-10-01
L-BAD,B-NOBODY,CNY,1000.00,0.00,2026-10-01,2027-10-01
"""


async def test_an_upload_through_the_page_imports_and_shows_the_rejected_lines(
    floor: Floor,
) -> None:
    answer = await upload(floor, "sup1", {"loans.csv": LOANS_WITH_A_BAD_LINE})
    assert answer.status == 303, await answer.text()
    location = answer.headers["Location"]
    assert re.fullmatch(r"/tools/imports/[0-9]+\?flash=imported", location)
    html = await page(floor, "sup1", location)
    assert "The files are imported." in html
    assert rows_of(html, "file") == ["loans.csv"]
    assert "B-NOBODY" in html or "borrower" in html  # the rejected line's reason
    errors = re.search(r'<table data-testid="errors">.*?</table>', html, re.S)
    assert errors is not None
    assert ">3<" in errors.group(0)  # the line of the file
    assert await floor.rows("SELECT loan_ref FROM loans WHERE loan_ref = 'L-NEW'")
    assert await floor.rows("SELECT source, actor FROM import_runs ORDER BY id DESC LIMIT 1") == [
        ("web", "sup1")
    ]
    run_id = location.split("/")[3].split("?")[0]
    html = await page(floor, "sup1", f"/tools/imports/{run_id}?file=loans.csv")
    assert 'data-testid="errors"' in html
    await page(floor, "sup1", f"/tools/imports/{run_id}?file=../etc.csv", status=400)
    assert run_id in rows_of(await page(floor, "sup1", "/tools/imports"), "run")

    # Refused uploads: an unknown file, nothing chosen, no token — pages, nothing imported.
    before = await floor.rows("SELECT count(*) FROM import_runs")
    answer = await upload(floor, "sup1", {"secrets.csv": "a,b\n"})
    assert answer.status == 400
    assert "secrets.csv" in await answer.text()
    form = aiohttp.FormData(default_to_multipart=True)
    form.add_field("csrf_token", await token_of(floor["sup1"], "/tools/imports"))
    form.add_field("files", b"", filename="", content_type="application/octet-stream")
    answer = await floor["sup1"].post(
        "/tools/imports", data=form, headers=origin(floor["sup1"]), allow_redirects=False
    )
    assert answer.status == 400
    answer = await upload(floor, "sup1", {"loans.csv": LOANS_WITH_A_BAD_LINE}, token=False)
    assert answer.status == 403
    assert await floor.rows("SELECT count(*) FROM import_runs") == before
    await page(floor, "sup1", "/tools/imports/999999", status=404)


async def test_a_large_upload_becomes_a_job_whose_page_follows_it(
    floor: Floor, aiohttp_client: Any, aiohttp_server: Any, settings: Settings
) -> None:
    small = dataclasses.replace(settings, import_inline_bytes=16)
    server = await aiohttp_server(create_app(small, floor.clock))
    client = await aiohttp_client(server)
    token = await token_of(client, "/login")
    answer = await client.post(
        "/login",
        data={"username": "sup1", "password": PASSWORD, "csrf_token": token},
        headers=origin(client),
    )
    assert answer.status == 200
    floor.users["big"] = client
    answer = await upload(floor, "big", {"loans.csv": LOANS_WITH_A_BAD_LINE})
    assert answer.status == 303, await answer.text()
    location = answer.headers["Location"]
    found = re.fullmatch(r"/tools/jobs/([0-9]+)\?flash=queued", location)
    assert found is not None
    job_id = found.group(1)
    html = await page(floor, "big", location)
    assert "This page follows it." in html
    done = await job_done(client, {"url": f"/api/jobs/{job_id}"}, {})
    assert done["state"] == "succeeded"
    html = await page(floor, "big", f"/tools/jobs/{job_id}")
    assert "data-poll" not in html  # finished: nothing left to follow
    assert 'data-testid="state" role="status">Succeeded<' in html
    assert done["progress"]["total_bytes"] == len(LOANS_WITH_A_BAD_LINE.encode())
    assert 'data-testid="read">100.0%<' in html  # the file read through, as a bar
    report = re.search(r'href="(/tools/imports/[0-9]+)" data-testid="report"', html)
    assert report is not None
    assert rows_of(await page(floor, "big", report.group(1)), "file") == ["loans.csv"]
    assert job_id in rows_of(await page(floor, "sup2", "/tools/jobs"), "job")
    await page(floor, "sup2", "/tools/jobs/999999", status=404)


async def test_the_plans_in_force_their_versions_and_tomorrows_dry_run(floor: Floor) -> None:
    html = await page(floor, "sup1", "/tools/plans")
    versions = rows_of(html, "version")
    assert versions, html
    in_force = re.findall(r'<section class="card" data-plan="([^"]+)">', html)
    assert in_force
    assert rows_of(html, "step")
    assert 'value="2026-11-26"' in html  # tomorrow, on the lender's clock
    api = await (await floor["sup1"].get("/api/plans")).json()
    assert sorted(versions) == sorted(f"{p['name']}:{p['version']}" for p in api["items"])

    before = await floor.rows("SELECT count(*) FROM outbox")
    answer = await floor.post("sup1", "/tools/plans/dry-run", {"for": "2026-11-26"})
    assert answer.status == 303, await answer.text()
    job_id = answer.headers["Location"].rsplit("/", 1)[1]
    done = await job_done(floor["sup1"], {"url": f"/api/jobs/{job_id}"}, {})
    assert done["state"] == "succeeded", done
    html = await page(floor, "sup1", f"/tools/jobs/{job_id}")
    report = re.search(r'data-testid="dry-run-report">.*?</section>', html, re.S)
    assert report is not None
    planned = done["result"]["accounts"]
    assert f"{planned} accounts planned" in report.group(0)
    assert await floor.rows("SELECT count(*) FROM outbox") == before  # written nowhere

    answer = await floor.post("sup1", "/tools/plans/dry-run", {"for": "tomorrow"})
    assert answer.status == 422
    assert 'data-testid="refused"' in await answer.text()
