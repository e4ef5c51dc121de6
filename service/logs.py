"""Structured logging: JSON in production, console in development, phone and ID numbers masked.

Our own events and foreign log records (aiohttp's access log, SQLAlchemy's engine log) pass the
same processors, so nothing reaches a handler without masking.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from decimal import Decimal
from typing import Any, TextIO

import structlog

from service.domain.phones import mask
from service.settings import Settings

# Values under these keys are personal numbers even when they look like nothing in particular.
SENSITIVE_KEYS = frozenset({"phone", "to", "from", "from_", "e164", "id_number", "national_id"})


def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        # A number passed as a number (phone=8613800138000) is masked as its text would be.
        text = str(value)
        masked = mask(text)
        return value if masked == text else masked
    if isinstance(value, dict):
        return {_mask_value(key): _mask_item(key, item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return type(value)(_mask_value(item) for item in value)
    return value


def _mask_item(key: Any, value: Any) -> Any:
    if key in SENSITIVE_KEYS and isinstance(value, str | int) and not isinstance(value, bool):
        text = str(value)
        if len(text) > 4:
            return "*" * (len(text) - 4) + text[-4:]
    return _mask_value(value)


def mask_personal_numbers(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask phone and ID numbers in every value (numbers, nested values and
    mapping keys included); values under :data:`SENSITIVE_KEYS` keep only their last 4
    characters whatever they look like."""
    for key in list(event_dict):
        event_dict[key] = _mask_item(key, event_dict[key])
    return event_dict


def configure_logging(settings: Settings, stream: TextIO | None = None) -> None:
    """Configure structlog and the standard library's root logger for this process."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        mask_personal_numbers,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if settings.log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(settings.log_level.upper())
    # SQLAlchemy logs every statement with its parameters at INFO; only when asked for DEBUG.
    logging.getLogger("sqlalchemy.engine").setLevel(
        logging.INFO if settings.log_level.upper() == "DEBUG" else logging.WARNING
    )
