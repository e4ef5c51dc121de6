"""JSON API for outbound contact: the compliance guard's verdict on one contact.

Every route here is described in :mod:`service.web.openapi`.
"""

from __future__ import annotations

import datetime as dt

from aiohttp import web

from service.compliance import check_contact
from service.errors import ValidationFailed
from service.portfolio import visible_loan
from service.web.api import require
from service.web.jsonio import json_response, read_json_object, text_field
from service.web.keys import ENGINE, SETTINGS


async def check(request: web.Request) -> web.Response:
    """``arrears check-contact`` over HTTP: a collector may ask only about their accounts."""
    user = require(request)
    body = await read_json_object(request)
    loan_ref = text_field(body, "loan_ref") or ""
    raw_at = text_field(body, "at") or ""
    try:
        at = dt.datetime.fromisoformat(raw_at)
    except ValueError:
        raise ValidationFailed(
            "at must be an ISO 8601 time with its offset", details=[{"field": "at"}]
        ) from None
    async with request.app[ENGINE].connect() as conn:
        await visible_loan(conn, user, loan_ref)
        decision = await check_contact(
            conn,
            request.app[SETTINGS],
            loan_ref=loan_ref,
            party_ref=text_field(body, "party") or "",
            channel=text_field(body, "channel") or "",
            at=at,
            profile=text_field(body, "profile", required=False),
        )
    return json_response(decision.as_dict())


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/api/compliance/check", check)
