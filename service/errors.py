"""Arrears' exception hierarchy.

    ArrearsError
    ├── ConfigurationError   settings or configuration that cannot work; refuse to start
    ├── InputError           a caller sent something we cannot read (HTTP 400)
    │   └── ValidationFailed  readable, but its values break the rules (HTTP 422)
    ├── NotFound             the named thing does not exist (HTTP 404)
    ├── Conflict             the request collides with stored state (HTTP 409)
    ├── PermissionDenied     authenticated, but this role may not do this (HTTP 403)
    └── Unauthenticated      no valid login (HTTP 401)

Channel adapters will add transient (retry) and permanent (record and stop) delivery errors.
"""

from __future__ import annotations

from typing import Any


class ArrearsError(Exception):
    """Base of every error Arrears raises on purpose."""

    code = "error"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ConfigurationError(ArrearsError):
    code = "configuration_error"


class InputError(ArrearsError):
    code = "invalid_input"


class NotFound(ArrearsError):
    code = "not_found"


class Conflict(ArrearsError):
    code = "conflict"


class PermissionDenied(ArrearsError):
    code = "forbidden"


class ValidationFailed(InputError):
    """Well-formed input whose values break the rules (HTTP 422); ``details`` lists fields."""

    code = "validation_failed"


class Unauthenticated(ArrearsError):
    """No valid login (HTTP 401)."""

    code = "unauthenticated"
