"""What the supervisor tools' page tests share: the task pages' floor served with a client per
user, a page read with its status checked, a table's rows, a user signed in on the floor's
server, an upload through the imports page's form."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
from aiohttp import ClientResponse

from tests.conftest import PASSWORD
from tests.task_floor import Floor, origin, token_of


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


async def sign_in(floor: Floor, aiohttp_client: Any, name: str, password: str = PASSWORD) -> int:
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
