"""The arq entry point: ``arq workers.main.WorkerSettings`` (and ``… --check``, the compose
worker's health check).

``WorkerSettings`` is built from the environment when arq asks for it, not when this module is
imported: no settings, engine or client exist at import time.
"""

from __future__ import annotations

from typing import Any

from service.settings import Settings
from workers.worker import worker_options


def __getattr__(name: str) -> dict[str, Any]:
    if name == "WorkerSettings":
        return worker_options(Settings.from_env())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
