"""Typed endpoints: a handler's request and response shapes are pydantic models, read from its
signature, so validation, the error details and the OpenAPI document come from one place.

    api = Api("payments")

    @api.post("/api/payments", summary="Record a payment", roles=STAFF, status=201)
    async def create_payment(request: web.Request, user: CurrentUser, body: NewPayment) -> Payment:
        ...

Parameters a handler may take, by name: ``request``; ``user`` (the logged-in user, who must hold
one of ``roles``); ``body`` (a JSON object, validated); ``query`` (the query string, validated);
``path`` (the URL's parameters, validated; a value that does not fit is a 404). It returns a
model (serialised with the endpoint's status), a :class:`Reply` (another status), ``None``
(204) or an aiohttp response of its own (files, streams). Every model refuses undocumented
fields, so a typo is a 422 naming the field, not a silently ignored value.

Why our own ~300 lines and not aiohttp-pydantic: its class-based views and error format differ
from the one error shape every client already reads, roles would live outside the signature,
and the generator is small over ``pydantic.json_schema.models_json_schema`` (docs/api.md).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import inspect
import json
import math
import types
import typing
from collections.abc import Awaitable, Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Generic, TypeVar, get_args, get_origin

import pydantic
from aiohttp import web

from service.auth import CurrentUser
from service.db.models import Role
from service.errors import (
    ArrearsError,
    InputError,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    ValidationFailed,
)
from service.web.keys import CROSS_ORIGIN, USER

M = TypeVar("M")
Handler = Callable[..., Awaitable[Any]]

ANYONE: tuple[Role, ...] = ()  # any logged-in user
STAFF = (Role.supervisor, Role.admin)
PUBLIC = None  # no login


class In(pydantic.BaseModel):
    """A request body, query or path: undocumented fields are refused, and values are strict —
    a list is not a string, a number not a date, ``true`` not a month. A body is validated as
    JSON (dates and enums as their strings); a query or path as text (:class:`TextIn`)."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True, strict=True)


class TextIn(In):
    """A query string or a path: every value arrives as text. The only conversions from text
    are these, spelled out (pydantic's own string parsing also reads "5.0", " 5", "+5" and "٥"
    as 5, and yes, on, 1 or t as true): an integer is ASCII digits, a flag is true or false;
    dates, enums and literals read as their JSON strings do."""

    @pydantic.field_validator("*", mode="before")
    @classmethod
    def _from_text(cls, value: Any, info: pydantic.ValidationInfo) -> Any:
        if not isinstance(value, str) or info.field_name is None:
            return value
        kind = _scalar(cls.model_fields[info.field_name].annotation)
        if kind is bool:
            if value not in ("true", "false"):
                raise ValueError("expected true or false")
            return value == "true"
        if kind is int:
            if not (value.isascii() and value.isdigit()):
                raise ValueError("expected a whole number written with the digits 0-9")
            if len(value) > 19:  # past 64 bits; spares int() a pathological string
                raise ValueError("expected a number that fits in 64 bits")
            return int(value)
        return value


def _scalar(annotation: Any) -> Any:
    """``int`` for ``int``, ``int | None`` and the like; the annotation itself otherwise."""
    if get_origin(annotation) in (typing.Union, types.UnionType):
        kinds = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(kinds) == 1:
            return kinds[0]
    return annotation


class Out(pydantic.BaseModel):
    """A response body."""

    model_config = pydantic.ConfigDict(frozen=True)


@dataclasses.dataclass(frozen=True, slots=True)
class Reply(Generic[M]):
    """A response with a status other than the endpoint's usual one (e.g. 200 for a retry)."""

    body: M
    status: int


@dataclasses.dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    description: str
    tag: str
    roles: tuple[Role, ...] | None
    status: int
    # The models, from the handler's signature (None: the endpoint takes or gives none).
    body: type[pydantic.BaseModel] | None
    query: type[pydantic.BaseModel] | None
    path_params: type[pydantic.BaseModel] | None
    responses: Mapping[int, type[pydantic.BaseModel] | None]
    # Non-JSON answers (media type → description), and a multipart form described by a model.
    produces: Mapping[str, str]
    form: type[pydantic.BaseModel] | None
    errors: tuple[int, ...]

    @property
    def wants_user(self) -> bool:
        return self.roles is not None


