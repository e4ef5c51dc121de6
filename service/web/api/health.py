"""Health, for load balancers and compose."""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from sqlalchemy import text

from service.web.api.framework import PUBLIC, Api, Out, json_response
from service.web.keys import ENGINE, REDIS

api = Api("health")


class Health(Out):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str]


@api.get(
    "/healthz",
    summary="Liveness and readiness: the database, and Redis when configured",
    roles=PUBLIC,
    responses={200: Health, 503: Health},
)
async def healthz(request: web.Request) -> web.StreamResponse:
    checks: dict[str, str] = {}
    healthy = True
    try:
        async with request.app[ENGINE].connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any failure means unhealthy; the reason is for the operator
        checks["database"] = f"error: {type(exc).__name__}"
        healthy = False
    redis = request.app.get(REDIS)
    if redis is None:
        checks["redis"] = "not configured"
    else:
        try:
            await redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
            healthy = False
    answer = Health(status="ok" if healthy else "unavailable", checks=checks)
    return json_response(answer.model_dump(), status=200 if healthy else 503)
