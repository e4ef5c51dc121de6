"""JSON API handlers. Every route here is described in :mod:`service.web.openapi`."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import structlog
from aiohttp import BodyPartReader, web
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from service import auth
from service.auth import CurrentUser
from service.clock import lender_today
from service.cob.nightly import Planning, run_cob
from service.db.models import ImportRun, Role
from service.errors import InputError, NotFound, PermissionDenied, Unauthenticated, ValidationFailed
from service.ingest.files import FILES_BY_NAME
from service.ingest.pipeline import ImportOptions, import_files
from service.ingest.report import list_errors, load_report
from service.portfolio import payments, reads
from service.portfolio.events import apply_event
from service.portfolio.exports import account_rows
from service.web import openapi
from service.web.jsonio import json_response, read_json_object
from service.web.keys import (
    ENGINE,
    REDIS,
    SESSION_COOKIE,
    SESSION_TOKEN,
    SETTINGS,
    STRATEGIES,
    USER,
)

log = structlog.get_logger(__name__)

STAFF = (Role.supervisor, Role.admin)


def require(request: web.Request, *roles: Role) -> CurrentUser:
    """The logged-in user, who must have one of ``roles`` (any role when none are named)."""
    user: CurrentUser | None = request.get(USER)
    if user is None:
        raise Unauthenticated("log in first (POST /api/session)")
    if roles and user.role not in roles:
        raise PermissionDenied(f"role {user.role.value} may not do this")
    return user


def _int_param(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValidationFailed(
            f"{name} must be a whole number", details=[{"field": name, "reason": raw}]
        ) from None


def _date_param(request: web.Request, name: str) -> dt.date | None:
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed(
            f"{name} must be a date as YYYY-MM-DD", details=[{"field": name, "reason": raw}]
        ) from None


# --- health and session ------------------------------------------------------------------------


async def healthz(request: web.Request) -> web.Response:
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
    return json_response(
        {"status": "ok" if healthy else "unavailable", "checks": checks},
        status=200 if healthy else 503,
    )


async def create_session(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise ValidationFailed(
            "username and password are required strings",
            details=[{"field": "username"}, {"field": "password"}],
        )
    settings = request.app[SETTINGS]
    async with request.app[ENGINE].begin() as conn:
        result = await auth.login(
            conn, username, password, dt.timedelta(hours=settings.session_ttl_hours)
        )
    if result is None:
        log.info("auth.login_failed", username=username)
        raise Unauthenticated("wrong username or password")
    token, user = result
    log.info("auth.login", username=user.username)
    response = json_response({"token": token, "user": _user(user)}, status=201)
    set_session_cookie(response, token, settings.cookie_secure, settings.session_ttl_hours)
    return response


def set_session_cookie(response: web.StreamResponse, token: str, secure: bool, hours: int) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="Lax",
        secure=secure,
        max_age=hours * 3600,
        path="/",
    )


async def delete_session(request: web.Request) -> web.Response:
    require(request)
    async with request.app[ENGINE].begin() as conn:
        await auth.logout(conn, request[SESSION_TOKEN])
    response = web.Response(status=204)
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


def _user(user: CurrentUser) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "role": user.role.value,
    }


async def me(request: web.Request) -> web.Response:
    return json_response(_user(require(request)))


# --- portfolio ---------------------------------------------------------------------------------


async def list_borrowers(request: web.Request) -> web.Response:
    user = require(request)
    async with request.app[ENGINE].connect() as conn:
        body = await reads.list_borrowers(
            conn,
            user,
            search=request.query.get("q") or None,
            limit=_int_param(request, "limit", 50),
            offset=_int_param(request, "offset", 0),
        )
    return json_response(body)


async def get_borrower(request: web.Request) -> web.Response:
    user = require(request)
    async with request.app[ENGINE].connect() as conn:
        body = await reads.get_borrower(conn, user, request.match_info["ref"])
    return json_response(body)


async def list_loans(request: web.Request) -> web.Response:
    user = require(request)
    async with request.app[ENGINE].connect() as conn:
        body = await reads.list_loans(
            conn,
            user,
            borrower_ref=request.query.get("borrower_ref") or None,
            status=request.query.get("status") or None,
            limit=_int_param(request, "limit", 50),
            offset=_int_param(request, "offset", 0),
        )
    return json_response(body)


async def get_loan(request: web.Request) -> web.Response:
    user = require(request)
    async with request.app[ENGINE].connect() as conn:
        body = await reads.get_loan(conn, user, request.match_info["ref"])
    return json_response(body)


async def list_payments(request: web.Request) -> web.Response:
    user = require(request)
    async with request.app[ENGINE].connect() as conn:
        body = await reads.list_payments(
            conn,
            user,
            loan_ref=request.query.get("loan_ref") or None,
            since=_date_param(request, "since"),
            limit=_int_param(request, "limit", 50),
            offset=_int_param(request, "offset", 0),
        )
    return json_response(body)


async def create_payment(request: web.Request) -> web.Response:
    user = require(request, *STAFF)
    body = await read_json_object(request)
    engine = request.app[ENGINE]
    settings = request.app[SETTINGS]
    today = lender_today(settings.lender_timezone)
    config = settings.cob_config()
    try:
        async with engine.begin() as conn:
            payment, created = await payments.record_payment(conn, user, body, today, config)
    except IntegrityError:
        # A concurrent request stored the same payment_ref first: answer as for a retry.
        async with engine.begin() as conn:
            payment, created = await payments.record_payment(conn, user, body, today, config)
    return json_response(payment, status=201 if created else 200)


# --- imports -----------------------------------------------------------------------------------

_SAFE_NAME = re.compile(r"^[a-z_]+\.csv$")


async def create_import(request: web.Request) -> web.Response:
    """Upload any subset of the contract's CSV files (multipart, one part per file)."""
    user = require(request, *STAFF)
    if not request.content_type.startswith("multipart/"):
        raise InputError("upload the CSV files as multipart/form-data, one part per file")
    settings = request.app[SETTINGS]
    upload_root = settings.var_dir / "uploads"
    upload_root.mkdir(parents=True, exist_ok=True)
    directory = Path(tempfile.mkdtemp(prefix="import-", dir=upload_root))
    try:
        names: list[str] = []
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise InputError("nested multipart bodies are not accepted")
            name = (part.filename or part.name or "").strip().lower()
            name = Path(name).name
            if not _SAFE_NAME.match(name) or name not in FILES_BY_NAME:
                raise ValidationFailed(
                    f"unexpected file {name!r}",
                    details={"expected": sorted(FILES_BY_NAME)},
                )
            if name in names:
                raise ValidationFailed(f"file {name!r} sent twice")
            names.append(name)
            with (directory / name).open("wb") as handle:
                while chunk := await part.read_chunk(1 << 20):
                    handle.write(chunk)
        if not names:
            raise ValidationFailed(
                "no files in the upload", details={"expected": sorted(FILES_BY_NAME)}
            )
        specs = [spec for spec in FILES_BY_NAME.values() if spec.file in names]
        report = await import_files(
            request.app[ENGINE],
            [(spec, directory / spec.file) for spec in specs],
            ImportOptions(
                default_region=settings.default_phone_region,
                chunk_rows=settings.import_chunk_rows,
                source="api",
                actor=user.username,
                actor_id=user.id,
                refresh_as_of=lender_today(settings.lender_timezone),
                cob=settings.cob_config(),
            ),
            label="upload: " + ", ".join(spec.file for spec in specs),
        )
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return json_response(report.as_dict(), status=201)


