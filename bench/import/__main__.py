"""Import benchmark: N loans with their installments from CSV through the real import path.

    python bench/import --loans 1000000

Writes a synthetic portfolio (the demo generator, ~6 installments a loan), then for each backend
runs, each in a fresh child process so its peak memory is its own:

* the raw limit of the machine in the same run — PostgreSQL ``COPY`` of the same two CSV files
  into typed tables keyed like ours (unique loan_ref; unique loan_ref+seq); for SQLite, one
  ``executemany`` of already-split rows into plain keyed tables (no validation at all);
* Arrears' import of the same files: parse and validate every row, stage, resolve loan_ref and
  borrower_ref, reject duplicates, upsert by key, write the report.

Prints rows/s and the ratio to the raw limit; ``--write-docs`` replaces the import section of
docs/benchmarks.md with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import json
import os
import platform
import resource
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import common  # noqa: E402
from common import PG_DSN, drop_pg_database, fresh_pg_database, pg_url, write_section  # noqa: E402


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _count_rows(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for _ in handle) - 1


# --- child process: one measurement -----------------------------------------------------------


async def child_copy(data: Path, database: str) -> dict[str, Any]:
    import asyncpg

    conn = await asyncpg.connect(PG_DSN.rsplit("/", 1)[0] + f"/{database}")
    try:
        await conn.execute(
            """CREATE TABLE raw_loans (loan_ref text PRIMARY KEY, borrower_ref text NOT NULL,
                 product text, currency text, principal numeric(18,2), annual_rate numeric(12,8),
                 penalty_rate_daily numeric(12,8), disbursed_on date, maturity_on date);
               CREATE TABLE raw_installments (loan_ref text NOT NULL, seq int NOT NULL,
                 due_on date, principal_due numeric(18,2), interest_due numeric(18,2),
                 PRIMARY KEY (loan_ref, seq));"""
        )
        started = time.perf_counter()
        for table, name in (("raw_loans", "loans.csv"), ("raw_installments", "installments.csv")):
            await conn.copy_to_table(table, source=data / name, format="csv", header=True)
        seconds = time.perf_counter() - started
    finally:
        await conn.close()
    return {"seconds": seconds}


def child_sqlite_raw(data: Path, path: Path) -> dict[str, Any]:
    db = sqlite3.connect(path)
    db.executescript(
        """PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
           CREATE TABLE raw_loans (loan_ref TEXT PRIMARY KEY, borrower_ref TEXT, product TEXT,
             currency TEXT, principal NUMERIC, annual_rate NUMERIC, penalty_rate_daily NUMERIC,
             disbursed_on TEXT, maturity_on TEXT);
           CREATE TABLE raw_installments (loan_ref TEXT, seq INTEGER, due_on TEXT,
             principal_due NUMERIC, interest_due NUMERIC, PRIMARY KEY (loan_ref, seq));"""
    )
    started = time.perf_counter()
    for table, name, width in (
        ("raw_loans", "loans.csv", 9),
        ("raw_installments", "installments.csv", 5),
    ):
        with (data / name).open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            next(reader)
            marks = ",".join("?" * width)
            db.executemany(f"INSERT INTO {table} VALUES ({marks})", reader)
        db.commit()
    seconds = time.perf_counter() - started
    db.close()
    return {"seconds": seconds}


async def child_arrears(data: Path, url: str) -> dict[str, Any]:
    from service.db.engine import create_engine
    from service.db.migrate import upgrade
    from service.ingest.borrowers import BORROWERS
    from service.ingest.loans import INSTALLMENTS, LOANS
    from service.ingest.pipeline import ImportOptions, import_files
    from service.logs import configure_logging
    from service.settings import Settings

    # JSON logs on stderr: the parent reads the per-phase timings from them.
    configure_logging(Settings(log_format="json", log_level="INFO"))
    engine = create_engine(Settings(database_url=url))
    try:
        await upgrade(engine)
        options = ImportOptions(source="bench", actor="bench")
        started = time.perf_counter()
        borrowers = await import_files(engine, [(BORROWERS, data / "borrowers.csv")], options)
        borrowers_seconds = time.perf_counter() - started
        started = time.perf_counter()
        report = await import_files(
            engine,
            [(LOANS, data / "loans.csv"), (INSTALLMENTS, data / "installments.csv")],
            options,
        )
        seconds = time.perf_counter() - started
    finally:
        await engine.dispose()
    stored = sum(item.stored for item in report.files)
    return {
        "seconds": seconds,
        "stored": stored,
        "errors": report.error_count,
        "borrowers_seconds": borrowers_seconds,
        "borrowers": sum(item.stored for item in borrowers.files),
    }


def run_child(args: list[str]) -> dict[str, Any]:
    result, logs = common.run_child(Path(__file__).parent, args)
    phases: dict[str, Any] = {}
    for line in logs.splitlines():
        if '"import.file_timing"' in line:
            event = json.loads(line)
            phases[event["file"]] = {
                key: event[key] for key in ("stage_seconds", "check_seconds", "upsert_seconds")
            }
    if phases:
        result["phases"] = phases
    return result


# --- parent: orchestrate --------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=1_000_000)
    parser.add_argument("--backends", default="postgresql,sqlite")
    parser.add_argument("--workdir", default=str(ROOT / "bench" / "out"))
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        kind, data, target = args.child
        if kind == "copy":
            result = asyncio.run(child_copy(Path(data), target))
        elif kind == "sqlite-raw":
            result = child_sqlite_raw(Path(data), Path(target))
        else:
            result = asyncio.run(child_arrears(Path(data), target))
        result["peak_rss_mib"] = round(_peak_rss_mib(), 1)
        print(json.dumps(result))
        return

    workdir = Path(args.workdir)
    data = common.portfolio(workdir, args.loans, dt.date(2026, 11, 24))
    loans, installments = _count_rows(data / "loans.csv"), _count_rows(data / "installments.csv")
    rows = loans + installments
    print(f"{loans:,} loans + {installments:,} installments = {rows:,} rows", flush=True)

    results: dict[str, Any] = {"loans": loans, "installments": installments, "rows": rows}
    for backend in args.backends.split(","):
        if backend == "postgresql":
            name = asyncio.run(fresh_pg_database())
            try:
                raw = run_child(["copy", str(data), name])
            finally:
                asyncio.run(drop_pg_database(name))
            name = asyncio.run(fresh_pg_database())
            try:
                ours = run_child(["arrears", str(data), pg_url(name)])
            finally:
                asyncio.run(drop_pg_database(name))
            raw_label = "PostgreSQL COPY (CSV) into keyed tables"
        else:
            raw_path = workdir / "raw.sqlite"
            ours_path = workdir / "arrears.sqlite"
            for path in (raw_path, ours_path):
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)
            raw = run_child(["sqlite-raw", str(data), str(raw_path)])
            ours = run_child(["arrears", str(data), f"sqlite+aiosqlite:///{ours_path}"])
            raw_label = "SQLite executemany of split rows into keyed tables"
        if ours["stored"] != rows or ours["errors"]:
            raise SystemExit(f"the import did not store every row: {ours}")
        ratio = ours["seconds"] / raw["seconds"]
        results[backend] = {"raw": raw, "arrears": ours, "ratio": ratio, "raw_label": raw_label}
        print(
            f"{backend:<10} raw {raw['seconds']:7.1f} s ({rows / raw['seconds']:>9,.0f} rows/s)  "
            f"arrears {ours['seconds']:7.1f} s ({rows / ours['seconds']:>9,.0f} rows/s)  "
            f"ratio {ratio:4.2f}x  peak RSS {ours['peak_rss_mib']:,.0f} MiB  "
            f"(borrowers: {ours['borrowers']:,} in {ours['borrowers_seconds']:.1f} s)",
            flush=True,
        )
    if args.write_docs:
        _write_docs(results, args)


def _write_docs(results: dict[str, Any], args: argparse.Namespace) -> None:
    lines = [
        "## Import (`bench/import`)",
        "",
        f"Command: `python bench/import --loans {args.loans} --backends {args.backends} "
        "--write-docs` (what `make bench` runs).",
        f"Measured {dt.datetime.now(dt.UTC).date().isoformat()} on this project's machine "
        f"({os.cpu_count()} cores, Python {platform.python_version()}): "
        f"{results['loans']:,} loans + {results['installments']:,} installments "
        f"= {results['rows']:,} rows from CSV.",
        "",
        "| backend | raw limit (same run) | raw | Arrears import | ratio | import peak RSS |",
        "|---|---|---|---|---|---|",
    ]
    rows = results["rows"]
    for backend in args.backends.split(","):
        r = results[backend]
        lines.append(
            f"| {backend} | {r['raw_label']} | {r['raw']['seconds']:.1f} s "
            f"({rows / r['raw']['seconds']:,.0f} rows/s) | {r['arrears']['seconds']:.1f} s "
            f"({rows / r['arrears']['seconds']:,.0f} rows/s) | **{r['ratio']:.2f}×** | "
            f"{r['arrears']['peak_rss_mib']:,.0f} MiB |"
        )
    lines += [
        "",
        "Where the import's time goes (seconds; *stage* = parse and validate in Python, one chunk",
        "ahead of binary `COPY` into a temporary table; *check* = duplicate keys and unknown",
        "references, set-based; *upsert* = update changed rows, insert new ones):",
        "",
        "| backend | file | stage | check | upsert |",
        "|---|---|---|---|---|",
    ]
    for backend in args.backends.split(","):
        for file, phase in results[backend]["arrears"].get("phases", {}).items():
            if file == "borrowers.csv":
                continue
            lines.append(
                f"| {backend} | {file} | {phase['stage_seconds']} | {phase['check_seconds']} "
                f"| {phase['upsert_seconds']} |"
            )
    write_section("import", lines)


if __name__ == "__main__":
    main()
