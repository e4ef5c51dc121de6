"""The signed-in user's own page: change my password (the current one proves it is them; every
other session ends, this one goes on), my phone for click-to-call, and signing out."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from service.db.models import Role, User
from tests.conftest import PASSWORD, login, make_user
from tests.test_pages import post_form

Client = TestClient[Any, Any]
NEW = "a new long password"


async def _form_login(client: Client, username: str, password: str = PASSWORD) -> Any:
    return await post_form(client, "/login", {"username": username, "password": password}, "/login")


async def test_changing_my_password_needs_the_current_one_and_ends_my_other_sessions(
    client: Client, engine: AsyncEngine
) -> None:
    await make_user(engine, "col", Role.collector)
    elsewhere = await login(client, "col")  # another device's session (a bearer token)
    assert (await _form_login(client, "col")).status == 200

    wrong = await post_form(
        client, "/me/password", {"current": "not it at all", "new": NEW, "confirm": NEW}, "/me"
    )
    assert wrong.status == 400
    assert "The current password is wrong." in await wrong.text()
    differ = await post_form(
        client, "/me/password", {"current": PASSWORD, "new": NEW, "confirm": NEW + "!"}, "/me"
    )
    assert differ.status == 400
    assert "The new password and its confirmation differ." in await differ.text()
    short = await post_form(
        client, "/me/password", {"current": PASSWORD, "new": "short", "confirm": "short"}, "/me"
    )
    assert short.status == 400

    changed = await post_form(
        client, "/me/password", {"current": PASSWORD, "new": NEW, "confirm": NEW}, "/me"
    )
    assert changed.status == 200
    assert "Your password is changed." in await changed.text()
    assert (await client.get("/me")).status == 200  # this browser goes on, signed in anew
    gone = await client.get("/api/me", headers={"Authorization": f"Bearer {elsewhere}"})
    assert gone.status == 401  # the other device is signed out

    assert (await post_form(client, "/logout", {}, "/")).status == 200
    assert (await client.get("/me", allow_redirects=False)).status == 303
    assert (await _form_login(client, "col")).status == 401  # the old password no longer works
    assert (await _form_login(client, "col", NEW)).status == 200


async def test_my_phone_is_kept_in_e164_and_a_wrong_one_is_refused(
    client: Client, engine: AsyncEngine
) -> None:
    await make_user(engine, "col", Role.collector)
    assert (await _form_login(client, "col")).status == 200
    bad = await post_form(client, "/me/phone", {"phone": "12"}, "/me")
    assert bad.status == 400
    assert "That is not a phone number we can call." in await bad.text()
    saved = await post_form(client, "/me/phone", {"phone": "138 0013 8000"}, "/me")
    assert saved.status == 200
    assert "+8613800138000" in await saved.text()
    async with engine.connect() as conn:
        phone = await conn.scalar(select(User.phone).where(User.username == "col"))
    assert phone == "+8613800138000"


async def test_a_form_without_its_token_changes_nothing(
    client: Client, engine: AsyncEngine
) -> None:
    await make_user(engine, "col", Role.collector)
    assert (await _form_login(client, "col")).status == 200
    origin = {"Origin": str(client.make_url("")).rstrip("/")}
    forged = await client.post(
        "/me/password", data={"current": PASSWORD, "new": NEW, "confirm": NEW}, headers=origin
    )
    assert forged.status == 403
    assert (await client.get("/me")).status == 200  # still signed in with the old password
