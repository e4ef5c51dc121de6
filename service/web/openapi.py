"""The OpenAPI 3 document served at ``/api/openapi.json``.

A test checks that every JSON route the app registers is described here, and the reverse.
"""

from __future__ import annotations

from typing import Any

from service import __version__

MONEY = {"type": "string", "pattern": r"^-?\d+\.\d{2}$", "example": "1000.00"}
RATE = {"type": "string", "example": "0.072"}
DATE = {"type": "string", "format": "date"}
DATETIME = {"type": "string", "format": "date-time"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _page_of(name: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["total", "items"],
        "properties": {
            "total": {"type": "integer"},
            "items": {"type": "array", "items": _ref(name)},
        },
    }


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERRORS = {
    "400": {"$ref": "#/components/responses/BadRequest"},
    "401": {"$ref": "#/components/responses/Unauthenticated"},
    "403": {"$ref": "#/components/responses/Forbidden"},
}
NOT_FOUND = {"404": {"$ref": "#/components/responses/NotFound"}}
PAGING = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
]


def _path_ref(description: str) -> dict[str, Any]:
    return {
        "name": "ref",
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


def document() -> dict[str, Any]:
    error_response = _json(_ref("Error"), "error")
    doc: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {
            "title": "Arrears API",
            "version": __version__,
            "description": "Collections contact-center service. Money is a decimal string; "
            'dates are ISO 8601. Errors share one shape: {"error": {code, message, details}}. '
            "Authenticate with POST /api/session, then send the cookie or `Authorization: Bearer`.",
        },
        "components": {
            "securitySchemes": {
                "cookie": {"type": "apiKey", "in": "cookie", "name": "arrears_session"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
            "responses": {
                "BadRequest": _json(_ref("Error"), "malformed request"),
                "Unauthenticated": _json(_ref("Error"), "not logged in"),
                "Forbidden": _json(_ref("Error"), "role not allowed"),
                "NotFound": _json(_ref("Error"), "no such resource (or not visible to you)"),
                "Conflict": _json(_ref("Error"), "collides with stored state"),
                "Unprocessable": _json(_ref("Error"), "values break the rules"),
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                                "details": {"nullable": True},
                            },
                        }
                    },
                },
                "User": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "username": {"type": "string"},
                        "display_name": {"type": "string"},
                        "role": {"type": "string", "enum": ["collector", "supervisor", "admin"]},
                    },
                },
                "Borrower": {
                    "type": "object",
                    "properties": {
                        "borrower_ref": {"type": "string"},
                        "name": {"type": "string"},
                        "locale": {"type": "string"},
                        "region": {"type": "string"},
                        "timezone": {"type": "string", "nullable": True},
                        "timezone_source": {
                            "type": "string",
                            "enum": ["file", "phone", "ambiguous", "unknown"],
                        },
                        "sms_consent": {"type": "boolean"},
                    },
                },
                "BorrowerDetail": {
                    "allOf": [
                        _ref("Borrower"),
                        {
                            "type": "object",
                            "properties": {
                                "address": {"type": "string"},
                                "timezone_candidates": {
                                    "type": "array",
                                    "items": {"type": "string"},
                                },
                                "phones": {"type": "array", "items": {"type": "object"}},
                                "contacts": {"type": "array", "items": {"type": "object"}},
                                "loans": {"type": "array", "items": {"type": "object"}},
                            },
                        },
                    ]
                },
                "Loan": {
                    "type": "object",
                    "properties": {
                        "loan_ref": {"type": "string"},
                        "borrower_ref": {"type": "string"},
                        "product": {"type": "string"},
                        "currency": {"type": "string"},
                        "principal": MONEY,
                        "annual_rate": RATE,
                        "penalty_rate_daily": {**RATE, "nullable": True},
                        "disbursed_on": DATE,
                        "maturity_on": DATE,
                        "status": {"type": "string", "enum": ["open", "closed"]},
                        "position_as_of": {**DATE, "nullable": True},
                        "days_past_due": {"type": "integer"},
                        "bucket": {"type": "string", "example": "M1"},
                        "amount_tier": {"type": "string", "enum": ["S", "M", "L", "XL"]},
                        "classification": {
                            "type": "string",
                            "enum": [
                                "normal",
                                "special_mention",
                                "substandard",
                                "doubtful",
                                "loss",
                            ],
                        },
                        "overdue_amount": MONEY,
                        "outstanding": MONEY,
                        "penalty_accrued": MONEY,
                        "flags": {"type": "array", "items": {"type": "string"}},
                    },
                },
                "LoanDetail": {
                    "allOf": [
                        _ref("Loan"),
                        {
                            "type": "object",
                            "properties": {
                                "schedule": {"type": "array", "items": _ref("Installment")},
                                "payments": {"type": "array", "items": _ref("Payment")},
                                "paid_total": MONEY,
                            },
                        },
                    ]
                },
                "Installment": {
                    "type": "object",
                    "properties": {
                        "seq": {"type": "integer"},
                        "due_on": DATE,
                        "principal_due": MONEY,
                        "interest_due": MONEY,
                        "amount_due": MONEY,
                    },
                },
                "Payment": {
                    "type": "object",
                    "properties": {
                        "payment_ref": {"type": "string"},
                        "loan_ref": {"type": "string"},
                        "paid_on": DATE,
                        "amount": MONEY,
                        "source": {"type": "string"},
                    },
                },
                "NewPayment": {
                    "type": "object",
                    "required": ["payment_ref", "loan_ref", "paid_on", "amount"],
                    "properties": {
                        "payment_ref": {"type": "string", "maxLength": 64},
                        "loan_ref": {"type": "string"},
                        "paid_on": DATE,
                        "amount": MONEY,
                    },
                },
                "ImportRun": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "status": {"type": "string", "enum": ["running", "completed", "failed"]},
                        "source": {"type": "string"},
                        "actor": {"type": "string"},
                        "label": {"type": "string"},
                        "started_at": DATETIME,
                        "finished_at": {**DATETIME, "nullable": True},
                        "error_count": {"type": "integer"},
                    },
                },
                "ImportReport": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "status": {"type": "string"},
                        "files": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    name: {"type": "string" if name == "file" else "integer"}
                                    for name in (
                                        "file",
                                        "rows",
                                        "stored",
                                        "inserted",
                                        "updated",
                                        "unchanged",
                                        "rejected",
                                    )
                                },
                            },
                        },
                        "error_count": {"type": "integer"},
                        "errors": {"type": "array", "items": _ref("ImportError")},
                        "ignored_files": {"type": "array", "items": {"type": "string"}},
                        "failure": {"type": "string", "nullable": True},
                    },
                },
                "ImportError": {
                    "type": "object",
                    "properties": {
                        "file": {"type": "string"},
                        "line": {"type": "integer"},
                        "column": {"type": "string"},
                        "reason": {"type": "string"},
                    },
                },
            },
        },
        "security": [{"cookie": []}, {"bearer": []}],
        "paths": {
            "/healthz": {
                "get": {
                    "summary": "Liveness and readiness: database, and Redis when configured",
                    "security": [],
                    "responses": {
                        "200": _json({"type": "object"}, "healthy"),
                        "503": _json({"type": "object"}, "a dependency is down"),
                    },
                }
            },
            "/api/openapi.json": {
                "get": {
                    "summary": "This document",
                    "security": [],
                    "responses": {"200": _json({"type": "object"}, "OpenAPI 3 document")},
                }
            },
            "/api/session": {
                "post": {
                    "summary": "Log in; sets the session cookie and returns a bearer token",
                    "security": [],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["username", "password"],
                                    "properties": {
                                        "username": {"type": "string"},
                                        "password": {"type": "string", "format": "password"},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": _json(
                            {
                                "type": "object",
                                "properties": {"token": {"type": "string"}, "user": _ref("User")},
                            },
                            "logged in",
                        ),
                        "400": error_response,
                        "401": error_response,
                        "422": error_response,
                    },
                },
                "delete": {
                    "summary": "Log out (revokes the session)",
                    "responses": {"204": {"description": "logged out"}, **ERRORS},
                },
            },
            "/api/me": {
                "get": {
                    "summary": "The logged-in user",
                    "responses": {"200": _json(_ref("User"), "the user"), **ERRORS},
                }
            },
            "/api/borrowers": {
                "get": {
                    "summary": "Borrowers visible to the user (a collector: those of their queues)",
                    "parameters": [
                        {"name": "q", "in": "query", "schema": {"type": "string"}},
                        *PAGING,
                    ],
                    "responses": {"200": _json(_page_of("Borrower"), "a page"), **ERRORS},
                }
            },
            "/api/borrowers/{ref}": {
                "get": {
                    "summary": "One borrower with phones, third-party contacts and loans",
                    "parameters": [_path_ref("borrower_ref")],
                    "responses": {
                        "200": _json(_ref("BorrowerDetail"), "the borrower"),
                        **ERRORS,
                        **NOT_FOUND,
                    },
                }
            },
            "/api/loans": {
                "get": {
                    "summary": "Loans visible to the user",
                    "parameters": [
                        {"name": "borrower_ref", "in": "query", "schema": {"type": "string"}},
                        {
                            "name": "status",
                            "in": "query",
                            "schema": {"type": "string", "enum": ["open", "closed"]},
                        },
                        *PAGING,
                    ],
                    "responses": {
                        "200": _json(_page_of("Loan"), "a page"),
                        "422": error_response,
                        **ERRORS,
                    },
                }
            },
            "/api/loans/{ref}": {
                "get": {
                    "summary": "One loan with its schedule and payments",
                    "parameters": [_path_ref("loan_ref")],
                    "responses": {
                        "200": _json(_ref("LoanDetail"), "the loan"),
                        **ERRORS,
                        **NOT_FOUND,
                    },
                }
            },
            "/api/loans/{ref}/events": {
                "post": {
                    "summary": "Extend (展期) or restructure the loan's remaining schedule "
                    "(supervisor, admin); audited, sets the loan's flag",
                    "parameters": [_path_ref("loan_ref")],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["type", "reason"],
                                    "properties": {
                                        "type": {
                                            "type": "string",
                                            "enum": ["extension", "restructuring"],
                                        },
                                        "reason": {"type": "string"},
                                        "months": {
                                            "type": "integer",
                                            "minimum": 1,
                                            "maximum": 60,
                                            "description": "extension: months to shift by",
                                        },
                                        "installments": {
                                            "type": "array",
                                            "description": "restructuring: the new schedule",
                                            "items": {
                                                "type": "object",
                                                "properties": {
                                                    "due_on": DATE,
                                                    "principal_due": MONEY,
                                                    "interest_due": MONEY,
                                                },
                                            },
                                        },
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": _json({"type": "object"}, "the new schedule and flags"),
                        "422": {"$ref": "#/components/responses/Unprocessable"},
                        **ERRORS,
                        **NOT_FOUND,
                    },
                }
            },
            "/api/payments": {
                "get": {
                    "summary": "Payments, newest first",
                    "parameters": [
                        {"name": "loan_ref", "in": "query", "schema": {"type": "string"}},
                        {"name": "since", "in": "query", "schema": DATE},
                        *PAGING,
                    ],
                    "responses": {"200": _json(_page_of("Payment"), "a page"), **ERRORS},
                },
                "post": {
                    "summary": "Record a payment (supervisor, admin); idempotent by payment_ref",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("NewPayment")}},
                    },
                    "responses": {
                        "201": _json(_ref("Payment"), "recorded"),
                        "200": _json(_ref("Payment"), "already recorded with these values"),
                        "409": {"$ref": "#/components/responses/Conflict"},
                        "422": {"$ref": "#/components/responses/Unprocessable"},
                        **ERRORS,
                        **NOT_FOUND,
                    },
                },
            },
            "/api/imports": {
                "post": {
                    "summary": "Import any subset of the contract CSV files (supervisor, admin)",
                    "description": "multipart/form-data, one part per file named like "
                    "borrowers.csv, contacts.csv, loans.csv, installments.csv, payments.csv, "
                    "attempts.csv. Bad rows are reported; good rows are stored.",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "additionalProperties": {"type": "string", "format": "binary"},
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": _json(_ref("ImportReport"), "the import's report"),
                        "422": {"$ref": "#/components/responses/Unprocessable"},
                        **ERRORS,
                    },
                },
                "get": {
                    "summary": "Import runs, newest first (supervisor, admin)",
                    "parameters": PAGING,
                    "responses": {"200": _json(_page_of("ImportRun"), "a page"), **ERRORS},
                },
            },
            "/api/imports/{id}": {
                "get": {
                    "summary": "An import run's report with its first errors",
                    "parameters": [
                        {
                            "name": "id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "integer"},
                        }
                    ],
                    "responses": {
                        "200": _json(_ref("ImportReport"), "the report"),
                        **ERRORS,
                        **NOT_FOUND,
                    },
                }
            },
            "/api/cob": {
                "post": {
                    "summary": "Run close of business for a date (supervisor, admin)",
                    "description": "Idempotent for a date: positions and snapshots are replaced.",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "as_of": {**DATE, "description": "default: today"}
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "as_of": DATE,
                                    "loans": {"type": "integer"},
                                    "buckets": {
                                        "type": "object",
                                        "additionalProperties": {"type": "integer"},
                                    },
                                    "seconds": {"type": "number"},
                                },
                            },
                            "positions computed",
                        ),
                        "422": {"$ref": "#/components/responses/Unprocessable"},
                        **ERRORS,
                    },
                }
            },
            "/api/exports/accounts": {
                "get": {
                    "summary": "One CSV row per loan of a close of business (supervisor, admin)",
                    "description": "Columns: loan_ref, dpd, bucket, amount_tier, overdue_amount, "
                    "outstanding, penalty_accrued, classification, queue, collector.",
                    "parameters": [
                        {"name": "as_of", "in": "query", "required": True, "schema": DATE},
                        {
                            "name": "format",
                            "in": "query",
                            "schema": {"type": "string", "enum": ["csv"]},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "the accounts file",
                            "content": {"text/csv": {"schema": {"type": "string"}}},
                        },
                        "422": {"$ref": "#/components/responses/Unprocessable"},
                        **ERRORS,
                        **NOT_FOUND,
                    },
                }
            },
            "/api/imports/{id}/errors": {
                "get": {
                    "summary": "Every rejected line of an import run, by file and line",
                    "parameters": [
                        {
                            "name": "id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "integer"},
                        },
                        {"name": "file", "in": "query", "schema": {"type": "string"}},
                        *PAGING,
                    ],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "items": {"type": "array", "items": _ref("ImportError")}
                                },
                            },
                            "a page of errors",
                        ),
                        **ERRORS,
                        **NOT_FOUND,
                    },
                }
            },
        },
    }
    doc["paths"].update(_assignment_paths())
    doc["paths"].update(_contact_paths())
    return doc