async def list_imports(request: web.Request) -> web.Response:
    require(request, *STAFF)
    limit = max(1, min(_int_param(request, "limit", 20), 200))
    offset = max(0, _int_param(request, "offset", 0))
    async with request.app[ENGINE].connect() as conn:
        total = await conn.scalar(select(func.count()).select_from(ImportRun))
        rows = (
            await conn.execute(
                select(ImportRun).order_by(ImportRun.id.desc()).limit(limit).offset(offset)
            )
        ).all()
    items = [
        {
            "id": row.id,
            "status": row.status,
            "source": row.source,
            "actor": row.actor,
            "label": row.label,
            "started_at": row.started_at,
            "finished_at": row.finished_at,
            "error_count": row.error_count,
        }
        for row in rows
    ]
    return json_response({"total": total, "items": items})


def _run_id(request: web.Request) -> int:
    try:
        return int(request.match_info["id"])
    except ValueError:
        raise NotFound(f"import run {request.match_info['id']!r} not found") from None


async def get_import(request: web.Request) -> web.Response:
    require(request, *STAFF)
    report = await load_report(request.app[ENGINE], _run_id(request))
    return json_response(report.as_dict())


async def get_import_errors(request: web.Request) -> web.Response:
    require(request, *STAFF)
    run_id = _run_id(request)
    await load_report(request.app[ENGINE], run_id, sample=0)  # 404 for an unknown run
    async with request.app[ENGINE].connect() as conn:
        errors = await list_errors(
            conn,
            run_id,
            limit=max(1, min(_int_param(request, "limit", 100), 1000)),
            offset=max(0, _int_param(request, "offset", 0)),
            file=request.query.get("file") or None,
        )
    return json_response({"items": [error.as_dict() for error in errors]})


