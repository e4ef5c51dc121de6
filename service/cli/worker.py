"""``arrears worker [--burst]``: an arq worker on the settings' Redis."""

from __future__ import annotations

import argparse

from service.cli.common import Verbs, verb
from service.settings import Settings
from workers.worker import create_worker


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:

    worker = create_worker(settings, burst=args.burst)
    worker.run()
    return 0


def register(verbs: Verbs[argparse.ArgumentParser]) -> None:
    worker = verb(verbs, "worker", cmd_worker, "run an arq worker (needs REDIS_URL)")
    worker.add_argument("--burst", action="store_true", help="exit when the queue is empty")
