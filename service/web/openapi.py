"""The OpenAPI 3.1 document at ``/api/openapi.json``, generated from the endpoints and their
pydantic models — no schema is written here by hand, so the document cannot drift from what the
handlers accept and answer (a test checks both against the running app)."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any

import pydantic
from aiohttp import web
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from service import __version__
from service.web.api import AREAS
from service.web.api.framework import PUBLIC, Api, Endpoint, json_response
from service.web.api.schemas import ErrorBody
from service.web.middleware import UNSAFE_METHODS

REF = "#/components/schemas/{model}"
_PARAMETER = re.compile(r"{(\w+)}")
# Error statuses every endpoint of a kind can answer, with what they mean.
ERRORS = {
    400: "malformed request (not JSON, not an object)",
    401: "not logged in",
    403: "this role may not do this, or a cookie request that did not come from this site",
    404: "no such resource, or not one the caller may see",
    409: "collides with stored state",
    413: "the request body is too large",
    422: "values break the rules; details name each field",
    429: "too many failed logins; Retry-After says when to try again",
    503: "the database could not complete the request",
}
api = Api("meta")


@api.get(
    "/api/openapi.json",
    summary="This document",
    roles=PUBLIC,
    produces={"application/json": "the OpenAPI 3.1 document, generated from the endpoints"},
)
async def openapi_document() -> web.StreamResponse:
    return json_response(document())


@functools.cache
def document() -> dict[str, Any]:
    """The document of every area's endpoints (built once per process)."""
    return _build([endpoint for area in (*AREAS, api) for endpoint in area.endpoints])


def _build(endpoints: Sequence[Endpoint]) -> dict[str, Any]:
    wanted: list[tuple[type[pydantic.BaseModel], JsonSchemaMode]] = [(ErrorBody, "serialization")]
    for endpoint in endpoints:
        for model in (endpoint.body, endpoint.query, endpoint.path_params, endpoint.form):
            if model is not None:
                wanted.append((model, "validation"))
        for answer in endpoint.responses.values():
            if answer is not None:
                wanted.append((answer, "serialization"))
    refs, definitions = models_json_schema(list(dict.fromkeys(wanted)), ref_template=REF)
    schemas: dict[str, Any] = definitions.get("$defs", {})
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        operation = _operation(endpoint, refs, schemas)
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Arrears API",
            "version": __version__,
            "description": (
                "Collections contact-center service. Money is a decimal string with two "
                "places; dates and times are ISO 8601 with their offset. Every error has one "
                'shape: {"error": {"code", "message", "details"}}; a 422 names each invalid '
                "field in details. Log in with POST /api/session, then send the cookie or "
                "`Authorization: Bearer <token>`. Long work (close of business, a dry run, a "
                "large import) answers 202 with a job: poll GET /api/jobs/{id}."
            ),
        },
        "servers": [{"url": "/"}],
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "cookie": {"type": "apiKey", "in": "cookie", "name": "arrears_session"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
        },
        "security": [{"cookie": []}, {"bearer": []}],
        "paths": paths,
    }


def _operation(endpoint: Endpoint, refs: dict[Any, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    def schema(model: type[pydantic.BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        found: dict[str, Any] = refs[(model, mode)]
        return found

    operation: dict[str, Any] = {
        "operationId": endpoint.handler.__name__,
        "summary": endpoint.summary,
        "tags": [endpoint.tag],
    }
    if endpoint.description:
        operation["description"] = endpoint.description
    if endpoint.roles is None:
        operation["security"] = []
    elif endpoint.roles:
        roles = ", ".join(role.value for role in endpoint.roles)
        operation["description"] = (
            operation.get("description", "") + f"\n\nRoles: {roles}."
        ).strip()
    # A path's fields are its parameters, with the model's own schemas (an id's bounds too).
    path_schemas: dict[str, Any] = {}
    if endpoint.path_params is not None:
        name_of = schema(endpoint.path_params, "validation")["$ref"].rsplit("/", 1)[1]
        path_schemas = schemas[name_of].get("properties", {})
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": path_schemas.get(name, {"type": "string"}),
        }
        for name in _PARAMETER.findall(endpoint.path)
    ]
    if endpoint.query is not None:
        # A query's fields are parameters; their schemas are the model's own properties.
        name_of = schema(endpoint.query, "validation")["$ref"].rsplit("/", 1)[1]
        properties = schemas[name_of].get("properties", {})
        for name, field in endpoint.query.model_fields.items():
            public = field.alias or name
            parameters.append(
                {
                    "name": public,
                    "in": "query",
                    "required": field.is_required(),
                    "schema": properties.get(public, {}),
                    **({"description": field.description} if field.description else {}),
                }
            )
    if parameters:
        operation["parameters"] = parameters
    if endpoint.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": schema(endpoint.body, "validation")}},
        }
    elif endpoint.form is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"multipart/form-data": {"schema": schema(endpoint.form, "validation")}},
        }
    responses: dict[str, Any] = {}
    for status, answer in endpoint.responses.items():
        if answer is not None:
            content = {"application/json": {"schema": schema(answer, "serialization")}}
            responses[str(status)] = {
                "description": answer.__doc__ or "the answer",
                "content": content,
            }
        elif endpoint.produces:
            responses[str(status)] = {
                "description": "; ".join(endpoint.produces.values()),
                "content": {media: {"schema": {}} for media in endpoint.produces},
            }
        else:
            responses[str(status)] = {"description": "no content"}
    error = {"application/json": {"schema": schema(ErrorBody, "serialization")}}
    for status in _error_statuses(endpoint):
        responses.setdefault(str(status), {"description": ERRORS[status], "content": error})
    operation["responses"] = responses
    return operation


def _error_statuses(endpoint: Endpoint) -> list[int]:
    statuses = set(endpoint.errors)
    if endpoint.body is not None or endpoint.form is not None:
        statuses |= {400, 413, 422}
    if endpoint.method in UNSAFE_METHODS:
        statuses.add(403)  # a cookie request that did not come from our own pages (CSRF)
    if endpoint.query is not None:
        statuses.add(422)
    if endpoint.roles is not None:
        statuses.add(401)
    if endpoint.roles:
        statuses.add(403)
    if _PARAMETER.search(endpoint.path):
        statuses.add(404)
    return sorted(statuses)
