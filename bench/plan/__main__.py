"""Planning benchmark: the day's treatment plan over N loans against one hand-written statement.

    python bench/plan --loans 100000

Loads the demo generator's portfolio through the real import and runs close of business for the
day (positions), then, each in a fresh child process:

* the raw limit in the same run — one hand-written set-based INSERT ... SELECT writing one row
  per contact the built-in plan's conditions select (T-3 and due-day SMS, DPD-1 SMS, DPD 3-30
  calls, the two letters), with no compliance check, no rendering, no decision log;
* Arrears' planning of the same day (``service.treatment.plan_day``): candidate accounts, the
  treatment strategy per account, the facts of every contacted loan (zones, numbers, holds,
  promises, opt-outs, 14 days of contact log), the guard at each contact's planned time, the
  rendered SMS checked for its footer, the outbox upsert, every decision stored with its inputs,
  and the tasks;
* the same day planned again (a COB re-run): the idempotent path.

Prints the times and the ratios; ``--write-docs`` records them in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import common  # noqa: E402
from common import scratch_database, write_section  # noqa: E402

AS_OF = dt.date(2026, 11, 24)


def raw_sql(dialect: str) -> str:
    def day(offset: int) -> str:
        value = AS_OF + dt.timedelta(days=offset)
        return f"DATE '{value}'" if dialect == "postgresql" else f"'{value}'"

    return f"""
        INSERT INTO raw_outbox (loan_id, step, planned_for)
        SELECT DISTINCT i.loan_id, CASE WHEN i.due_on = {day(3)} THEN 'pre_due_sms'
                                        ELSE 'due_day_sms' END, {day(0)}
          FROM installments i JOIN loans l ON l.id = i.loan_id
         WHERE i.settled_on IS NULL AND i.due_on IN ({day(0)}, {day(3)})
           AND l.status = 'open' AND l.days_past_due = 0
        UNION ALL
        SELECT id, 'overdue_sms', {day(0)} FROM loans
         WHERE status = 'open' AND days_past_due = 1
        UNION ALL
        SELECT id, 'reminder_call', {day(0)} FROM loans
         WHERE status = 'open' AND days_past_due BETWEEN 3 AND 30 AND lost_contact_on IS NULL
        UNION ALL
        SELECT id, 'due_notice', {day(0)} FROM loans
         WHERE status = 'open' AND maturity_on = {day(30)}
        UNION ALL
        SELECT id, 'overdue_notice', {day(0)} FROM loans
         WHERE status = 'open' AND maturity_on < {day(0)} AND outstanding > 0"""


async def child_raw(url: str) -> dict[str, Any]:
    from sqlalchemy import text

    from service.db.engine import create_engine
    from service.settings import Settings

    engine = create_engine(Settings(database_url=url))
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP TABLE IF EXISTS raw_outbox"))
            await conn.execute(
                text(
                    "CREATE TABLE raw_outbox (loan_id integer, step varchar(64), planned_for date)"
                )
            )
            started = time.perf_counter()
            await conn.execute(text(raw_sql(conn.dialect.name)))
            seconds = time.perf_counter() - started
            rows = (await conn.execute(text("SELECT count(*) FROM raw_outbox"))).scalar_one()
            await conn.execute(text("DROP TABLE raw_outbox"))
    finally:
        await engine.dispose()
    return {"seconds": seconds, "rows": rows}


async def child_plan(url: str) -> dict[str, Any]:
    from service.assignment.run import strategies_for
    from service.db.engine import create_engine
    from service.settings import Settings
    from service.treatment.planner import plan_day

    settings = Settings(database_url=url)
    engine = create_engine(settings)
    try:
        started = time.perf_counter()
        async with engine.begin() as conn:
            report = await plan_day(conn, strategies_for(settings), settings, AS_OF)
        seconds = time.perf_counter() - started
    finally:
        await engine.dispose()
    return {
        "seconds": seconds,
        "accounts": report.accounts,
        "contacts": sum(report.contacts.values()),
        "by_status": {f"{c}:{s}": n for (c, s), n in sorted(report.contacts.items())},
        "tasks": sum(report.tasks.values()),
    }


async def load(url: str, data: Path) -> dict[str, Any]:
    from service.cob.nightly import run_cob
    from service.db.engine import create_engine
    from service.db.migrate import upgrade
    from service.ingest.borrowers import BORROWERS
    from service.ingest.loans import INSTALLMENTS, LOANS, PAYMENTS
    from service.ingest.pipeline import ImportOptions, import_files
    from service.settings import Settings

    engine = create_engine(Settings(database_url=url))
    try:
        await upgrade(engine)
        files = [(spec, data / spec.file) for spec in (BORROWERS, LOANS, INSTALLMENTS, PAYMENTS)]
        report = await import_files(engine, files, ImportOptions(source="bench", actor="bench"))
        await run_cob(engine, AS_OF)
    finally:
        await engine.dispose()
    return {"rows": {item.file: item.stored for item in report.files}}


def run_child(kind: str, url: str) -> dict[str, Any]:
    return common.run_child(Path(__file__).parent, [kind, url])[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=100_000)
    parser.add_argument("--backends", default="postgresql,sqlite")
    parser.add_argument("--workdir", default=str(ROOT / "bench" / "out"))
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, url = args.child
        result = asyncio.run(child_raw(url) if kind == "raw" else child_plan(url))
        result["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        print(json.dumps(result))
        return

    workdir = Path(args.workdir)
    data = common.portfolio(workdir, args.loans, AS_OF)
    results: dict[str, Any] = {}
    for backend in args.backends.split(","):
        with scratch_database(backend, workdir, "plan") as url:
            loaded = asyncio.run(load(url, data))
            raw = run_child("raw", url)
            first = run_child("plan", url)
            again = run_child("plan", url)
        results[backend] = {"raw": raw, "first": first, "again": again, "rows": loaded["rows"]}
        print(
            f"{backend:<10} one statement {raw['seconds']:6.2f} s ({raw['rows']:,} rows)   "
            f"plan {first['seconds']:6.2f} s ({first['contacts']:,} contacts of "
            f"{first['accounts']:,} accounts, {first['tasks']:,} tasks) "
            f"ratio {first['seconds'] / raw['seconds']:5.1f}x   again {again['seconds']:6.2f} s "
            f"ratio {again['seconds'] / raw['seconds']:5.1f}x   "
            f"peak RSS {first['peak_rss_mib']} MiB"
            f"\n           {first['by_status']}",
            flush=True,
        )
    if args.write_docs:
        _write_docs(results, args)


def _write_docs(results: dict[str, Any], args: argparse.Namespace) -> None:
    rows = next(iter(results.values()))["rows"]
    command = f"python bench/plan --loans {args.loans} --backends {args.backends} --write-docs"
    head, data = common.measured_on(command, rows)
    lines = [
        "## Treatment planning (`bench/plan`)",
        "",
        head,
        data + f"; the day {AS_OF}, after its close of business. The raw limit writes one row per "
        "selected contact in one INSERT ... SELECT (no guard, no rendering, no decision log).",
        "",
        "| backend | one statement (same run) | plan: guard, outbox, decisions, tasks | ratio "
        "| the same day again | ratio | peak RSS |",
        "|---|---|---|---|---|---|---|",
    ]
    for backend, r in results.items():
        raw, first, again = r["raw"], r["first"], r["again"]
        lines.append(
            f"| {backend} | {raw['seconds']:.2f} s ({raw['rows']:,} rows) "
            f"| {first['seconds']:.2f} s ({first['contacts']:,} contacts, "
            f"{first['tasks']:,} tasks) | **{first['seconds'] / raw['seconds']:.1f}×** "
            f"| {again['seconds']:.2f} s | **{again['seconds'] / raw['seconds']:.1f}×** "
            f"| {first['peak_rss_mib']} MiB |"
        )
    write_section("plan", lines)


if __name__ == "__main__":
    main()
