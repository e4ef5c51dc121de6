"""Server-rendered pages: the landing page and the login flow (as a browser posts its forms:
with the page's CSRF token and its Origin)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from service.db.models import Role
from tests.conftest import PASSWORD, make_user

Client = TestClient[Any, Any]


async def form_token(client: Client, path: str = "/login") -> str:
    """The CSRF token of the form on ``path``, as a browser would post it back."""
    html = await (await client.get(path)).text()
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None, html
    return found.group(1)


def origin(client: Client) -> dict[str, str]:
    return {"Origin": str(client.make_url("")).rstrip("/")}


async def post_form(client: Client, path: str, data: dict[str, str], token_from: str) -> Any:
    token = await form_token(client, token_from)
    return await client.post(path, data={**data, "csrf_token": token}, headers=origin(client))


async def test_landing_page_invites_to_log_in(client: Client) -> None:
    response = await client.get("/")
    assert response.status == 200
    html = await response.text()
    assert '<h1 translate="no">Arrears</h1>' in html
    assert 'href="/login"' in html


async def test_login_form_logs_in_and_shows_the_portfolio(
    client: Client, engine: AsyncEngine
) -> None:
    await make_user(engine, "sup", Role.supervisor)
    bad = await post_form(
        client, "/login", {"username": "sup", "password": "wrong-password"}, "/login"
    )
    assert bad.status == 401
    assert "Wrong username or password." in await bad.text()

    good = await post_form(
        client,
        "/login",
        {"username": "sup", "password": PASSWORD, "next": "https://evil.example/"},
        "/login",
    )
    assert good.status == 200  # redirected to "/" (never off-site), then rendered
    assert good.url.path == "/"
    html = await good.text()
    assert "Portfolio" in html
    assert 'data-testid="loans">0<' in html

    out = await post_form(client, "/logout", {}, "/")
    assert "Log in" in await out.text()
    assert "Portfolio" not in await (await client.get("/")).text()


async def test_the_portfolio_page_shows_open_loans_by_bucket(
    client: Client, engine: AsyncEngine, tmp_path: Path
) -> None:
    import datetime as dt

    from service.cob.nightly import run_cob
    from service.devtools.demo import write_demo_portfolio
    from service.ingest.pipeline import ImportOptions, import_directory

    write_demo_portfolio(tmp_path / "demo", borrowers=300, as_of=dt.date(2026, 11, 24))
    await import_directory(engine, tmp_path / "demo", ImportOptions())
    report = await run_cob(engine, dt.date(2026, 11, 24))
    await make_user(engine, "sup", Role.supervisor)
    await post_form(client, "/login", {"username": "sup", "password": PASSWORD}, "/login")

    html = await (await client.get("/")).text()

    assert 'data-testid="buckets"' in html
    # Open and current (loans paid off that day are closed).
    assert '<td translate="no">M0</td>' in html
    for bucket in ("M1", "M3", "M7+"):  # every overdue loan is open
        assert (
            f'<td translate="no">{bucket}</td><td class="num">{report.buckets[bucket]}</td>' in html
        )
