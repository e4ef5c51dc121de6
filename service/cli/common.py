"""What every verb group shares: registering a verb, an engine on a migrated database, the
acting user's name, JSON options."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from service.db.engine import create_engine
from service.db.migrate import upgrade
from service.errors import ArrearsError
from service.settings import Settings

# A verb's handler: async verbs return a coroutine that main() runs; sync ones (those that
# start a server or a worker with a loop of its own) return the exit code.
Handler = Callable[[Settings, argparse.Namespace], Awaitable[int] | int]
Verbs = argparse._SubParsersAction  # the parser's sub-commands, as add_subparsers returns them


def verb(
    verbs: Verbs[argparse.ArgumentParser],
    name: str,
    handler: Handler,
    help: str,  # argparse's own keyword
) -> argparse.ArgumentParser:
    parser = verbs.add_parser(name, help=help)
    parser.set_defaults(handler=handler)
    return parser


@contextlib.asynccontextmanager
async def migrated(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """An engine on a database brought to the latest schema, disposed of afterwards."""
    engine = create_engine(settings)
    try:
        await upgrade(engine)
        yield engine
    finally:
        await engine.dispose()


def actor() -> str:
    """Who runs the command, for the audit trail."""
    return os.environ.get("USER", "cli")


def json_object(raw: str, option: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ArrearsError(f"{option} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ArrearsError(f"{option} must be a JSON object")
    return value
