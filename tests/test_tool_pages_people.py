"""The supervisor tools about people, over HTTP on both databases: queues created and changed,
members added and removed (page and API), an account moved by hand, a leaver's handover
previewed then confirmed, and the users an administrator manages (a supervisor may not)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from service.clock import FixedClock
from service.db.models import Role
from service.settings import Settings
from service.web.app import create_app
from tests.conftest import make_user
from tests.task_floor import Floor, build_floor, moment, origin
from tests.tool_floor import page, rows_of, sign_in


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


async def test_an_administrator_manages_users_and_a_supervisor_may_not(
    floor: Floor, aiohttp_client: Any
) -> None:
    await make_user(floor.engine, "boss", Role.admin)
    assert await sign_in(floor, aiohttp_client, "boss") == 200
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
    assert await sign_in(floor, aiohttp_client, "newbie", "a long enough password") == 200
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
    assert await sign_in(floor, aiohttp_client, "newbie", "a long enough password") == 200
    assert (await floor["newbie"].get("/tools")).status == 200

    # A password reset: the old one no longer works.
    answer = await floor.post("boss", f"{user_path}/password", {"password": "another long one"})
    assert answer.headers["Location"] == f"{user_path}?flash=password"
    await sign_in(floor, aiohttp_client, "newbie", "a long enough password")
    assert (await floor["newbie"].get("/tools", allow_redirects=False)).status == 303
    assert await sign_in(floor, aiohttp_client, "newbie", "another long one") == 200
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
