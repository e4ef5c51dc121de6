"""``arrears import DIR`` and ``arrears imports list|show``: the import contract from the command
line, with a progress bar and the stored reports."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import select

from service.cli.common import Verbs, actor, date_arg, migrated, verb
from service.clock import lender_today, utcnow
from service.contact.promise_keeping import after_import
from service.db.models import ImportRun
from service.errors import ArrearsError
from service.ingest.pipeline import ImportOptions, import_directory
from service.ingest.report import ImportReport, list_errors, load_report
from service.ingest.runs import sweep_interrupted
from service.settings import Settings


class TqdmProgress:
    """Import progress as a byte-based bar per file (silent when stderr is not a terminal)."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._done = 0

    def start(self, file: str, total_bytes: int) -> None:
        from tqdm import tqdm

        self._done = 0
        self._bar = tqdm(
            total=total_bytes, unit="B", unit_scale=True, desc=file, disable=None, leave=True
        )

    def advance(self, done_bytes: int) -> None:
        if self._bar is not None:
            self._bar.update(done_bytes - self._done)
            self._done = done_bytes

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def print_report(report: ImportReport) -> None:
    stream = sys.stdout
    print(f"import #{report.run_id}: {report.status}", file=stream)
    for item in report.files:
        print(
            f"  {item.file:<18} rows {item.rows:>9}  stored {item.stored:>9}  "
            f"(new {item.inserted}, changed {item.updated}, unchanged {item.unchanged})  "
            f"rejected {item.rejected}",
            file=stream,
        )
    for name in report.ignored_files:
        print(f"  {name:<18} ignored: not a contract file", file=stream)
    if report.error_count:
        print(f"  {report.error_count} problem(s); first {len(report.errors)}:", file=stream)
        for error in report.errors:
            print(f"    {error.file}:{error.line} [{error.column}] {error.reason}", file=stream)
    if report.failure:
        print(f"  failed: {report.failure}", file=stream)


def report_exit(report: ImportReport) -> int:
    """0: every row stored; 1: some rows rejected; 2: the import failed."""
    if report.status != "completed":
        return 2
    return 1 if report.error_count else 0


async def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    today = lender_today(settings.lender_timezone)
    if args.as_of and args.as_of > today:
        # Positions of a day to come would hold every night until then back from planning.
        raise ArrearsError(
            f"--as-of {args.as_of.isoformat()} is after the lender's today ({today.isoformat()})"
        )
    async with migrated(settings) as engine:
        await sweep_interrupted(engine, utcnow())  # an earlier import killed on this host
        report = await import_directory(
            engine,
            Path(args.directory),
            ImportOptions(
                default_region=settings.default_phone_region,
                chunk_rows=settings.import_chunk_rows,
                source="cli",
                actor=actor(),
                refresh_as_of=args.as_of or today,
                cob=settings.cob_config(),
                after_refresh=after_import(settings.promise_grace_days, actor()),
            ),
            TqdmProgress(),
        )
    print_report(report)
    return report_exit(report)


async def cmd_imports(settings: Settings, args: argparse.Namespace) -> int:
    async with migrated(settings) as engine:
        await sweep_interrupted(engine, utcnow())
        if args.action == "list":
            async with engine.connect() as conn:
                rows = (
                    await conn.execute(
                        select(ImportRun).order_by(ImportRun.id.desc()).limit(args.limit)
                    )
                ).all()
            for row in rows:
                print(
                    f"#{row.id:<5} {row.started_at:%Y-%m-%d %H:%M} {row.status.value:<11} "
                    f"{row.source:<6} {row.actor:<12} errors {row.error_count:<7} {row.label}"
                )
            return 0
        report = await load_report(engine, args.id, sample=0)
        print_report(report)
        if args.errors:
            async with engine.connect() as conn:
                errors = await list_errors(conn, args.id, limit=args.errors, offset=0)
            for error in errors:
                print(f"    {error.file}:{error.line} [{error.column}] {error.reason}")
        return 0


def register(verbs: Verbs[argparse.ArgumentParser]) -> None:
    imp = verb(verbs, "import", cmd_import, "import a directory of contract CSV files")
    imp.add_argument("directory")
    imp.add_argument(
        "--as-of",
        type=date_arg,
        metavar="YYYY-MM-DD",
        help="the lender's date the changed loans' positions are brought to (default today)",
    )

    imports = verb(verbs, "imports", cmd_imports, "read stored import reports")
    imports_verbs = imports.add_subparsers(dest="action", required=True)
    listing = imports_verbs.add_parser("list")
    listing.add_argument("--limit", type=int, default=20)
    show = imports_verbs.add_parser("show")
    show.add_argument("id", type=int)
    show.add_argument("--errors", type=int, default=100, help="how many errors to print")