class Api:
    """The endpoints of one area of the API, registered on the app together."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.endpoints: list[Endpoint] = []

    def get(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self._route("GET", path, **options)

    def post(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self._route("POST", path, **options)

    def delete(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self._route("DELETE", path, **options)

    def _route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        description: str = "",
        roles: tuple[Role, ...] | None = ANYONE,
        status: int = 200,
        responses: Mapping[int, type[pydantic.BaseModel] | None] | None = None,
        produces: Mapping[str, str] | None = None,
        form: type[pydantic.BaseModel] | None = None,
        errors: Sequence[int] = (),
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            hints = typing.get_type_hints(handler)
            parameters = inspect.signature(handler).parameters
            unknown = set(parameters) - {"request", "user", "body", "query", "path"}
            if unknown:
                raise TypeError(f"{handler.__name__}: unknown parameters {sorted(unknown)}")
            if "user" in parameters and roles is None:
                raise TypeError(f"{handler.__name__}: a public endpoint has no user")
            for kind in ("query", "path"):
                model = hints.get(kind) if kind in parameters else None
                if model is not None and not issubclass(model, TextIn):
                    raise TypeError(f"{handler.__name__}: a {kind} is a TextIn (it is text)")
            answer = _response_model(hints.get("return"))
            self.endpoints.append(
                Endpoint(
                    method=method,
                    path=path,
                    handler=handler,
                    summary=summary,
                    description=description or (inspect.getdoc(handler) or ""),
                    tag=self.tag,
                    roles=roles,
                    status=status,
                    body=hints.get("body") if "body" in parameters else None,
                    query=hints.get("query") if "query" in parameters else None,
                    path_params=hints.get("path") if "path" in parameters else None,
                    responses=dict(responses) if responses else {status: answer},
                    produces=dict(produces or {}),
                    form=form,
                    errors=tuple(errors),
                )
            )
            return handler

        return register

    def setup(self, app: web.Application) -> None:
        for endpoint in self.endpoints:
            app.router.add_route(endpoint.method, endpoint.path, _serve(endpoint))


def _response_model(annotation: Any) -> type[pydantic.BaseModel] | None:
    if get_origin(annotation) is Reply:
        (annotation,) = get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return annotation
    return None  # None (204) or a response the handler builds itself


def _serve(endpoint: Endpoint) -> Handler:
    takes = set(inspect.signature(endpoint.handler).parameters)

    async def serve(request: web.Request) -> web.StreamResponse:
        arguments: dict[str, Any] = {}
        if endpoint.roles is not None:
            user = require(request, *endpoint.roles)
            if "user" in takes:
                arguments["user"] = user
        if "request" in takes:
            arguments["request"] = request
        if endpoint.path_params is not None:
            try:
                arguments["path"] = endpoint.path_params.model_validate_strings(
                    dict(request.match_info)
                )
            except pydantic.ValidationError:
                raise NotFound(f"{request.path} not found") from None
        if endpoint.query is not None:
            arguments["query"] = validated(endpoint.query, _query(request))
        if endpoint.body is not None:
            arguments["body"] = validated(endpoint.body, await read_json_object(request))
        answer = await endpoint.handler(**arguments)
        if isinstance(answer, web.StreamResponse):
            return answer
        status = endpoint.status
        if isinstance(answer, Reply):
            answer, status = answer.body, answer.status
        if answer is None:
            return web.Response(status=204)
        assert isinstance(answer, pydantic.BaseModel)
        return web.Response(
            body=answer.model_dump_json(by_alias=True).encode(),
            status=status,
            content_type="application/json",
        )

    serve.__name__ = endpoint.handler.__name__
    return serve


def _query(request: web.Request) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in request.query:
        found = request.query.getall(name)
        values[name] = found if len(found) > 1 else found[0]
    return values


# --- authentication ------------------------------------------------------------------------------


class CrossOrigin(PermissionDenied):
    """A state-changing request that rode on the session cookie without proving it came from
    our own pages (docs/security.md, CSRF): 403, nothing done."""

    code = "cross_origin"


class Throttled(ArrearsError):
    """Too many failed logins for an account or from an address: 429 with ``Retry-After``."""

    code = "too_many_attempts"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, details={"retry_after": retry_after})
        self.retry_after = retry_after


def require(request: web.Request, *roles: Role) -> CurrentUser:
    """The logged-in user, who must have one of ``roles`` (any role when none are named)."""
    user: CurrentUser | None = request.get(USER)
    if user is None:
        refused = request.get(CROSS_ORIGIN)
        if refused is not None:
            raise CrossOrigin(
                f"refused: a state-changing request authenticated by the session cookie must "
                f"come from this site's own pages ({refused}); API clients send "
                "Authorization: Bearer"
            )
        raise Unauthenticated("log in first (POST /api/session)")
    if roles and user.role not in roles:
        raise PermissionDenied(f"role {user.role.value} may not do this")
    return user


# --- reading and writing JSON --------------------------------------------------------------------


# How deep a request body may nest: every body of the API is a few levels deep, and a deeper
# one only costs the parser, the validators and the JSON columns stack.
MAX_JSON_DEPTH = 32
_INT64 = 2**63


def _integer(text: str) -> int:
    # Past 64 bits no column holds it; refusing by length first spares int() a 5,000-digit
    # string (which Python refuses with an error of its own).
    number = int(text) if len(text.lstrip("-")) <= 19 else _INT64
    if not -_INT64 <= number < _INT64:
        raise ValueError(f"the number {text[:24]}… does not fit in 64 bits")
    return number


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"the number {text[:24]} is out of range")
    return number


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON value")


def _depth(value: Any) -> int:
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level <= MAX_JSON_DEPTH:
                pending.extend((child, level + 1) for child in _children(item))
    return deepest


def _children(item: dict[str, Any] | list[Any]) -> Any:
    return item.values() if isinstance(item, dict) else item


@dataclasses.dataclass(frozen=True, slots=True)
class JsonBody:
    """A request body read and checked as one JSON object; ``raw`` is what pydantic validates."""

    raw: bytes
    value: dict[str, Any]


async def read_json_object(request: web.Request) -> JsonBody:
    if request.content_type != "application/json":
        # Also a CSRF defence: browsers cannot send this content type cross-site unprompted.
        raise InputError("send the request body as application/json")
    raw = await request.read()  # bounded by the app's client_max_size (413 past it)
    try:
        # As UTF-8, as pydantic reads it next (json.loads alone would also take UTF-16).
        body = json.loads(
            raw.decode("utf-8"), parse_int=_integer, parse_float=_finite, parse_constant=_not_json
        )
    except RecursionError:
        raise InputError(f"request body nests deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError and the checks above
        raise InputError(f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InputError("request body must be a JSON object")
    if _depth(body) > MAX_JSON_DEPTH:
        raise InputError(f"request body nests deeper than {MAX_JSON_DEPTH} levels")
    return JsonBody(raw, body)


def validated(model: type[M], values: Mapping[str, Any] | JsonBody) -> M:
    """``values`` as ``model``; every invalid or unknown field named in a 422's details. A body
    is validated as JSON text (strict: a date is its string, never a number), a query's values
    as text."""
    try:
        if isinstance(values, JsonBody):
            return model.model_validate_json(values.raw)  # type: ignore[attr-defined,no-any-return]
        return model.model_validate_strings(values)  # type: ignore[attr-defined,no-any-return]
    except pydantic.ValidationError as exc:
        raise ValidationFailed(
            f"{len(exc.errors())} invalid field(s)", details=field_errors(exc)
        ) from None


def field_errors(exc: pydantic.ValidationError) -> list[dict[str, str]]:
    """pydantic's errors in the API's words: the field (``items[0].due_on``), the reason."""
    details = []
    for error in exc.errors(include_url=False):
        field = ""
        for part in error["loc"]:
            field += f"[{part}]" if isinstance(part, int) else f".{part}" if field else str(part)
        reason = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            reason = "not a field of this request (see /api/openapi.json)"
        details.append({"field": field, "reason": reason, "type": str(error["type"])})
    return details


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def json_response(value: Any, status: int = 200) -> web.Response:
    """A JSON answer built outside the typed endpoints (errors, health)."""
    return web.json_response(
        value, status=status, dumps=lambda v: json.dumps(v, default=_default, ensure_ascii=False)
    )


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """The one error shape of the API: ``{"error": {"code", "message", "details"}}``."""
    return {"error": {"code": code, "message": message, "details": details}}
