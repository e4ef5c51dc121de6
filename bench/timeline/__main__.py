"""Timeline benchmark: an account's timeline and the planner's contact-history read over a
contact log of millions of attempts in month partitions (PostgreSQL, migration 0016).

    python bench/timeline --attempts 10000000 --loans 1000000 [--samples 2000] [--write-docs]

Builds a scratch PostgreSQL database with the real migrations, then, set-based
(``generate_series`` in ``INSERT … SELECT``; the month partitions made first and UNLOGGED for
the build, the partitioned indexes and keys dropped during the load and built after it):
borrowers, loans, a phone each, ``--attempts`` attempts over three years (about one in eleven a
superseding revision of another, as providers' final reports and dispositions are), guard
decisions, audit events on the loans, payments and promises; then ANALYZE. Attempts are
spread unevenly (a few loans have many: the accounts collectors work hardest).

Measures, over ``--samples`` random loans, one at a time on one connection:

* (a) the account's timeline through the real code (``service.contact.timeline.timeline``,
  the first page of 50) and, beside it, the raw limit: one hand-written SQL statement reading
  the same page (the same five parts on the same indexes, merged);
* (b) the planner's contact-history read: ``service.treatment.facts.load_loan_facts`` for
  chunks of ``--chunk`` loans (everything the guard is given: loans, numbers, holds, promises,
  opt-outs, the borrowers' attempts of the last 14 days and the dials to their numbers) and
  the raw limit: the history query alone as one statement.

Prints p50/p95/p99 and our figures as ratios of the raw ones; ``--write-docs`` records them.
With ``--compare-unpartitioned`` the attempts are also copied into one plain table with the
same indexes and the raw timeline read timed on it. The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import asyncpg  # noqa: E402
import common  # noqa: E402
from common import scratch_database, write_section  # noqa: E402

NOW = dt.datetime(2026, 11, 24, 2, 0, tzinfo=dt.UTC)
YEARS = 3
PAGE = 50


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": _pct(values, 0.50),
        "p95": _pct(values, 0.95),
        "p99": _pct(values, 0.99),
        "mean": statistics.fmean(values),
    }


async def _step(conn: asyncpg.Connection, label: str, sql: str, timings: dict[str, float]) -> None:
    started = time.perf_counter()
    await conn.execute(sql)
    timings[label] = timings.get(label, 0.0) + time.perf_counter() - started
    print(f"  {label:<34} {time.perf_counter() - started:7.1f} s", flush=True)


# The partitioned tables' keys and indexes, dropped for the load and built after it.


async def build(url: str, args: argparse.Namespace) -> dict[str, Any]:
    from sqlalchemy.ext.asyncio import create_async_engine

    from service.db import partitions
    from service.db.migrate import upgrade

    engine = create_async_engine(url)
    await upgrade(engine)
    first = partitions.month_of((NOW - dt.timedelta(days=365 * YEARS + 31)).date())
    months = [first]
    while months[-1] < partitions.month_of(NOW.date()):
        months.append(partitions.next_month(months[-1]))
    async with engine.begin() as conn:
        for table in partitions.PARTITIONED:
            await partitions.create_months(conn, table, months)
    await engine.dispose()

    loans, attempts = args.loans, args.attempts
    borrowers = max(1, round(loans / 1.2))
    base = round(attempts / 1.1)  # the rest: revisions superseding one in ten
    decisions = round(attempts * args.decisions)
    events = round(attempts * args.events)
    t: dict[str, float] = {}
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        load = await common.BulkLoad.start(
            conn, ("attempts", "guard_decisions", "audit_log"), ("attempt_keys",)
        )
        await conn.execute("SET max_parallel_maintenance_workers = 1")
        print(f"building {attempts:,} attempts for {loans:,} loans ...", flush=True)
        await _step(
            conn,
            "borrowers, phones, loans",
            f"""
            INSERT INTO borrowers (id, borrower_ref, name, locale, region, address,
                timezone, timezone_candidates, timezone_source, sms_consent, created_at,
                updated_at)
            SELECT g, 'B' || g, 'Borrower ' || g, 'zh-CN', 'CN', '', 'Asia/Shanghai',
                   'Asia/Shanghai', 'file', true, now(), now()
            FROM generate_series(1, {borrowers}) g;
            INSERT INTO phone_numbers (borrower_id, e164, kind, line_type, verified, status,
                created_at, updated_at)
            SELECT g, '+8613' || lpad(g::text, 9, '0'), 'primary', 'mobile', true, 'active',
                   now(), now()
            FROM generate_series(1, {borrowers}) g;
            INSERT INTO loans (id, loan_ref, borrower_id, product, currency, principal,
                annual_rate, disbursed_on, maturity_on, status, created_at, updated_at,
                days_past_due, overdue_amount, outstanding)
            SELECT g, 'L' || g, 1 + (g - 1) % {borrowers}, 'cash', 'CNY', 10000, 0.12,
                   DATE '2023-06-01', DATE '2027-06-01', 'open', now(), now(),
                   (g % 120), 500, 5000
            FROM generate_series(1, {loans}) g;
            SELECT setval('borrowers_id_seq', {borrowers});
            SELECT setval('loans_id_seq', {loans});
            """,
            t,
        )
        # A loan's share of the log is uneven: power(random(), 1.6) puts more on low ids.
        await _step(
            conn,
            "attempts (first revisions)",
            f"""
            INSERT INTO attempts (id, attempt_ref, revision, loan_id, phone, channel, direction,
                occurred_at, result, source, created_at, provider_ref, provider_status)
            SELECT x.g, 'b-' || x.g, 0, x.loan,
                   '+8613' || lpad((1 + (x.loan - 1) % {borrowers})::text, 9, '0'),
                   CASE WHEN g % 3 = 0 THEN 'call' ELSE 'sms' END,
                   CASE WHEN g % 17 = 0 THEN 'inbound' ELSE 'outbound' END,
                   x.at,
                   (ARRAY['delivered', 'no_answer', 'conversation', 'failed', 'voicemail',
                          'busy'])[1 + g % 6],
                   'dispatch', x.at, 'SM' || g, 'delivered'
            FROM (SELECT g, 1 + floor(power(random(), 1.6) * {loans})::int AS loan,
                         timestamptz '{NOW.isoformat()}'
                           - random() * interval '{365 * YEARS} days' AS at
                  FROM generate_series(1, {base}) g) x
            """,
            t,
        )
        await _step(
            conn,
            "attempts (superseding revisions)",
            f"""
            INSERT INTO attempts (id, attempt_ref, revision, supersedes_id, loan_id, phone,
                channel, direction, occurred_at, result, disposition, source, created_at,
                provider_ref, provider_status, recorded_by)
            SELECT {base} + row_number() OVER (), attempt_ref, 1, id, loan_id, phone, channel,
                   direction, occurred_at, 'conversation', 'rpc', source,
                   occurred_at + interval '1 minute', provider_ref, 'completed', 'provider'
            FROM attempts WHERE id % 10 = 0 AND id <= {base}
            """,
            t,
        )
        await _step(
            conn,
            "attempt keys",
            "INSERT INTO attempt_keys SELECT attempt_ref, revision FROM attempts;"
            "SELECT setval('attempts_id_seq', (SELECT max(id) FROM attempts))",
            t,
        )
        await _step(
            conn,
            "guard decisions",
            f"""
            INSERT INTO guard_decisions (loan_id, idempotency_key, stage, party, channel,
                contact_at, verdict, reasons, inputs, decided_at)
            SELECT x.loan, 'L' || x.loan || ':sms:' || g, 'plan', 'debtor', 'sms', x.at,
                   CASE WHEN g % 4 = 0 THEN 'deny' ELSE 'allow' END,
                   CASE WHEN g % 4 = 0 THEN 'cap_week' ELSE '' END, '{{}}', x.at
            FROM (SELECT g, 1 + floor(power(random(), 1.6) * {loans})::int AS loan,
                         timestamptz '{NOW.isoformat()}'
                           - random() * interval '{365 * YEARS} days' AS at
                  FROM generate_series(1, {decisions}) g) x
            """,
            t,
        )
        await _step(
            conn,
            "audit events",
            f"""
            INSERT INTO audit_log (occurred_at, actor, action, entity_type, entity_ref, details)
            SELECT x.at, 'cob',
                   (ARRAY['assignment.assigned', 'hold.created', 'promise.created',
                          'lost_contact.marked'])[1 + g % 4],
                   'loan', 'L' || x.loan, '{{"before": null, "after": "x"}}'
            FROM (SELECT g, 1 + floor(power(random(), 1.6) * {loans})::int AS loan,
                         timestamptz '{NOW.isoformat()}'
                           - random() * interval '{365 * YEARS} days' AS at
                  FROM generate_series(1, {events}) g) x
            """,
            t,
        )
        await _step(
            conn,
            "payments and promises",
            f"""
            INSERT INTO payments (payment_ref, loan_id, paid_on, amount, source, created_at)
            SELECT 'P' || g, 1 + (g - 1) % {loans},
                   DATE '2026-11-24' - (g % 1000), 100, 'import',
                   timestamptz '{NOW.isoformat()}' - (g % 1000) * interval '1 day'
            FROM generate_series(1, {loans}) g;
            INSERT INTO promises (loan_id, amount, promised_on, status, source, created_at,
                updated_at, made_on)
            SELECT 1 + (g * 7) % {loans}, 300, DATE '2026-12-01' - (g % 500),
                   CASE WHEN g % 5 = 0 THEN 'pending' ELSE 'kept' END, 'collector',
                   timestamptz '{NOW.isoformat()}' - (g % 500) * interval '1 day',
                   now(), DATE '2026-11-20' - (g % 500)
            FROM generate_series(1, {loans // 5}) g
            """,
            t,
        )
        started = time.perf_counter()
        await load.finish()
        t["keys and indexes"] = time.perf_counter() - started
        print(f"  {'keys and indexes':<34} {t['keys and indexes']:7.1f} s", flush=True)
        await _step(conn, "ANALYZE", "ANALYZE", t)
        counts = {
            name: int(await conn.fetchval(f"SELECT count(*) FROM {name}"))
            for name in ("attempts", "guard_decisions", "audit_log", "loans", "payments")
        }
        counts["partitions"] = len(load.partitions) // 3  # per table (each has the same months)
        sizes = await conn.fetchval(
            "SELECT pg_size_pretty(sum(pg_total_relation_size(inhrelid))) FROM pg_inherits "
            "WHERE inhparent = 'attempts'::regclass"
        )
    finally:
        await conn.close()
    return {"timings": t, "counts": counts, "attempts_size": sizes}


RAW_TIMELINE = """
SELECT * FROM (
  (SELECT 'attempt' AS kind, a.occurred_at AS at, a.attempt_ref AS ref, a.result::text AS s,
          c.contact_ref AS party
   FROM attempts a LEFT JOIN contacts c ON c.id = a.contact_id
   WHERE a.loan_id = $1 AND NOT EXISTS (SELECT 1 FROM attempts n WHERE n.supersedes_id = a.id)
   ORDER BY a.occurred_at DESC LIMIT 50)
  UNION ALL
  (SELECT 'promise', created_at, id::text, status::text, NULL FROM promises
   WHERE loan_id = $1 ORDER BY created_at DESC LIMIT 50)
  UNION ALL
  (SELECT 'payment', created_at, payment_ref, NULL, NULL FROM payments
   WHERE loan_id = $1 ORDER BY created_at DESC LIMIT 50)
  UNION ALL
  (SELECT 'task', created_at, id::text, status::text, NULL FROM tasks
   WHERE loan_id = $1 ORDER BY created_at DESC LIMIT 50)
  UNION ALL
  (SELECT 'event', occurred_at, id::text, action, NULL FROM audit_log
   WHERE entity_type = 'loan' AND entity_ref = $2 ORDER BY occurred_at DESC LIMIT 50)
) t ORDER BY at DESC, kind, ref DESC LIMIT 50
"""
RAW_HISTORY = """
SELECT l.borrower_id, a.loan_id, a.occurred_at, a.channel, a.direction, c.contact_ref,
       a.phone, a.result
FROM attempts a JOIN loans l ON l.id = a.loan_id LEFT JOIN contacts c ON c.id = a.contact_id
WHERE l.borrower_id = ANY($1::int[])
  AND NOT EXISTS (SELECT 1 FROM attempts n WHERE n.supersedes_id = a.id)
  AND a.occurred_at <= $2 AND a.occurred_at > $2 - interval '14 days'
ORDER BY l.borrower_id, a.occurred_at, a.id
"""


async def measure(url: str, args: argparse.Namespace) -> dict[str, Any]:
    from sqlalchemy import true
    from sqlalchemy.ext.asyncio import create_async_engine

    from service.contact.timeline import timeline
    from service.settings import Settings
    from service.treatment.facts import load_loan_facts

    rng = random.Random(13)
    loans = rng.sample(range(1, args.loans + 1), min(args.samples, args.loans))
    engine = create_async_engine(url)
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    raw = await asyncpg.connect(dsn)
    ours_tl: list[float] = []
    raw_tl: list[float] = []
    items: list[int] = []
    try:
        timeline_sql = await raw.prepare(RAW_TIMELINE)
        history_sql = await raw.prepare(RAW_HISTORY)
        async with engine.connect() as conn:
            for loan in loans[:50]:  # warm both paths' plans and the caches a little
                await timeline(conn, true(), f"L{loan}", limit=PAGE)
                await timeline_sql.fetch(loan, f"L{loan}")
            for loan in loans:
                started = time.perf_counter()
                page = await timeline(conn, true(), f"L{loan}", limit=PAGE)
                ours_tl.append(1000 * (time.perf_counter() - started))
                items.append(len(page["items"]))
                started = time.perf_counter()
                await timeline_sql.fetch(loan, f"L{loan}")
                raw_tl.append(1000 * (time.perf_counter() - started))
            settings = Settings(database_url=url)
            ours_facts: list[float] = []
            raw_facts: list[float] = []
            history_rows = 0
            chunks = [loans[i : i + args.chunk] for i in range(0, len(loans), args.chunk)]
            for chunk in chunks[:2]:  # warm
                await load_loan_facts(conn, settings, chunk, NOW)
            for chunk in chunks:
                started = time.perf_counter()
                await load_loan_facts(conn, settings, chunk, NOW)
                ours_facts.append(1000 * (time.perf_counter() - started))
                borrowers = sorted({1 + (loan - 1) % round(args.loans / 1.2) for loan in chunk})
                started = time.perf_counter()
                history_rows += len(await history_sql.fetch(borrowers, NOW))
                raw_facts.append(1000 * (time.perf_counter() - started))
        plain: dict[str, float] | None = None
        if args.compare_unpartitioned:
            plain = await _unpartitioned(raw, loans)
    finally:
        await raw.close()
        await engine.dispose()
    return {
        "timeline": _summary(ours_tl),
        "timeline_raw": _summary(raw_tl),
        "timeline_items": statistics.fmean(items),
        "facts": _summary(ours_facts),
        "facts_raw": _summary(raw_facts),
        "history_rows_per_chunk": history_rows / max(1, len(raw_facts)),
        "unpartitioned_raw_timeline": plain,
    }


async def _unpartitioned(raw: asyncpg.Connection, loans: list[int]) -> dict[str, float]:
    """The same raw timeline read on one plain table of the same attempts and indexes."""
    print("copying the attempts into one plain table ...", flush=True)
    started = time.perf_counter()
    await raw.execute("SET maintenance_work_mem = '512MB'")
    await raw.execute("CREATE UNLOGGED TABLE attempts_plain AS SELECT * FROM attempts")
    await raw.execute("CREATE INDEX ON attempts_plain (loan_id, occurred_at)")
    await raw.execute("CREATE UNIQUE INDEX ON attempts_plain (supersedes_id)")
    await raw.execute("ANALYZE attempts_plain")
    print(f"  {'plain copy and indexes':<34} {time.perf_counter() - started:7.1f} s", flush=True)
    statement = await raw.prepare(RAW_TIMELINE.replace("attempts", "attempts_plain"))
    for loan in loans[:50]:
        await statement.fetch(loan, f"L{loan}")
    timings = []
    for loan in loans:
        started = time.perf_counter()
        await statement.fetch(loan, f"L{loan}")
        timings.append(1000 * (time.perf_counter() - started))
    return _summary(timings)


def _row(label: str, ours: dict[str, float], base: dict[str, float] | None) -> str:
    cells = [f"{ours[q]:.1f} ms" for q in ("p50", "p95", "p99")]
    ratio = f"{ours['p95'] / base['p95']:.2f}×" if base else "—"
    return f"| {label} | {' | '.join(cells)} | {ratio} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=10_000_000)
    parser.add_argument("--loans", type=int, default=1_000_000)
    parser.add_argument("--decisions", type=float, default=0.3, help="per attempt")
    parser.add_argument("--events", type=float, default=0.2, help="audit events per attempt")
    parser.add_argument("--samples", type=int, default=2000, help="random loans measured")
    parser.add_argument("--chunk", type=int, default=500, help="loans per facts read")
    parser.add_argument("--compare-unpartitioned", action="store_true")
    parser.add_argument("--workdir", default=str(ROOT / "bench" / "out"))
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    with scratch_database("postgresql", Path(args.workdir), "timeline") as url:
        built = asyncio.run(build(url, args))
        build_seconds = time.perf_counter() - started
        print(f"built in {build_seconds:.0f} s: {built['counts']}", flush=True)
        measured = asyncio.run(measure(url, args))
    result = {"build": built, "build_seconds": build_seconds, **measured}
    for name in ("timeline", "timeline_raw", "facts", "facts_raw"):
        m = result[name]
        print(f"{name:<14} p50 {m['p50']:7.1f}  p95 {m['p95']:7.1f}  p99 {m['p99']:7.1f} ms")
    print(
        f"ratios (p95): timeline {result['timeline']['p95'] / result['timeline_raw']['p95']:.2f}, "
        f"facts {result['facts']['p95'] / result['facts_raw']['p95']:.2f}"
    )
    if result["unpartitioned_raw_timeline"]:
        m = result["unpartitioned_raw_timeline"]
        print(f"raw timeline on one plain table: p50 {m['p50']:.1f}  p95 {m['p95']:.1f} ms")
    if args.write_docs:
        _write_docs(result, args)


def _write_docs(r: dict[str, Any], args: argparse.Namespace) -> None:
    command = (
        f"python bench/timeline --attempts {args.attempts} --loans {args.loans} "
        f"--decisions {args.decisions} --events {args.events} --samples {args.samples} "
        f"--chunk {args.chunk}"
        + (" --compare-unpartitioned" if args.compare_unpartitioned else "")
        + " --write-docs"
    )
    counts = r["build"]["counts"]
    head, data = common.measured_on(
        command,
        {
            "attempts": counts["attempts"],
            "guard decisions": counts["guard_decisions"],
            "audit events": counts["audit_log"],
            "loans": counts["loans"],
        },
    )
    build = ", ".join(f"{k} {v:.0f} s" for k, v in r["build"]["timings"].items())
    goal = "met" if r["timeline"]["p95"] < 50 else "**not met**"
    lines = [
        "## Timeline and contact history at volume (`bench/timeline`)",
        "",
        head,
        data + f"; PostgreSQL, {counts['partitions']} month partitions per table over "
        f"{YEARS} years (attempts: {r['build']['attempts_size']} with indexes).",
        "",
        f"Build: {r['build_seconds']:.0f} s in all ({build}); set-based `INSERT … SELECT "
        "generate_series`, the partitions UNLOGGED and the partitioned indexes dropped during "
        "the load (reads are the same either way).",
        "",
        f"Each figure over {args.samples:,} random loans, one request at a time.",
        "",
        "| read | p50 | p95 | p99 | ours / raw at p95 |",
        "|---|---|---|---|---|",
        _row(
            "(a) timeline, first page of 50: `service.contact.timeline`",
            r["timeline"],
            r["timeline_raw"],
        ),
        _row("(a) raw limit: the same page as one hand-written statement", r["timeline_raw"], None),
        _row(
            f"(b) the guard's facts, {args.chunk} loans: `load_loan_facts`",
            r["facts"],
            r["facts_raw"],
        ),
        _row(
            f"(b) raw limit: the 14-day history of {args.chunk} loans' borrowers, one statement",
            r["facts_raw"],
            None,
        ),
    ]
    if r["unpartitioned_raw_timeline"]:
        lines.append(
            _row("(a) raw limit on one unpartitioned table", r["unpartitioned_raw_timeline"], None)
        )
    lines += [
        "",
        f"Timeline goal p95 < 50 ms: {goal}. A page averaged {r['timeline_items']:.0f} items; "
        f"a facts chunk read {r['history_rows_per_chunk']:.0f} attempts of the last 14 days. "
        "(b)'s ours reads everything the guard is given (loans, numbers, holds, promises, "
        "opt-outs, the history and the dials to the same numbers); its raw limit is the "
        "history query alone, so its ratio is an upper bound on the overhead.",
    ]
    write_section("timeline", lines)


if __name__ == "__main__":
    main()
