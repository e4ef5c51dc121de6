"""The supervisor tools over HTTP, on both databases: the index, the outbox with its filters and
one message, the compliance report by reason with its drill-down and CSV, imports uploaded
through the page with their rejected lines, the jobs; a collector gets 403 on every tool, a
refusal is a page with its status (never a server error), a form without its token 403."""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import ClientResponse
from sqlalchemy.ext.asyncio import AsyncEngine

from service.clock import FixedClock
from service.db.models import Role
from service.settings import Settings
from service.web.app import create_app
from service.web.ui import routes
from tests.conftest import PASSWORD, job_done, make_user
from tests.task_floor import Floor, build_floor, moment, origin, token_of


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


async def page(floor: Floor, who: str, path: str, status: int = 200) -> str:
    answer = await floor[who].get(path)
    html = await answer.text()
    assert answer.status == status, html
    return html


def rows_of(html: str, name: str) -> list[str]:
    """The ids of a table's rows (``<tr data-NAME="…">``), in the page's order."""
    return re.findall(rf'<tr data-{name}="([^"]+)"', html)


async def upload(
    floor: Floor, who: str, files: dict[str, str], token: bool = True
) -> ClientResponse:
    """The imports page's form as a browser sends it: the token first, then each file chosen."""
    client = floor[who]
    form = aiohttp.FormData(default_to_multipart=True)
    if token:
        form.add_field("csrf_token", await token_of(client, "/tools/imports"))
    for name, content in files.items():
        form.add_field("files", content.encode(), filename=name, content_type="text/csv")
    return await client.post(
        "/tools/imports", data=form, headers=origin(client), allow_redirects=False
    )


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
    report = re.search(r'href="(/tools/imports/[0-9]+)" data-testid="report"', html)
    assert report is not None
    assert rows_of(await page(floor, "big", report.group(1)), "file") == ["loans.csv"]
    assert job_id in rows_of(await page(floor, "sup2", "/tools/jobs"), "job")
    await page(floor, "sup2", "/tools/jobs/999999", status=404)


async def _queue_id(floor: Floor, name: str) -> int:
    ((found,),) = await floor.rows("SELECT id FROM queues WHERE name = :name", name=name)
    return int(found)


