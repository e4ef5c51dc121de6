"""COB benchmark: a full close of business over N loans against one hand-written statement.

    python bench/cob --loans 1000000

Loads a synthetic portfolio (the demo generator: ~6 installments and ~3 payments a loan)
through the real import, then, each in a fresh child process so its peak memory is its own:

* the raw limit in the same run — one hand-written set-based statement computing DPD and bucket
  for every loan (cumulative amounts due against total paid, no penalty, no waterfall), written
  to a table;
* Arrears' full COB for the same date: waterfall replay with capped daily penalty, DPD, bucket,
  tier, class, credit coefficient, loan positions, snapshots and bucket changes.

Prints both times and the ratio; ``--write-docs`` records them in docs/benchmarks.md.
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


def baseline_sql(dialect: str) -> str:
    day = f"DATE '{AS_OF}'" if dialect == "postgresql" else f"'{AS_OF}'"
    days = (
        f"({day} - MIN(c.due_on))"
        if dialect == "postgresql"
        else f"CAST(julianday({day}) - julianday(MIN(c.due_on)) AS INTEGER)"
    )
    return f"""
        CREATE TABLE raw_positions AS
        WITH paid AS (
          SELECT loan_id, SUM(amount) AS paid FROM payments WHERE paid_on <= {day}
          GROUP BY loan_id),
        cumulative AS (
          SELECT loan_id, due_on, SUM(principal_due + interest_due)
                 OVER (PARTITION BY loan_id ORDER BY seq) AS due_so_far
          FROM installments)
        SELECT l.id AS loan_id, COALESCE(x.dpd, 0) AS dpd,
               CASE WHEN COALESCE(x.dpd, 0) <= 0 THEN 'M0' WHEN x.dpd <= 30 THEN 'M1'
                    WHEN x.dpd <= 60 THEN 'M2' WHEN x.dpd <= 90 THEN 'M3'
                    WHEN x.dpd <= 120 THEN 'M4' WHEN x.dpd <= 150 THEN 'M5'
                    WHEN x.dpd <= 180 THEN 'M6' ELSE 'M7+' END AS bucket
        FROM loans l LEFT JOIN (
          SELECT c.loan_id, {days} AS dpd
          FROM cumulative c LEFT JOIN paid p ON p.loan_id = c.loan_id
          WHERE c.due_on < {day} AND c.due_so_far > COALESCE(p.paid, 0)
          GROUP BY c.loan_id) x ON x.loan_id = l.id"""


async def child_raw(url: str) -> dict[str, Any]:
    from sqlalchemy import text

    from service.db.engine import create_engine
    from service.settings import Settings

    engine = create_engine(Settings(database_url=url))
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP TABLE IF EXISTS raw_positions"))
            started = time.perf_counter()
            await conn.execute(text(baseline_sql(conn.dialect.name)))
            seconds = time.perf_counter() - started
            rows = (await conn.execute(text("SELECT count(*) FROM raw_positions"))).scalar_one()
            await conn.execute(text("DROP TABLE raw_positions"))
    finally:
        await engine.dispose()
    return {"seconds": seconds, "rows": rows}


async def child_cob(url: str, as_of: dt.date) -> dict[str, Any]:
    from service.cob.nightly import run_cob
    from service.db.engine import create_engine
    from service.settings import Settings

    engine = create_engine(Settings(database_url=url))
    try:
        report = await run_cob(engine, as_of)
    finally:
        await engine.dispose()
    return {
        "seconds": report.seconds,
        "loans": report.loans,
        "steps": report.steps,
        "resumed": report.resumed,
    }


async def load(url: str, data: Path) -> dict[str, Any]:
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
        started = time.perf_counter()
        report = await import_files(engine, files, ImportOptions(source="bench", actor="bench"))
    finally:
        await engine.dispose()
    return {
        "seconds": time.perf_counter() - started,
        "rows": {item.file: item.stored for item in report.files},
    }


def run_child(kind: str, url: str) -> dict[str, Any]:
    return common.run_child(Path(__file__).parent, [kind, url])[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=1_000_000)
    parser.add_argument("--backends", default="postgresql,sqlite")
    parser.add_argument("--workdir", default=str(ROOT / "bench" / "out"))
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, url = args.child
        if kind == "raw":
            result = asyncio.run(child_raw(url))
        else:
            result = asyncio.run(child_cob(url, dt.date.fromisoformat(kind)))
        result["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        print(json.dumps(result))
        return

    workdir = Path(args.workdir)
    data = common.portfolio(workdir, args.loans, AS_OF)
    results: dict[str, Any] = {}
    for backend in args.backends.split(","):
        with scratch_database(backend, workdir, "cob") as url:
            loaded = asyncio.run(load(url, data))
            print(f"{backend}: loaded {loaded['rows']} in {loaded['seconds']:.0f} s", flush=True)
            raw = run_child("raw", url)
            ours = run_child(AS_OF.isoformat(), url)
            # The next night: every loan resumes from the stored settlement.
            nightly = run_child((AS_OF + dt.timedelta(days=1)).isoformat(), url)
        ratio = ours["seconds"] / raw["seconds"]
        results[backend] = {
            "raw": raw,
            "cob": ours,
            "nightly": nightly,
            "ratio": ratio,
            "nightly_ratio": nightly["seconds"] / raw["seconds"],
            "rows": loaded["rows"],
        }
        print(
            f"{backend:<10} one statement {raw['seconds']:6.1f} s   first COB (full replay) "
            f"{ours['seconds']:6.1f} s ({ours['loans']:,} loans, {ours['steps']} payment steps)"
            f"  ratio {ratio:5.1f}x   next night {nightly['seconds']:6.1f} s "
            f"({nightly['resumed']:,} resumed) ratio {nightly['seconds'] / raw['seconds']:4.1f}x"
            f"  COB process peak RSS {ours['peak_rss_mib']} MiB",
            flush=True,
        )
    if args.write_docs:
        _write_docs(results, args)


def _write_docs(results: dict[str, Any], args: argparse.Namespace) -> None:
    first = next(iter(results.values()))["rows"]
    command = f"python bench/cob --loans {args.loans} --backends {args.backends} --write-docs"
    head, data = common.measured_on(command, first)
    lines = [
        "## Close of business (`bench/cob`)",
        "",
        head,
        data + f"; as of {AS_OF}.",
        "",
        "| backend | one statement: DPD + bucket (same run) | first COB: full replay | ratio "
        "| next night: resumed | ratio | COB peak RSS |",
        "|---|---|---|---|---|---|---|",
    ]
    for backend, r in results.items():
        lines.append(
            f"| {backend} | {r['raw']['seconds']:.1f} s | {r['cob']['seconds']:.1f} s "
            f"({r['cob']['steps']} payment steps) | **{r['ratio']:.1f}×** "
            f"| {r['nightly']['seconds']:.1f} s ({r['nightly']['resumed']:,} loans resumed) "
            f"| **{r['nightly_ratio']:.1f}×** | {r['cob']['peak_rss_mib']} MiB |"
        )
    write_section("cob", lines)


if __name__ == "__main__":
    main()