async def create_loan_event(request: web.Request) -> web.Response:
    """Extension (展期) or restructuring of a loan's remaining schedule: supervisors, admins."""
    user = require(request, *STAFF)
    body = await read_json_object(request)
    settings = request.app[SETTINGS]
    async with request.app[ENGINE].begin() as conn:
        loan = await reads.visible_loan(conn, user, request.match_info["ref"])
        result = await apply_event(
            conn, user, loan, body, lender_today(settings.lender_timezone), settings.cob_config()
        )
    return json_response(result, status=201)


# --- close of business and exports --------------------------------------------------------------


async def run_close_of_business(request: web.Request) -> web.Response:
    """Run COB for a date (default the lender's today): supervisors and admins."""
    user = require(request, *STAFF)
    body = await read_json_object(request)
    settings = request.app[SETTINGS]
    raw = body.get("as_of")
    try:
        as_of = dt.date.fromisoformat(raw) if raw else lender_today(settings.lender_timezone)
    except (TypeError, ValueError):
        raise ValidationFailed(
            "as_of must be a date as YYYY-MM-DD", details=[{"field": "as_of", "reason": raw}]
        ) from None
    report = await run_cob(
        request.app[ENGINE],
        as_of,
        settings.cob_config(),
        actor=user.username,
        retention_days=settings.snapshot_retention_days,
        planning=Planning(request.app[STRATEGIES], settings),
    )
    return json_response(
        {
            "as_of": report.as_of,
            "loans": report.loans,
            "buckets": report.buckets,
            "seconds": round(report.seconds, 3),
        },
        status=201,
    )


async def export_accounts(request: web.Request) -> web.StreamResponse:
    """The accounts file of a close of business, streamed as CSV (DESIGN.md §5)."""
    require(request, *STAFF)
    as_of = _date_param(request, "as_of")
    if as_of is None:
        raise ValidationFailed("as_of is required", details=[{"field": "as_of"}])
    if request.query.get("format", "csv") != "csv":
        raise ValidationFailed("format must be csv", details=[{"field": "format"}])
    rows = account_rows(request.app[ENGINE], as_of)
    first = await anext(rows)  # raises NotFound before any byte is sent
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="accounts-{as_of.isoformat()}.csv"',
        }
    )
    await response.prepare(request)
    await response.write(first.encode())
    async for chunk in rows:
        await response.write(chunk.encode())
    await response.write_eof()
    return response


async def openapi_document(request: web.Request) -> web.Response:
    return json_response(openapi.document())


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/healthz", healthz)
    r.add_get("/api/openapi.json", openapi_document)
    r.add_post("/api/session", create_session)
    r.add_delete("/api/session", delete_session)
    r.add_get("/api/me", me)
    r.add_get("/api/borrowers", list_borrowers)
    r.add_get("/api/borrowers/{ref}", get_borrower)
    r.add_get("/api/loans", list_loans)
    r.add_get("/api/loans/{ref}", get_loan)
    r.add_post("/api/loans/{ref}/events", create_loan_event)
    r.add_get("/api/payments", list_payments)
    r.add_post("/api/payments", create_payment)
    r.add_post("/api/imports", create_import)
    r.add_get("/api/imports", list_imports)
    r.add_get("/api/imports/{id}", get_import)
    r.add_get("/api/imports/{id}/errors", get_import_errors)
    r.add_post("/api/cob", run_close_of_business)
    r.add_get("/api/exports/accounts", export_accounts)