def _body(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return {"required": True, "content": {"application/json": {"schema": schema}}}


UNPROCESSABLE = {"422": {"$ref": "#/components/responses/Unprocessable"}}
STRING = {"type": "string"}
NULLABLE_STRING = {"type": "string", "nullable": True}
RATIO = {"type": "string", "nullable": True, "example": "0.2140"}


def _assignment_paths() -> dict[str, Any]:
    account = {
        "type": "object",
        "nullable": True,
        "properties": {
            "loan_ref": STRING,
            "borrower_ref": STRING,
            "borrower_name": STRING,
            "queue": STRING,
            "reason": {
                "type": "string",
                "enum": ["callback_due", "broken_promise", "promise_due_today", "score"],
            },
            "days_past_due": {"type": "integer"},
            "bucket": STRING,
            "outstanding": MONEY,
            "lease_expires_at": DATETIME,
        },
    }
    arm = {
        "type": "object",
        "properties": {
            "arm": {"type": "string", "enum": ["champion", "challenger"]},
            "accounts": {"type": "integer"},
            "overdue_accounts": {"type": "integer"},
            "overdue_amount": MONEY,
            "collected": MONEY,
            "recovery_rate": RATIO,
            "cure_rate": RATIO,
            "roll_rate": RATIO,
        },
    }
    listing = _json({"type": "object", "properties": {"items": {"type": "array"}}}, "the list")
    return {
        "/api/work/next": {
            "post": {
                "summary": "Next account for the calling collector, leased to them",
                "description": "Releases what the caller held, then leases the most urgent free "
                "account of their queues: callback due, broken promise, promise due today, then "
                "DPD × balance (order configurable). account is null when nothing is left.",
                "responses": {
                    "200": _json(
                        {"type": "object", "properties": {"account": account}}, "the account"
                    ),
                    **ERRORS,
                },
            }
        },
        "/api/work/release": {
            "post": {
                "summary": "Release every account the caller holds",
                "responses": {
                    "200": _json(
                        {"type": "object", "properties": {"released": {"type": "integer"}}},
                        "how many were released",
                    ),
                    **ERRORS,
                },
            }
        },
        "/api/assignments": {
            "post": {
                "summary": "Assign accounts now (supervisor, admin)",
                "description": "Accounts whose segment or rules changed, or every open account "
                "with all=true. Every move is written to the history.",
                "requestBody": _body({"all": {"type": "boolean"}}),
                "responses": {
                    "201": _json(
                        {
                            "type": "object",
                            "properties": {
                                "considered": {"type": "integer"},
                                "moved": {"type": "integer"},
                                "unrouted": {"type": "integer"},
                                "arms": {
                                    "type": "object",
                                    "additionalProperties": {"type": "integer"},
                                },
                                "seconds": {"type": "number"},
                            },
                        },
                        "the run",
                    ),
                    **UNPROCESSABLE,
                    **ERRORS,
                },
            }
        },
        "/api/loans/{ref}/assignment": {
            "post": {
                "summary": "Move one account by hand, with a reason (supervisor, admin)",
                "parameters": [_path_ref("loan_ref")],
                "requestBody": _body(
                    {"queue": STRING, "collector": NULLABLE_STRING, "reason": STRING},
                    ["queue", "reason"],
                ),
                "responses": {
                    "201": _json({"type": "object"}, "moved"),
                    **UNPROCESSABLE,
                    **ERRORS,
                    **NOT_FOUND,
                },
            }
        },
        "/api/loans/{ref}/assignments": {
            "get": {
                "summary": "The account's assignment history, newest first",
                "parameters": [_path_ref("loan_ref")],
                "responses": {"200": listing, **ERRORS, **NOT_FOUND},
            }
        },
        "/api/handovers": {
            "post": {
                "summary": "离职移交: hand a leaving collector's work over (supervisor, admin)",
                "description": "Open accounts, pending promises and scheduled callbacks go to "
                "the successor (who joins the leaver's queues) or to a queue's pool; the leaver "
                "is deactivated. One transaction, audited.",
                "requestBody": _body(
                    {"from": STRING, "to": NULLABLE_STRING, "to_queue": NULLABLE_STRING},
                    ["from"],
                ),
                "responses": {
                    "201": _json(
                        {
                            "type": "object",
                            "properties": {
                                "from": STRING,
                                "to": NULLABLE_STRING,
                                "to_queue": NULLABLE_STRING,
                                "accounts": {"type": "integer"},
                                "promises": {"type": "integer"},
                                "callbacks": {"type": "integer"},
                            },
                        },
                        "handed over",
                    ),
                    **UNPROCESSABLE,
                    **ERRORS,
                    **NOT_FOUND,
                },
            }
        },
        "/api/queues": {
            "get": {
                "summary": "Queues with routing, members and open accounts (supervisor, admin)",
                "responses": {"200": listing, **ERRORS},
            }
        },
        "/api/experiments": {
            "get": {
                "summary": "Champion/challenger experiments (supervisor, admin)",
                "responses": {"200": listing, **ERRORS},
            },
            "post": {
                "summary": "Start an experiment: a share of a segment to a challenger strategy",
                "requestBody": _body(
                    {
                        "key": STRING,
                        "segment": {"type": "object"},
                        "challenger": STRING,
                        "share": {"type": "string", "example": "0.2"},
                    },
                    ["key", "challenger", "share"],
                ),
                "responses": {
                    "201": _json({"type": "object"}, "started"),
                    **UNPROCESSABLE,
                    **ERRORS,
                },
            },
        },
        "/api/experiments/{key}/results": {
            "get": {
                "summary": "Per-arm recovery, cure and roll between two closes of business",
                "parameters": [
                    {"name": "key", "in": "path", "required": True, "schema": STRING},
                    {"name": "from", "in": "query", "required": True, "schema": DATE},
                    {"name": "to", "in": "query", "required": True, "schema": DATE},
                ],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {
                                "key": STRING,
                                "from": DATE,
                                "to": DATE,
                                "arms": {"type": "array", "items": arm},
                            },
                        },
                        "the arms",
                    ),
                    **UNPROCESSABLE,
                    **ERRORS,
                    **NOT_FOUND,
                },
            }
        },
    }