async def test_queues_are_created_changed_and_their_members_added_and_removed(
    floor: Floor,
) -> None:
    html = await page(floor, "sup1", "/tools/queues")
    assert "M1 early" in rows_of(html, "queue")
    field_row = re.search(r'<tr data-queue="Field visits">.*?</tr>', html, re.S)
    assert field_row is not None
    assert 'data-testid="members">1<' in field_row.group(0)
    assert 'data-testid="accounts">1<' in field_row.group(0)  # L-LOST

    # Create: a queue of large balances, tried first.
    form = {
        "name": "Large balances",
        "kind": "collector",
        "position": "5",
        "collector_strategy": "sticky",
        "routing": '{"min_outstanding": "15000"}',
        "description": "大额",
    }
    answer = await floor.post("sup1", "/tools/queues", form)
    assert answer.status == 303, await answer.text()
    queue = await _queue_id(floor, "Large balances")
    assert answer.headers["Location"] == f"/tools/queues/{queue}?flash=created"
    html = await page(floor, "sup1", f"/tools/queues/{queue}?flash=created")
    assert "The queue is created." in html
    assert 'data-testid="no-members"' in html
    assert rows_of(await page(floor, "sup1", "/tools/queues"), "queue")[0] == "Large balances"
    # Refused: the name taken, routing that is not JSON or has unknown keys — said, kept.
    answer = await floor.post("sup1", "/tools/queues", form)
    assert answer.status == 422
    assert "exists already" in await answer.text()
    for routing in ("{not json", '["M1"]', '{"colour": "red"}'):
        answer = await floor.post(
            "sup1", "/tools/queues", {**form, "name": "X", "routing": routing}
        )
        html = await answer.text()
        assert answer.status == 422, html
        assert "The routing is a JSON object of known keys." in html
        assert routing.replace('"', "&#34;") in html  # what was typed, shown again
    assert await floor.rows(
        "SELECT count(*) FROM queues WHERE name IN ('X', 'Large balances')"
    ) == [(1,)]

    # Members: a collector added, one who is not a collector refused, removed again.
    answer = await floor.post("sup1", f"/tools/queues/{queue}/members", {"username": "early"})
    assert answer.headers["Location"] == f"/tools/queues/{queue}?flash=added"
    html = await page(floor, "sup1", f"/tools/queues/{queue}")
    assert rows_of(html, "member") == ["early"]
    answer = await floor.post("sup1", f"/tools/queues/{queue}/members", {"username": "sup2"})
    assert answer.status == 422
    assert "queues take collectors" in await answer.text()
    answer = await floor.post("sup1", f"/tools/queues/{queue}/members", {"username": "nobody"})
    assert answer.status == 404
    answer = await floor.post(
        "sup1", f"/tools/queues/{queue}/members/remove", {"username": "early"}
    )
    assert answer.headers["Location"] == f"/tools/queues/{queue}?flash=removed"
    assert rows_of(await page(floor, "sup1", f"/tools/queues/{queue}"), "member") == []

    # A member holding the queue's accounts stays until they are moved.
    field = await _queue_id(floor, "Field visits")
    answer = await floor.post(
        "sup1", f"/tools/queues/{field}/members/remove", {"username": "field"}
    )
    html = await answer.text()
    assert answer.status == 409, html
    assert "reassign them or hand them over first" in html
    assert rows_of(html, "member") == ["field"]

    # Change: its order, routing and strategy; the API reads the same.
    answer = await floor.post(
        "sup1",
        f"/tools/queues/{queue}",
        {
            "position": "7",
            "collector_strategy": "sticky",
            "routing": '{"min_outstanding": "20000", "buckets": ["M1"]}',
            "description": "",
            "active": "on",
        },
    )
    assert answer.headers["Location"] == f"/tools/queues/{queue}?flash=changed"
    listed = await (await floor["sup1"].get("/api/queues")).json()
    (changed,) = [q for q in listed["items"] if q["name"] == "Large balances"]
    assert changed["position"] == 7
    assert changed["routing"] == {"min_outstanding": "20000", "buckets": ["M1"]}
    assert changed["active"] is True
    answer = await floor.post(
        "sup1", f"/tools/queues/{queue}", {"routing": '{"tiers": "big"}', "position": "7"}
    )
    assert answer.status == 422
    assert '<details class="card" open>' in await answer.text()
    await page(floor, "sup1", "/tools/queues/999999", status=404)
    events = await floor.rows(
        "SELECT action FROM audit_log WHERE entity_type = 'queue' ORDER BY id"
    )
    assert [e for (e,) in events] == [
        "queue.created",
        "queue.member_added",
        "queue.member_removed",
        "queue.updated",
    ]


async def test_the_queue_api_adds_lists_and_removes_members(floor: Floor) -> None:
    client = floor["sup1"]
    answer = await client.post(
        "/api/queues/M1 early/members", json={"username": "legal"}, headers=origin(client)
    )
    assert answer.status == 201, await answer.text()
    members = await (await client.get("/api/queues/M1 early/members")).json()
    assert [m["username"] for m in members["items"]] == ["early", "legal"]
    answer = await client.delete("/api/queues/M1 early/members/legal", headers=origin(client))
    assert answer.status == 204
    answer = await client.delete("/api/queues/Field visits/members/field", headers=origin(client))
    assert answer.status == 409
    answer = await client.post(
        "/api/queues",
        json={"name": "Soft", "routing": {"buckets": ["M1"]}, "position": 1},
        headers=origin(client),
    )
    assert answer.status == 201, await answer.text()
    assert (await answer.json())["members"] == 0
    answer = await floor["field"].post(
        "/api/queues/M1 early/members", json={"username": "field"}, headers=origin(floor["field"])
    )
    assert answer.status == 403


async def _holder(floor: Floor, loan_ref: str) -> tuple[Any, ...]:
    (found,) = await floor.rows(
        "SELECT q.name, u.username FROM loans l LEFT JOIN queues q ON q.id = l.queue_id "
        "LEFT JOIN users u ON u.id = l.collector_id WHERE l.loan_ref = :ref",
        ref=loan_ref,
    )
    return found


