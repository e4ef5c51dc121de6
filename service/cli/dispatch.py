"""``arrears dispatch [--burst]`` and ``arrears outbox list|show``: deliver the outbox from this
process, and read what was planned, sent, and what came of it."""

from __future__ import annotations

import argparse
import json

from sqlalchemy import true

from service.cli.common import Verbs, migrated, moment_arg, verb
from service.clock import Clock, FixedClock, SystemClock
from service.contact.dispatch import open_dispatcher
from service.contact.outbox_reads import list_outbox, show_outbox
from service.contact.sweeper import dispatch_forever, dispatch_once
from service.db.models import OutboxStatus
from service.errors import ArrearsError
from service.settings import Settings


async def cmd_dispatch(settings: Settings, args: argparse.Namespace) -> int:
    """Claims rows like any worker: safe beside the arq workers and other dispatchers."""
    clock: Clock = SystemClock() if args.at is None else FixedClock(args.at)
    async with (
        migrated(settings) as engine,
        open_dispatcher(settings, engine, clock) as dispatcher,
    ):
        if args.at is not None and not args.burst:
            raise ArrearsError("--at needs --burst: a dispatcher that runs on keeps real time")
        if args.burst:
            report = await dispatch_once(dispatcher)
            print(json.dumps(report.as_dict(), ensure_ascii=False))
            return 0
        print(f"dispatching through the {dispatcher.channel.name} channel; Ctrl-C stops")
        await dispatch_forever(dispatcher)
    return 0  # pragma: no cover - dispatch_forever returns only by cancellation


async def cmd_outbox(settings: Settings, args: argparse.Namespace) -> int:
    async with migrated(settings) as engine, engine.connect() as conn:
        if args.outbox_verb == "show":
            row = await show_outbox(conn, true(), args.id)
            print(json.dumps(row, ensure_ascii=False, indent=2, default=str))
            return 0
        page = await list_outbox(
            conn, true(), status=args.status, loan_ref=args.loan, limit=args.limit
        )
    for row in page["items"]:
        outcome = row["delivery"] or ",".join(row["reasons"])
        print(
            f"{row['id']:>8}  {row['loan_ref']:<16} {row['channel']:<6} {row['status']:<9} "
            f"{row['step']:<16} {row['not_before']:%Y-%m-%d %H:%M}  {outcome}"
        )
    print(f"{len(page['items'])} of {page['total']}")
    return 0


def register(verbs: Verbs[argparse.ArgumentParser]) -> None:
    dispatch = verb(verbs, "dispatch", cmd_dispatch, "deliver the outbox from this process")
    dispatch.add_argument(
        "--burst", action="store_true", help="send what is due now, print a summary, and exit"
    )
    dispatch.add_argument(
        "--at",
        type=moment_arg,
        metavar="ISO8601",
        help="with --burst: dispatch as if it were this moment (a rehearsal, a simulated day)",
    )
    outbox = verb(verbs, "outbox", cmd_outbox, "what was planned, sent, and what came of it")
    outbox_verbs = outbox.add_subparsers(dest="outbox_verb", required=True)
    listing = outbox_verbs.add_parser("list", help="outbox rows, newest first")
    listing.add_argument("--status", choices=list(OutboxStatus))
    listing.add_argument("--loan", help="one loan's rows (its loan_ref)")
    listing.add_argument("--limit", type=int, default=50)
    show = outbox_verbs.add_parser("show", help="one row: what left, to whom, and what came back")
    show.add_argument("id", type=int)
