"""What every job is handed: one frozen, typed bundle of the process's resources.

Built by one factory, :func:`dependencies`, for the arq worker (``on_startup``), the web app's
in-process runner and the tests alike (arq's own habit: resources through ``ctx``, set up and torn
down in pairs). Time is among them (DESIGN.md §4): a job asks ``deps.clock`` what day it is.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from service.assignment.run import strategies_for
from service.clock import Clock, SystemClock, lender_today
from service.db.engine import create_engine
from service.settings import Settings
from strategies import Registry

# The one key of arq's ctx that Arrears uses.
DEPS = "deps"


@dataclasses.dataclass(frozen=True, slots=True)
class Dependencies:
    settings: Settings
    engine: AsyncEngine
    strategies: Registry
    clock: Clock

    def today(self) -> dt.date:
        """The lender's date now."""
        return lender_today(self.settings.lender_timezone, self.clock.now())


@contextlib.asynccontextmanager
async def dependencies(
    settings: Settings, *, clock: Clock | None = None, engine: AsyncEngine | None = None
) -> AsyncIterator[Dependencies]:
    """The resources for ``settings``: strategies checked (a bad name stops the process at start),
    an engine (disposed of afterwards, unless the caller handed its own in)."""
    registry = strategies_for(settings)
    own = engine is None
    db = engine if engine is not None else create_engine(settings)
    try:
        yield Dependencies(settings, db, registry, clock or SystemClock())
    finally:
        if own:
            await db.dispose()


def deps_of(ctx: Mapping[str, Any]) -> Dependencies:
    """The dependencies arq hands a job (set by the worker's ``on_startup``)."""
    deps = ctx.get(DEPS)
    if not isinstance(deps, Dependencies):
        raise RuntimeError("the worker was started without its dependencies (on_startup)")
    return deps