async def test_an_account_is_moved_by_hand_with_a_reason(floor: Floor) -> None:
    html = await page(floor, "sup1", "/tools/handover")
    assert 'data-testid="reassign"' in html
    move = {"loan_ref": "L-M4", "queue": "M1 early", "collector": "early", "reason": "大客户"}
    answer = await floor.post("sup1", "/tools/reassign", move)
    assert answer.status == 303, await answer.text()
    html = await page(floor, "sup1", answer.headers["Location"])
    assert "The account is moved." in html
    assert await _holder(floor, "L-M4") == ("M1 early", "early")
    history = await (await floor["sup1"].get("/api/loans/L-M4/assignments")).json()
    assert history["items"][0]["note"] == "大客户"

    # Refused, the account left where it is: not a member, no reason, an unknown account.
    answer = await floor.post("sup1", "/tools/reassign", {**move, "collector": "legal"})
    html = await answer.text()
    assert answer.status == 422, html
    assert "legal is not an active member" in html
    assert 'value="L-M4"' in html  # the form as typed
    answer = await floor.post("sup1", "/tools/reassign", {**move, "reason": " "})
    assert answer.status == 422
    answer = await floor.post("sup1", "/tools/reassign", {**move, "loan_ref": "L-NONE"})
    assert answer.status == 404
    assert await _holder(floor, "L-M4") == ("M1 early", "early")


async def test_a_handover_is_previewed_then_confirmed(floor: Floor) -> None:
    before = await _holder(floor, "L-LOST")
    assert before == ("Field visits", "field")
    html = await page(floor, "sup1", "/tools/handover/preview?from=field&to=early&to_queue=")
    preview = re.search(r'<section class="card" data-testid="preview".*?</section>', html, re.S)
    assert preview is not None
    assert 'data-testid="accounts">1<' in preview.group(0)
    assert "The successor joins these queues:" in preview.group(0)
    assert 'From <b translate="no">field</b> to <b translate="no">early</b>.' in html
    assert "Field visits" in preview.group(0)
    assert await _holder(floor, "L-LOST") == before  # a preview changes nothing
    api = await (await floor["sup1"].get("/api/handovers/preview?from=field&to=early")).json()
    assert (api["accounts"], api["joins"]) == (1, ["Field visits"])

    answer = await floor.post("sup1", "/tools/handover", {"from": "field", "to": "early"})
    assert answer.status == 303, await answer.text()
    html = await page(floor, "sup1", answer.headers["Location"])
    assert "The handover is done: 1 accounts" in html
    assert await _holder(floor, "L-LOST") == ("Field visits", "early")
    assert await floor.rows("SELECT active FROM users WHERE username = 'field'") in (
        [(False,)],
        [(0,)],
    )

    # Refusals, shown on the page: to themselves, no successor, twice, to a supervisor.
    for query in ("from=early&to=early", "from=early", "from=field&to=legal", "from=early&to=sup2"):
        html = await page(floor, "sup1", f"/tools/handover/preview?{query}", status=422)
        assert 'data-testid="refused"' in html
        assert 'data-testid="preview"' not in html
    answer = await floor.post("sup1", "/tools/handover", {"from": "field", "to": "early"})
    assert answer.status == 422
    assert "already inactive" in await answer.text()
    answer = await floor.post(
        "sup1", "/tools/handover", {"from": "early", "to": "legal"}, token=False
    )
    assert answer.status == 403


async def _sign_in(floor: Floor, aiohttp_client: Any, name: str, password: str = PASSWORD) -> int:
    """A client of ``name`` on the floor's server (floor[name]); the login's status."""
    client = await aiohttp_client(floor["sup1"].server)
    token = await token_of(client, "/login")
    answer = await client.post(
        "/login",
        data={"username": name, "password": password, "csrf_token": token},
        headers=origin(client),
    )
    floor.users[name] = client
    return int(answer.status)


