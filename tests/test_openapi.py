"""The OpenAPI document against the running handlers: every route described and every described
route served; every documented field accepted with a value of its documented type; an
undocumented field refused with a 422 naming it; and real answers valid against the documented
response schemas."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from service.cob.nightly import run_cob
from service.db.models import Loan, Role
from service.devtools.demo import write_demo_portfolio
from service.ingest.pipeline import ImportOptions, import_directory
from tests.conftest import login, make_user

Client = TestClient[Any, Any]
AS_OF = dt.date(2026, 11, 24)
# Validation errors that mean "this field is not what the handler takes".
SHAPE_ERRORS = re.compile(r"extra_forbidden|_type$|_parsing$|^missing$|literal_error|enum")


async def _document(client: Client) -> dict[str, Any]:
    response = await client.get("/api/openapi.json")
    assert response.status == 200
    document: dict[str, Any] = await response.json()
    return document


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method.upper(), operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    ]


def _resolve(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def sample(schema: dict[str, Any], document: dict[str, Any]) -> Any:
    """A value of the schema's type (every property of an object, the first enum member)."""
    schema = _resolve(schema, document)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            choices = [s for s in schema[key] if s.get("type") != "null"]
            return sample(choices[0], document)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        return {name: sample(prop, document) for name, prop in properties.items()}
    if kind == "array":
        return [sample(schema.get("items", {}), document)]
    if kind == "string":
        if schema.get("format") == "date":
            return AS_OF.isoformat()
        if schema.get("format") == "date-time":
            return "2026-11-24T10:00:00+08:00"
        if "pattern" in schema:
            return "1.00"
        return "x"
    if kind == "integer":
        return max(int(schema.get("minimum", 1)), int(schema.get("exclusiveMinimum", 0)) + 1)
    if kind == "number":
        return 0.5
    if kind == "boolean":
        return False
    return "x"


def _url(path: str, refs: dict[str, str]) -> str:
    return re.sub(r"{(\w+)}", lambda m: refs.get(m.group(1), "1"), path)


@pytest.fixture
async def staff(client: Client, engine: AsyncEngine) -> dict[str, str]:
    await make_user(engine, "admin", Role.admin)
    return {"Authorization": f"Bearer {await login(client, 'admin')}"}


async def test_every_route_is_documented_and_every_documented_route_is_served(
    client: Client,
) -> None:
    document = await _document(client)
    assert document["openapi"] == "3.1.0"
    documented = {(path, method) for path, method, _ in _operations(document)}
    registered = {
        (route.resource.canonical, route.method)
        for route in client.app.router.routes()
        if route.resource is not None
        and (route.resource.canonical.startswith("/api/") or route.resource.canonical == "/healthz")
        and route.method != "HEAD"
    }
    assert documented == registered
    bare = [
        f"{method} {path}"
        for path, method, operation in _operations(document)
        for response in operation["responses"].values()
        for media in response.get("content", {}).values()
        if media["schema"] == {"type": "object"}
    ]
    assert bare == []  # every body described, none a bare object


async def test_an_undocumented_body_field_is_refused_naming_it(
    client: Client, staff: dict[str, str]
) -> None:
    document = await _document(client)
    bodies = [op for op in _operations(document) if "requestBody" in op[2]]
    json_bodies = [op for op in bodies if "application/json" in op[2]["requestBody"]["content"]]
    assert len(json_bodies) >= 12
    for path, method, operation in json_bodies:
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        body = {**sample(schema, document), "surplus_field": 1}
        response = await client.request(method, _url(path, {}), json=body, headers=staff)
        assert response.status == 422, (method, path, await response.text())
        details = (await response.json())["error"]["details"]
        assert {"field": "surplus_field", "type": "extra_forbidden"}.items() <= next(
            d for d in details if d["field"] == "surplus_field"
        ).items(), (method, path, details)


async def test_every_documented_body_field_is_accepted_with_its_documented_type(
    client: Client, staff: dict[str, str]
) -> None:
    document = await _document(client)
    for path, method, operation in _operations(document):
        content = operation.get("requestBody", {}).get("content", {})
        if "application/json" not in content:
            continue
        body = sample(content["application/json"]["schema"], document)
        response = await client.request(method, _url(path, {}), json=body, headers=staff)
        if response.status == 422:
            details = (await response.json())["error"]["details"] or []
            shape = [d for d in details if SHAPE_ERRORS.search(str(d.get("type", "")))]
            assert shape == [], (method, path, body, shape)