def _contact_paths() -> dict[str, Any]:
    decision = {
        "type": "object",
        "properties": {
            "verdict": {"type": "string", "enum": ["allow", "block", "defer", "review"]},
            "reasons": {"type": "array", "items": STRING},
            "next_allowed_at": {**DATETIME, "nullable": True},
        },
    }
    return {
        "/api/compliance/check": {
            "post": {
                "summary": "The compliance guard's verdict on one contact (arrears check-contact)",
                "description": "Decided from the contact log, opt-outs, holds, pending promises "
                "and the debtor's zone as stored. A collector may ask only about accounts of "
                "their queues.",
                "requestBody": _body(
                    {
                        "loan_ref": STRING,
                        "channel": {"type": "string", "enum": ["call", "sms"]},
                        "party": {**STRING, "description": "debtor or a contact_ref"},
                        "at": {**DATETIME, "description": "with its offset"},
                        "profile": {"type": "string", "enum": ["cn", "us", "uk"]},
                    },
                    ["loan_ref", "channel", "party", "at"],
                ),
                "responses": {
                    "200": _json(decision, "the verdict"),
                    **UNPROCESSABLE,
                    **ERRORS,
                    **NOT_FOUND,
                },
            }
        },
        "/api/plans": {
            "get": {
                "summary": "Treatment plans, every version; the active ones are used",
                "responses": {"200": _json({"type": "object"}, "the plans"), **ERRORS},
            },
            "post": {
                "summary": "Store a new version of a treatment plan (supervisor, admin)",
                "description": "The plan file's keys as JSON: name, portfolio, strategy, "
                "lost_contact, steps. Checked before it is stored (docs/treatment.md).",
                "requestBody": _body(
                    {
                        "name": STRING,
                        "portfolio": STRING,
                        "strategy": STRING,
                        "lost_contact": {"type": "object"},
                        "steps": {"type": "array", "items": {"type": "object"}},
                    },
                    ["name", "steps"],
                ),
                "responses": {
                    "201": _json({"type": "object"}, "the stored version"),
                    **UNPROCESSABLE,
                    **ERRORS,
                },
            },
        },
        "/api/plans/dry-run": {
            "get": {
                "summary": "What a day's plan would send, call and block, with counts by reason",
                "description": "Runs close of business for the day first when it is not the "
                "day last closed, plans, and rolls everything back (supervisor, admin).",
                "parameters": [{"name": "for", "in": "query", "required": True, "schema": DATE}],
                "responses": {
                    "200": _json({"type": "object"}, "the counts"),
                    **UNPROCESSABLE,
                    **ERRORS,
                },
            }
        },
        "/api/tasks": {
            "get": {
                "summary": "Open tasks (field visits, agency placements, legal reviews, "
                "write-off proposals) on the accounts the caller may see",
                "parameters": [{"name": "all", "in": "query", "schema": {"type": "boolean"}}],
                "responses": {"200": _json({"type": "object"}, "the tasks"), **ERRORS},
            }
        },
        "/api/tasks/{id}/close": {
            "post": {
                "summary": "Record a task's outcome; failed field visits lead to an agency",
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
                ],
                "requestBody": _body(
                    {
                        "status": {"type": "string", "enum": ["done", "failed", "cancelled"]},
                        "note": STRING,
                    },
                    ["status"],
                ),
                "responses": {
                    "200": _json({"type": "object"}, "the closed task"),
                    "409": {"description": "the task is already closed"},
                    **UNPROCESSABLE,
                    **ERRORS,
                    **NOT_FOUND,
                },
            }
        },
        "/api/loans/{ref}/letters/{kind}": {
            "get": {
                "summary": "A loan's due notice or overdue notice, as HTML or PDF",
                "parameters": [
                    _path_ref("loan_ref"),
                    {
                        "name": "kind",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "enum": ["due_notice", "overdue_notice"]},
                    },
                    {
                        "name": "format",
                        "in": "query",
                        "schema": {"type": "string", "enum": ["html", "pdf"]},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "the letter",
                        "content": {"text/html": {}, "application/pdf": {}},
                    },
                    **UNPROCESSABLE,
                    **ERRORS,
                    **NOT_FOUND,
                },
            }
        },
    }
