"""Server-rendered pages: the landing page and the login flow."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from service.models import Role
from tests.conftest import PASSWORD, make_user

Client = TestClient[Any, Any]


async def test_landing_page_invites_to_log_in(client: Client) -> None:
    response = await client.get("/")
    assert response.status == 200
    html = await response.text()
    assert "<h1>Arrears</h1>" in html
    assert 'href="/login"' in html


async def test_login_form_logs_in_and_shows_the_portfolio(
    client: Client, engine: AsyncEngine
) -> None:
    await make_user(engine, "sup", Role.supervisor)
    bad = await client.post("/login", data={"username": "sup", "password": "wrong-password"})
    assert bad.status == 401
    assert "Wrong username or password." in await bad.text()

    good = await client.post(
        "/login", data={"username": "sup", "password": PASSWORD, "next": "https://evil.example/"}
    )
    assert good.status == 200  # redirected to "/" (never off-site), then rendered
    assert good.url.path == "/"
    html = await good.text()
    assert "Portfolio" in html
    assert 'data-testid="loans">0<' in html

    out = await client.post("/logout")
    assert "Log in" in await out.text()
    assert "Portfolio" not in await (await client.get("/")).text()
