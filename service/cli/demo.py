"""``arrears demo``, ``arrears run`` and ``arrears serve``: the synthetic lender, the embedded
mode's first start, and the web app."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from sqlalchemy import func, select

from service.assignment.run import strategies_for
from service.cli.common import Verbs, date_arg, migrated, verb
from service.cli.imports import TqdmProgress, print_report, report_exit
from service.clock import lender_today
from service.db.models import User
from service.devtools.demo import write_demo_portfolio
from service.devtools.floor import create_demo_users, open_floor
from service.ingest.pipeline import ImportOptions, import_directory
from service.settings import Settings

DEMO_SEED = 20261124


async def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    directory = Path(args.dir) if args.dir else settings.var_dir / "demo"
    as_of = args.as_of or lender_today(settings.lender_timezone)
    counts = write_demo_portfolio(directory, borrowers=args.borrowers, as_of=as_of, seed=args.seed)
    print(
        f"demo portfolio written to {directory}: {counts.borrowers} borrowers, "
        f"{counts.loans} loans, "
        f"{counts.installments} installments, {counts.payments} payments, "
        f"{counts.contacts} contacts, {counts.attempts} attempts"
    )
    if args.no_import:
        return 0
    registry = strategies_for(settings)
    async with migrated(settings) as engine:
        report = await import_directory(
            engine,
            directory,
            ImportOptions(
                default_region=settings.default_phone_region, source="demo", actor="demo"
            ),
            TqdmProgress(),
        )
        users = await create_demo_users(engine)
        if report.status == "completed":
            cob = await open_floor(engine, settings, registry, as_of)
            print(f"close of business {as_of.isoformat()}: {cob.loans} loans, {cob.buckets}")
    print_report(report)
    if users:
        print(
            "\nDemo users (passwords are shown once; change them with "
            "`arrears users set-password`):"
        )
        for username, role, password in users:
            print(f"  {username:<12} {role:<11} {password}")
        print()
    return report_exit(report)


async def _prepare(settings: Settings, demo_borrowers: int | None) -> None:
    """Migrate; in the embedded mode's first run, load the demo lender once."""
    async with migrated(settings) as engine, engine.connect() as conn:
        users = await conn.scalar(select(func.count()).select_from(User))
    if demo_borrowers is None or users:
        return
    args = argparse.Namespace(
        dir=None, borrowers=demo_borrowers, seed=DEMO_SEED, as_of=None, no_import=False
    )
    await cmd_demo(settings, args)


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from aiohttp import web

    from service.web.app import create_app

    asyncio.run(_prepare(settings, args.borrowers if args.demo else None))
    host = args.host or settings.host
    port = args.port or settings.port
    print(f"Arrears is serving on http://{host}:{port}/  (Ctrl-C stops it)", flush=True)
    web.run_app(create_app(settings), host=host, port=port, print=None)
    return 0


def register(verbs: Verbs[argparse.ArgumentParser]) -> None:
    run = verb(verbs, "run", cmd_serve, "embedded mode: migrate, load the demo lender once, serve")
    run.add_argument("--host")
    run.add_argument("--port", type=int)
    run.add_argument("--borrowers", type=int, default=5_000, help="demo size on first run")
    run.set_defaults(demo=True)

    serve = verb(verbs, "serve", cmd_serve, "migrate and serve the web app and API")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(demo=False, borrowers=0)

    demo = verb(verbs, "demo", cmd_demo, "write (and import) a synthetic lender portfolio")
    demo.add_argument("--borrowers", type=int, default=5_000)
    demo.add_argument("--dir", help="where to write the CSV files (default var/demo)")
    demo.add_argument(
        "--as-of", type=date_arg, metavar="YYYY-MM-DD", help="the portfolio's date (default today)"
    )
    demo.add_argument("--seed", type=int, default=DEMO_SEED)
    demo.add_argument("--no-import", action="store_true", help="only write the files")
