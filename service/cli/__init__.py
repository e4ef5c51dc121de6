"""The ``arrears`` command line. Each verb is a thin shell over the same functions the API uses;
each verb group is a module here with a ``register(verbs)``.

Exit codes: 0 success; 1 the work ran but rejected some input (e.g. bad import rows); 2 the
command failed (bad arguments, configuration, a failed import).
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import sys
from collections.abc import Sequence

from service.cli import (
    agencies,
    cob,
    contact,
    dashboard,
    database,
    demo,
    dispatch,
    fake_twilio,
    imports,
    inspections,
    legal,
    plans,
    queues,
    tasks,
    users,
    worker,
    write_offs,
)
from service.errors import ArrearsError
from service.logs import configure_logging
from service.settings import Settings

GROUPS = (
    demo,
    database,
    imports,
    users,
    cob,
    queues,
    contact,
    plans,
    tasks,
    agencies,
    inspections,
    legal,
    write_offs,
    dispatch,
    worker,
    fake_twilio,
    dashboard,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="arrears", description=__doc__.splitlines()[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    for group in GROUPS:
        group.register(verbs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        # argparse has printed the usage error (2) or the help (0): answer with its code, as
        # every other failure does, rather than leave the caller's process.
        return exc.code if isinstance(exc.code, int) else 2
    try:
        settings = Settings.from_env()
        configure_logging(settings)
        outcome = args.handler(settings, args)
        return int(asyncio.run(outcome) if inspect.iscoroutine(outcome) else outcome)
    except ArrearsError as exc:
        print(f"arrears: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
