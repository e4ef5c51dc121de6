"""``arrears dashboard rebuild [--from D] [--to D]``: back-fill the dashboard's aggregates from
the stored snapshots and the tables of record (docs/dashboard.md), one date at a time, oldest
first; a date whose snapshots were pruned keeps the aggregates it has."""

from __future__ import annotations

import argparse

from service.cli.common import Verbs, date_arg, migrated, verb
from service.cob.aggregates import refresh_day, snapshot_days
from service.db import dialect
from service.settings import Settings


async def cmd_dashboard(settings: Settings, args: argparse.Namespace) -> int:
    async with migrated(settings) as engine:
        async with engine.connect() as conn:
            days = await snapshot_days(conn, args.start, args.end)
        for day in days:
            # A transaction a date, serialised with the close of business (which writes them).
            async with engine.begin() as conn:
                await dialect.serialise(conn, "arrears.cob")
                done = await refresh_day(conn, day, settings.lender_timezone)
            print(
                f"dashboard {day.isoformat()}: {done.portfolio_rows} portfolio, "
                f"{done.activity_rows} activity, {done.promise_rows} promise, "
                f"{done.roll_rows} roll-rate rows"
            )
    print(f"rebuilt {len(days)} date(s)")
    return 0


def register(verbs: Verbs[argparse.ArgumentParser]) -> None:
    dashboard = verb(verbs, "dashboard", cmd_dashboard, "the supervisor dashboard's aggregates")
    sub = dashboard.add_subparsers(dest="dashboard_verb", required=True)
    rebuild = sub.add_parser(
        "rebuild", help="recompute the aggregates of the dates close of business ran for"
    )
    rebuild.add_argument("--from", dest="start", type=date_arg, help="first date (default: all)")
    rebuild.add_argument("--to", dest="end", type=date_arg, help="last date (default: all)")
