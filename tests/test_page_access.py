"""Page × role: every page, fragment, form and download of the UI (``service.web.ui.routes()``),
asked by nobody, by a collector about an account of another queue, by that collector about
their own, and by a supervisor and an admin. Nobody gets past the login; a collector never
reaches a page of a role they do not hold, nor anything of another queue's account — not on
its own pages, and not on the lists and downloads they may open; nothing fails on the server
for anyone; and the other queue's account is unchanged after the collector's tries."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from service.db.models import Role
from service.web import ui
from service.web.ui.framework import PageRoute
from tests.conftest import PASSWORD, make_user
from tests.test_access import Account, _floor
from tests.test_pages import origin

Client = TestClient[Any, Any]
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
POST_FORM = re.compile(r'<form[^>]*method="post"[^>]*>.*?</form>', re.DOTALL | re.IGNORECASE)


def _sample(route: PageRoute, name: str, account: Account) -> str:
    """The value a path's ``{name}`` takes for ``account``; every parameter a page declares
    must have one here, so a new page cannot slip past the sweep."""
    if name in ("ref", "loan_ref"):
        return account.loan
    if name == "id" and route.path.startswith(("/tasks/", "/write-offs/", "/placements/")):
        return str(account.task)  # a task's number; a write-off or placement of that number is 404
    if name == "id" and route.path.startswith("/tools/"):
        # A supervisor tool's record (an outbox row, a decision, an import, a job, a queue, a
        # user) of that number: staff only, so a collector's answer is 403 whatever it is.
        return str(account.task)
    raise AssertionError(f"the page sweep has no sample for {{{name}}} in {route.path}")


def _path(route: PageRoute, account: Account) -> str:
    return re.sub(
        r"{(\w+)(?::(?:[^{}]|{[^}]*})*)?}",
        lambda m: _sample(route, m.group(1), account),
        route.path,
    )


def _about_an_account(route: PageRoute) -> bool:
    return "{" in route.path


async def _log_in(client: Client, username: str) -> str:
    """Log in through the form (a browser's session cookie); the CSRF token of its pages."""
    client.session.cookie_jar.clear()
    html = await (await client.get("/login")).text()
    token = TOKEN.search(html)
    assert token is not None
    form = {"username": username, "password": PASSWORD, "csrf_token": token.group(1)}
    response = await client.post("/login", data=form, headers=origin(client))
    assert response.status == 200, await response.text()
    page = TOKEN.search(await (await client.get("/me")).text())
    assert page is not None
    return page.group(1)


async def _ask(client: Client, route: PageRoute, account: Account, token: str) -> tuple[int, str]:
    path = _path(route, account)
    if route.method == "GET":
        response = await client.get(path, allow_redirects=False)
    else:
        data = {"csrf_token": token} if token else {}
        response = await client.post(path, data=data, headers=origin(client), allow_redirects=False)
    return response.status, (await response.read()).decode("utf-8", "replace")


async def _foreign_rows(engine: AsyncEngine, other: Account) -> list[list[str]]:
    found = []
    async with engine.connect() as conn:
        counts = [
            f"SELECT count(*) FROM {table} x JOIN loans l ON l.id = x.loan_id WHERE l.loan_ref = :l"
            for table in ("attempts", "promises", "callbacks", "outbox")
        ]
        for sql in (
            "SELECT queue_id, collector_id, status, lost_contact_on FROM loans WHERE loan_ref = :l",
            *counts,
            "SELECT status, result FROM tasks WHERE id = :t",
        ):
            params = {"l": other.loan, "t": other.task}
            found.append([str(row) for row in await conn.execute(text(sql), params)])
    return found


async def test_no_page_lets_anyone_past_their_role_or_a_collector_past_their_queues(
    client: Client, engine: AsyncEngine, tmp_path: Path
) -> None:
    own, other = await _floor(engine, tmp_path)
    await make_user(engine, "sup", Role.supervisor)
    await make_user(engine, "adm", Role.admin)
    routes = [route for route in ui.routes() if route.path not in ("/logout",)]
    problems: list[str] = []
    before = await _foreign_rows(engine, other)

    client.session.cookie_jar.clear()
    for route in routes:
        status, _ = await _ask(client, route, other, "")
        if route.roles is None:
            if status >= 500:
                problems.append(f"anonymous {route.method} {route.path}: {status}")
        elif status != 303:
            problems.append(f"anonymous {route.method} {route.path}: {status}, not to the login")

    token = await _log_in(client, "col")
    served = 0
    for route in routes:
        if route.path == "/me/password":
            continue  # would end the session the sweep goes on with (its own test covers it)
        may = route.roles is None or not route.roles or Role.collector in route.roles
        mine, _ = await _ask(client, route, own, token)
        theirs, answer = await _ask(client, route, other, token)
        if mine >= 500 or theirs >= 500:
            problems.append(f"collector {route.method} {route.path}: {mine}/{theirs}")
        if not may and (mine, theirs) != (403, 403):
            problems.append(f"collector {route.method} {route.path}: {mine}/{theirs}, not 403")
        if may and _about_an_account(route) and theirs not in (403, 404):
            problems.append(f"collector {route.method} {route.path}: {theirs} on another queue's")
        if may and mine < 400:
            served += 1
        shown = [marker for marker in other.markers() if marker in answer]
        if shown:
            problems.append(f"collector {route.method} {route.path}: shows {shown}")
    assert await _foreign_rows(engine, other) == before, "the other queue's account changed"

    for username in ("sup", "adm"):
        token = await _log_in(client, username)
        for route in routes:
            if route.path == "/me/password":
                continue
            status, answer = await _ask(client, route, other, token)
            if status >= 500:
                problems.append(f"{username} {route.method} {route.path}: {status}")
            for form in POST_FORM.findall(answer):
                if 'name="csrf_token"' not in form:
                    problems.append(f"{username} {route.path}: a form without its CSRF token")
    print(f"page x role sweep: {len(routes)} routes, {len(problems)} problems")
    assert problems == [], "\n".join(problems)
    assert served >= 3  # the collector's own pages are served: the refusals mean something
