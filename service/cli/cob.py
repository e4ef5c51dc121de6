"""``arrears cob`` and ``arrears export accounts``: close of business in the foreground (with a
progress bar over backfilled days), and the accounts file of a close."""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from service.assignment.run import strategies_for
from service.cli.common import Verbs, actor, date_arg, migrated, verb
from service.clock import lender_today
from service.cob.nightly import Planning, run_cob
from service.errors import ArrearsError
from service.portfolio.attempts_export import attempt_rows, check_period
from service.portfolio.exports import account_rows
from service.settings import Settings


def cob_days(settings: Settings, args: argparse.Namespace) -> list[dt.date]:
    """The dates asked for: one (--as-of, default the lender's today) or --from … --to, none
    after the lender's today (a close of business is for a day that has come)."""
    if args.as_of and (args.date_from or args.date_to):
        raise ArrearsError("--as-of or --from/--to, not both")
    if args.date_from and not args.date_to:
        raise ArrearsError("--from needs --to (the last day of the backfill)")
    if args.date_to and not args.date_from:
        raise ArrearsError("--to needs --from (the first day of the backfill)")
    today = lender_today(settings.lender_timezone)
    if args.date_from:
        first, last, option = args.date_from, args.date_to, "--to"
        if last < first:
            raise ArrearsError("--to is before --from")
    else:
        first = last = args.as_of or today
        option = "--as-of"
    if last > today:
        raise ArrearsError(
            f"{option} {last.isoformat()} is after the lender's today ({today.isoformat()}, "
            f"{settings.lender_timezone}): close of business runs for days that have come; "
            f"`arrears plan --dry-run --for {last.isoformat()}` shows a day ahead"
        )
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


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
            elif report.not_planned is not None:
                print(f"  {report.not_planned}")
    return 0


async def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    accounts = args.what == "accounts"
    if accounts and (args.as_of is None or args.date_from or args.date_to):
        raise ArrearsError("export accounts takes --as-of YYYY-MM-DD (and no --from/--to)")
    if not accounts:
        if args.as_of is not None or args.date_from is None or args.date_to is None:
            raise ArrearsError("export attempts takes --from and --to YYYY-MM-DD (no --as-of)")
        check_period(args.date_from, args.date_to)
    async with migrated(settings) as engine:
        rows = (
            account_rows(engine, args.as_of)
            if accounts
            else attempt_rows(engine, args.date_from, args.date_to, settings.lender_timezone)
        )
        async for chunk in rows:
            sys.stdout.write(chunk)
    return 0


def register(verbs: Verbs[argparse.ArgumentParser]) -> None:
    cob = verb(verbs, "cob", cmd_cob, "close of business: positions, snapshots (default today)")
    cob.add_argument("--as-of", type=date_arg, metavar="YYYY-MM-DD", help="default today")
    cob.add_argument(
        "--from", dest="date_from", type=date_arg, metavar="YYYY-MM-DD", help="backfill from ..."
    )
    cob.add_argument(
        "--to", dest="date_to", type=date_arg, metavar="YYYY-MM-DD", help="... to, one COB a day"
    )

    export = verb(
        verbs,
        "export",
        cmd_export,
        "the accounts of a close of business, or the contact log, as CSV",
    )
    export.add_argument("what", choices=("accounts", "attempts"))
    export.add_argument("--as-of", type=date_arg, metavar="YYYY-MM-DD", help="accounts: the day")
    export.add_argument(
        "--from", dest="date_from", type=date_arg, metavar="YYYY-MM-DD", help="attempts: first day"
    )
    export.add_argument(
        "--to", dest="date_to", type=date_arg, metavar="YYYY-MM-DD", help="attempts: last day"
    )
    export.add_argument("--format", choices=("csv",), default="csv")