async def test_an_undocumented_query_parameter_is_refused_naming_it(
    client: Client, staff: dict[str, str]
) -> None:
    document = await _document(client)
    queried = [
        op
        for op in _operations(document)
        if any(p["in"] == "query" for p in op[2].get("parameters", []))
    ]
    assert len(queried) >= 8
    for path, method, operation in queried:
        params = {
            p["name"]: str(sample(p["schema"], document))
            for p in operation["parameters"]
            if p["in"] == "query" and p["required"]
        }
        url = _url(path, {"kind": "due_notice"})
        response = await client.request(
            method, url, params={**params, "surplus": "1"}, headers=staff
        )
        assert response.status == 422, (method, path)
        fields = [d["field"] for d in (await response.json())["error"]["details"]]
        assert "surplus" in fields


async def test_a_wrong_type_is_a_422_naming_the_field(
    client: Client, staff: dict[str, str]
) -> None:
    response = await client.post(
        "/api/payments",
        json={"payment_ref": "P1", "loan_ref": "L1", "paid_on": "2026-11-24", "amount": 12.5},
        headers=staff,
    )
    assert response.status == 422
    (detail,) = (await response.json())["error"]["details"]
    assert detail["field"] == "amount"
    assert "decimal string" in detail["reason"]
    response = await client.get("/api/loans?limit=five", headers=staff)
    assert response.status == 422
    assert [d["field"] for d in (await response.json())["error"]["details"]] == ["limit"]


async def test_answers_are_valid_against_the_documented_schemas(
    client: Client, engine: AsyncEngine, staff: dict[str, str], tmp_path: Path
) -> None:
    write_demo_portfolio(tmp_path / "demo", borrowers=60, as_of=AS_OF)
    await import_directory(engine, tmp_path / "demo", ImportOptions())
    await run_cob(engine, AS_OF)
    async with engine.connect() as conn:
        loan_ref = await conn.scalar(select(Loan.loan_ref).order_by(Loan.loan_ref).limit(1))
        borrower_ref = await conn.scalar(select(Loan.borrower_id).order_by(Loan.loan_ref).limit(1))
    assert loan_ref is not None
    loans = await (await client.get(f"/api/loans/{loan_ref}", headers=staff)).json()
    refs = {"ref": loan_ref, "id": "1", "key": "none", "kind": "due_notice"}
    document = await _document(client)
    checked = 0
    for path, method, operation in _operations(document):
        if method != "GET" or path == "/api/openapi.json":
            continue
        params = {
            p["name"]: str(sample(p["schema"], document))
            for p in operation.get("parameters", [])
            if p["in"] == "query" and p["required"]
        }
        url = _url(path, {**refs, "ref": loans["borrower_ref"]} if "borrowers" in path else refs)
        response = await client.get(url, params=params, headers=staff)
        answer = operation["responses"].get(str(response.status))
        assert answer is not None, (path, response.status, await response.text())
        media = answer.get("content", {}).get("application/json")
        if media is None or response.content_type != "application/json":
            continue
        schema = {"components": document["components"], **media["schema"]}
        jsonschema.validate(await response.json(), schema, cls=jsonschema.Draft202012Validator)
        checked += 1
    assert checked >= 12
    assert borrower_ref is not None


async def test_the_plan_body_is_the_plan_files_own_shape(
    client: Client, staff: dict[str, str]
) -> None:
    import tomllib
    from importlib import resources

    from service.web.api.plans import PlanStep, StepWhen
    from strategies.treatment import WHEN_KEYS

    assert set(StepWhen.model_fields) == WHEN_KEYS
    assert {"key", "channel", "template", "task", "at", "once", "when"} == set(
        PlanStep.model_fields
    )
    shipped = tomllib.loads(
        resources.files("strategies.plans").joinpath("standard.toml").read_text("utf-8")
    )
    response = await client.post("/api/plans", json=shipped, headers=staff)
    assert response.status == 201, await response.text()
    stored = await response.json()
    assert (stored["name"], stored["version"]) == ("standard", 2)
    assert [step["key"] for step in stored["steps"]] == [step["key"] for step in shipped["steps"]]