async def test_an_administrator_manages_users_and_a_supervisor_may_not(
    floor: Floor, aiohttp_client: Any
) -> None:
    await make_user(floor.engine, "boss", Role.admin)
    assert await _sign_in(floor, aiohttp_client, "boss") == 200
    assert 'href="/tools/users"' in await page(floor, "boss", "/tools")
    assert 'href="/tools/users"' not in await page(floor, "sup1", "/tools")
    await page(floor, "sup1", "/tools/users", status=403)
    answer = await floor.post("sup1", "/tools/users", {"username": "x"})
    assert answer.status == 403

    html = await page(floor, "boss", "/tools/users")
    assert {"boss", "field", "sup1"} <= set(rows_of(html, "user"))
    new = {
        "username": "newbie",
        "display_name": "新人",
        "role": "collector",
        "languages": "zh-CN,en",
        "password": "a long enough password",
    }
    answer = await floor.post("boss", "/tools/users", new)
    assert answer.status == 303, await answer.text()
    location = answer.headers["Location"]
    html = await page(floor, "boss", location)
    assert "The user is created." in html
    assert 'data-testid="role">Collector<' in html
    assert await _sign_in(floor, aiohttp_client, "newbie", "a long enough password") == 200
    # Refused: the name taken, a short password — the password never shown again.
    answer = await floor.post("boss", "/tools/users", new)
    assert answer.status == 409
    answer = await floor.post(
        "boss", "/tools/users", {**new, "username": "n2", "password": "short"}
    )
    html = await answer.text()
    assert answer.status == 422, html
    assert "A password has at least 10 characters." in html
    assert 'value="n2"' in html
    assert "short" not in html.split('id="password"')[1].split(">")[0]

    # A role: the sessions end, the new role holds at the next sign-in.
    user_path = location.split("?")[0]
    answer = await floor.post("boss", f"{user_path}/role", {"role": "supervisor"})
    assert answer.status == 303
    assert (await floor["newbie"].get("/tools", allow_redirects=False)).status == 303
    assert await _sign_in(floor, aiohttp_client, "newbie", "a long enough password") == 200
    assert (await floor["newbie"].get("/tools")).status == 200

    # A password reset: the old one no longer works.
    answer = await floor.post("boss", f"{user_path}/password", {"password": "another long one"})
    assert answer.headers["Location"] == f"{user_path}?flash=password"
    await _sign_in(floor, aiohttp_client, "newbie", "a long enough password")
    assert (await floor["newbie"].get("/tools", allow_redirects=False)).status == 303
    assert await _sign_in(floor, aiohttp_client, "newbie", "another long one") == 200
    answer = await floor.post("boss", f"{user_path}/password", {"password": "short"})
    assert answer.status == 422

    # Deactivating: refused for a collector holding accounts (handed over instead), for
    # oneself; done for the new supervisor, who is signed out.
    field = await floor.rows("SELECT id FROM users WHERE username = 'field'")
    answer = await floor.post("boss", f"/tools/users/{field[0][0]}/deactivate", {})
    html = await answer.text()
    assert answer.status == 409, html
    assert "hand them over first" in html
    boss = await floor.rows("SELECT id FROM users WHERE username = 'boss'")
    answer = await floor.post("boss", f"/tools/users/{boss[0][0]}/deactivate", {})
    assert answer.status == 422
    answer = await floor.post("boss", f"/tools/users/{boss[0][0]}/role", {"role": "collector"})
    assert answer.status == 409  # the last administrator
    answer = await floor.post("boss", f"{user_path}/deactivate", {})
    assert answer.status == 303
    html = await page(floor, "boss", f"{user_path}")
    assert 'data-testid="active">Deactivated<' in html
    assert (await floor["newbie"].get("/tools", allow_redirects=False)).status == 303
    await page(floor, "boss", "/tools/users/999999", status=404)
    actions = await floor.rows(
        "SELECT action FROM audit_log WHERE entity_ref = 'newbie' AND action LIKE 'user.%' "
        "ORDER BY id"
    )
    assert [a for (a,) in actions] == [
        "user.created",
        "user.role_changed",
        "user.password_changed",
        "user.deactivated",
    ]


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
