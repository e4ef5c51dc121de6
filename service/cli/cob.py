"""``arrears cob`` and ``arrears export accounts``: close of business in the foreground (with a
progress bar over backfilled days), and the accounts file of a close."""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from service.assignment.run import strategies_for
from service.cli.common import Verbs, actor, migrated, verb
from service.clock import lender_today
from service.cob.nightly import Planning, run_cob
from service.errors import ArrearsError
from service.portfolio.exports import account_rows
from service.settings import Settings


def cob_days(settings: Settings, args: argparse.Namespace) -> list[dt.date]:
    """The dates asked for: one (--as-of, default the lender's today) or --from … --to."""
    if args.as_of:
        return [dt.date.fromisoformat(args.as_of)]
    if args.date_from and args.date_to:
        first, last = dt.date.fromisoformat(args.date_from), dt.date.fromisoformat(args.date_to)
        if last < first:
            raise ArrearsError("--to is before --from")
        return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    return [lender_today(settings.lender_timezone)]


async def cmd_cob(settings: Settings, args: argparse.Namespace) -> int:
    from tqdm import tqdm

    planning = Planning(strategies_for(settings), settings)
    days = cob_days(settings, args)
    async with migrated(settings) as engine:
        for day in tqdm(days, unit="day", desc="close of business", disable=None):
            report = await run_cob(
                engine,
                day,
                settings.cob_config(),
                actor=actor(),
                retention_days=settings.snapshot_retention_days,
                planning=planning,
            )
            buckets = ", ".join(f"{k} {v}" for k, v in sorted(report.buckets.items()))
            print(
                f"COB {day.isoformat()}: {report.loans} loans ({report.resumed} resumed) "
                f"in {report.seconds:.1f} s ({buckets})"
            )
            if report.plan is not None:
                planned = ", ".join(
                    f"{channel} {status} {n}"
                    for (channel, status), n in sorted(report.plan.contacts.items())
                )
                print(f"  planned: {planned or 'nothing'}")
    return 0


async def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    async with migrated(settings) as engine:
        async for chunk in account_rows(engine, dt.date.fromisoformat(args.as_of)):
            sys.stdout.write(chunk)
    return 0


def register(verbs: Verbs[argparse.ArgumentParser]) -> None:
    cob = verb(verbs, "cob", cmd_cob, "close of business: positions, snapshots (default today)")
    cob.add_argument("--as-of", help="YYYY-MM-DD")
    cob.add_argument("--from", dest="date_from", help="backfill from YYYY-MM-DD ...")
    cob.add_argument("--to", dest="date_to", help="... to YYYY-MM-DD, one COB a day")

    export = verb(verbs, "export", cmd_export, "export a close of business as CSV")
    export.add_argument("what", choices=("accounts",))
    export.add_argument("--as-of", required=True, help="YYYY-MM-DD")
    export.add_argument("--format", choices=("csv",), default="csv")