def _request_schemas(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(where, schema) of every documented request value: parameters and body properties,
    nested objects and array items included."""
    found: list[tuple[str, dict[str, Any]]] = []

    def walk(where: str, schema: dict[str, Any]) -> None:
        schema = _resolve(schema, document)
        for key in ("anyOf", "oneOf", "allOf"):
            for choice in schema.get(key, []):
                walk(where, choice)
        if schema.get("type") == "object":
            for name, prop in schema.get("properties", {}).items():
                walk(f"{where}.{name}", prop)
        elif schema.get("type") == "array":
            walk(f"{where}[]", schema.get("items", {}))
        elif schema.get("type") is not None:
            found.append((where, schema))

    for path, method, operation in _operations(document):
        for parameter in operation.get("parameters", []):
            walk(f"{method} {path} {parameter['name']}", parameter["schema"])
        for media in operation.get("requestBody", {}).get("content", {}).values():
            walk(f"{method} {path} body", media["schema"])
    return found


async def test_every_documented_number_is_bounded_as_its_column_is(client: Client) -> None:
    """An integer the document allows is one the database can hold (no 500 from the driver):
    every request integer has a minimum and a maximum, ids at most 32 bits."""
    document = await _document(client)
    integers = [(w, s) for w, s in _request_schemas(document) if s["type"] == "integer"]
    assert len(integers) >= 20
    unbounded = [w for w, s in integers if "minimum" not in s or "maximum" not in s]
    assert unbounded == []
    assert all(s["maximum"] <= 2**63 - 1 for _, s in integers)
    ids = [s for w, s in integers if w.endswith(" id")]
    assert len(ids) >= 4
    assert {s["maximum"] for s in ids} == {2**31 - 1}
    assert [w for w, s in _request_schemas(document) if s["type"] == "number"] == []


async def test_query_text_is_converted_only_as_documented(
    client: Client, staff: dict[str, str]
) -> None:
    """A query integer is digits, a query flag true or false: what pydantic's own string
    parsing would also take ("5.0", " 5", "yes", "1") is refused wherever the document has
    an integer or a boolean."""
    document = await _document(client)
    tried = 0
    for path, method, operation in _operations(document):
        for parameter in operation.get("parameters", []):
            kind = _resolve(parameter["schema"], document).get("type")
            if parameter["in"] != "query" or kind not in ("integer", "boolean"):
                continue
            required = {
                p["name"]: str(sample(p["schema"], document))
                for p in operation["parameters"]
                if p["in"] == "query" and p["required"] and p["name"] != parameter["name"]
            }
            url = _url(path, {"kind": "due_notice"})
            for lax in ["5.0", " 5", "+5", "٥"] if kind == "integer" else ["yes", "1", "True"]:
                query = {**required, parameter["name"]: lax}
                response = await client.request(method, url, params=query, headers=staff)
                assert response.status == 422, (method, path, parameter["name"], lax)
                fields = [d["field"] for d in (await response.json())["error"]["details"]]
                assert parameter["name"] in fields
                tried += 1
    assert tried >= 30


async def test_patterned_values_are_accepted_exactly_when_the_document_says(
    client: Client,
) -> None:
    """For the request types with a pattern (money, dates, shares, refs), the document's
    schema and the server's validator agree on every string tried: no value the document
    allows is refused, none it refuses is taken."""
    import pydantic
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from service.web.api import schemas

    document = await _document(client)
    documented = [s for _, s in _request_schemas(document)]
    alphabet = st.sampled_from([*"0123456789-.,: eE+１٣TZ\t", "00", "19", "20", "29"])
    values = st.lists(alphabet, max_size=16).map("".join)
    for annotation, interesting in (
        (schemas.MoneyIn, ["0", "0.00", "1.5", "150.25", "012", "1,000", "1e3", "-1"]),
        (schemas.PositiveMoneyIn, ["0", "0.00", "0.01", "0.10", "0.1", "1", "10.00", "00.5"]),
        (schemas.Day, ["2026-11-24", "1900-01-01", "2999-12-31", "2026-02-30", "1899-12-31"]),
        (schemas.ShareIn, ["0.2", "0.0", "0.000001", "1", "0.20", "0.5000001", ".5"]),
        (schemas.Ref, ["L1", " L1", "L1 ", "a b", "x" * 64, "x" * 65, ""]),
    ):
        adapter = pydantic.TypeAdapter(annotation)
        schema = adapter.json_schema()
        # it is what the document says (a field adds its title and description)
        assert any(schema.items() <= d.items() for d in documented), schema
        checker = jsonschema.Draft202012Validator(
            schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
        )

        agree = _agreement(adapter, checker, annotation)
        for value in interesting:
            agree(value)
        settings(
            max_examples=300,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )(given(values)(agree))()


def _agreement(adapter: Any, checker: Any, annotation: Any) -> Any:
    """A check that the server's validator and the document's schema agree on a value."""
    import pydantic

    def agree(value: str) -> None:
        try:
            adapter.validate_json(json_dumps(value), strict=True)
            served = True
        except pydantic.ValidationError:
            served = False
        assert checker.is_valid(value) == served, (annotation, value)

    return agree


def json_dumps(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True, ensure_ascii=False)
