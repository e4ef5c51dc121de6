"""Dashboard benchmark: every dashboard query over a year of aggregates of a large portfolio
(PostgreSQL), through the service functions, beside the raw limit.

    python bench/dashboard --loans 1000000 --attempts 10000000 [--days 365] [--samples 40]
        [--write-docs]

Builds a scratch PostgreSQL database with the real migrations, then, set-based
(``generate_series`` in ``INSERT … SELECT``): queues and collectors; borrowers and loans, each
owned by a queue, a collector and a strategy arm, on the work list (one in twenty leased now);
``--attempts`` calls over the year, promises and payments; the loans' snapshots at the previous
month-end, yesterday and today. It times the close of business's refresh of today's aggregates
(:func:`service.cob.aggregates.refresh_day`, from the log: what the night pays), then fills the
other ``--days`` days' and months' aggregates by copying today's rows with noise (the shape a
year of nights leaves). Then ANALYZE.

Measures, ``--samples`` times each, random ranges from a week to the whole year and each
grouping (all, collector, queue, arm): every dashboard read through the functions the API and
the page call (:mod:`service.portfolio.dashboard`, on a SQLAlchemy connection), and the raw
limit — the same aggregate read by one hand-written statement on an asyncpg connection, nothing
shaped. Prints p50/p95/p99 and the ratio; ``--write-docs`` records them in docs/benchmarks.md.
The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import asyncpg  # noqa: E402
import common  # noqa: E402
from common import scratch_database, write_section  # noqa: E402

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
TODAY = NOW.date()
QUEUES = 8
COLLECTORS = 120
ARMS = ("bench:champion", "bench:challenger")
BUCKETS = ("M0", "M1", "M2", "M3", "M4", "M5", "M6", "M7+")
GOAL_MS = 300
# The log's keys and indexes, dropped during the load and built after it (as bench/account).
GROUPS = ("all", "collector", "queue", "arm")
ZONE = "Asia/Shanghai"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _summary(values: list[float]) -> dict[str, float]:
    return {"p50": _pct(values, 0.50), "p95": _pct(values, 0.95), "p99": _pct(values, 0.99)}


async def _step(conn: asyncpg.Connection, label: str, sql: str, timings: dict[str, float]) -> None:
    started = time.perf_counter()
    await conn.execute(sql)
    timings[label] = time.perf_counter() - started
    print(f"  {label:<40} {timings[label]:7.1f} s", flush=True)


def _bucket_of(dpd: str) -> str:
    return (
        f"CASE WHEN {dpd} <= 0 THEN 'M0' WHEN {dpd} <= 30 THEN 'M1' WHEN {dpd} <= 60 THEN 'M2' "
        f"WHEN {dpd} <= 90 THEN 'M3' WHEN {dpd} <= 120 THEN 'M4' WHEN {dpd} <= 150 THEN 'M5' "
        f"WHEN {dpd} <= 180 THEN 'M6' ELSE 'M7+' END"
    )


def _class_of(dpd: str) -> str:
    return (
        f"CASE WHEN {dpd} <= 0 THEN 'normal' WHEN {dpd} <= 90 THEN 'special_mention' "
        f"WHEN {dpd} <= 270 THEN 'substandard' WHEN {dpd} <= 360 THEN 'doubtful' ELSE 'loss' END"
    )


def _month_end_before(day: dt.date) -> dt.date:
    return day.replace(day=1) - dt.timedelta(days=1)


async def build(url: str, args: argparse.Namespace) -> dict[str, Any]:
    from sqlalchemy.ext.asyncio import create_async_engine

    from service.cob import aggregates
    from service.db import partitions
    from service.db.migrate import upgrade

    engine = create_async_engine(url)
    await upgrade(engine)
    first = partitions.month_of(TODAY - dt.timedelta(days=args.days + 31))
    months = [first]
    while months[-1] < partitions.month_of(TODAY):
        months.append(partitions.next_month(months[-1]))
    async with engine.begin() as conn:
        for table in partitions.PARTITIONED:
            await partitions.create_months(conn, table, months)

    loans, attempts = args.loans, args.attempts
    at = f"timestamptz '{NOW.isoformat()}'"
    snapshot_days = (_month_end_before(TODAY), TODAY - dt.timedelta(days=1), TODAY)
    t: dict[str, float] = {}
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        load = await common.BulkLoad.start(conn, ("attempts",), ("attempt_keys",))
        print(f"building {loans:,} loans and {attempts:,} attempts ...", flush=True)
        await _step(
            conn,
            "queues, collectors, borrowers",
            f"""
            INSERT INTO queues (id, name, description, routing, active, created_at, kind,
                position, collector_strategy)
            SELECT g, 'Q' || g, '', '{{}}', true, now(), 'collector', g * 10, 'sticky'
            FROM generate_series(1, {QUEUES}) g;
            SELECT setval('queues_id_seq', {QUEUES});
            INSERT INTO users (id, username, display_name, role, password_hash, languages,
                active, created_at)
            SELECT g, 'collector' || g, 'Collector ' || g, 'collector', '!', 'zh-CN', true,
                   now()
            FROM generate_series(1, {COLLECTORS}) g;
            SELECT setval('users_id_seq', {COLLECTORS});
            INSERT INTO queue_members (queue_id, user_id)
            SELECT 1 + g % {QUEUES}, g FROM generate_series(1, {COLLECTORS}) g;
            INSERT INTO borrowers (id, borrower_ref, name, locale, region, address,
                timezone, timezone_candidates, timezone_source, sms_consent, created_at,
                updated_at)
            SELECT g, 'B' || g, '借款人' || g, 'zh-CN', 'CN-SH', '上海市', 'Asia/Shanghai',
                   'Asia/Shanghai', 'file', true, now(), now()
            FROM generate_series(1, {loans}) g;
            SELECT setval('borrowers_id_seq', {loans});
            """,
            t,
        )
        # A loan's collector is one of its queue's (user g is in queue 1 + g % QUEUES).
        collector = f"(1 + g % {QUEUES}) + {QUEUES} * ((g / {QUEUES}) % {COLLECTORS // QUEUES})"
        await _step(
            conn,
            "loans, work list (leases)",
            f"""
            INSERT INTO loans (id, loan_ref, borrower_id, product, currency, principal,
                annual_rate, disbursed_on, maturity_on, status, queue_id, collector_id,
                strategy_arm, created_at, updated_at, state_as_of, days_past_due, bucket,
                amount_tier, risk_class, overdue_amount, outstanding, penalty_accrued)
            SELECT g, 'L' || g, g, 'cash', 'CNY', 12000, 0.12, DATE '{TODAY}' - 400,
                   DATE '{TODAY}' + 30, 'open', 1 + (g - 1) % {QUEUES},
                   CASE WHEN g % 10 <> 0 THEN {collector} - {QUEUES} + 1 END,
                   (ARRAY['{ARMS[0]}', '{ARMS[1]}'])[1 + (g / 7) % 2],
                   now(), now(), DATE '{TODAY}', 0, 'M0', 'S', 'normal', 0, 6000, 0
            FROM generate_series(1, {loans}) g;
            SELECT setval('loans_id_seq', {loans});
            UPDATE loans SET collector_id = NULL
            WHERE collector_id IS NOT NULL AND collector_id NOT BETWEEN 1 AND {COLLECTORS};
            INSERT INTO work_items (loan_id, queue_id, collector_id, rank, score,
                lease_holder_id, lease_expires_at)
            SELECT id, queue_id, collector_id, 2, -outstanding,
                   CASE WHEN id % 20 = 0 THEN collector_id END,
                   CASE WHEN id % 20 = 0 AND collector_id IS NOT NULL
                        THEN {at} + (id % 15) * interval '1 minute' END
            FROM loans;
            """,
            t,
        )
        for day in snapshot_days:
            # DPD drifting with the day: the same loan moves between buckets over the month.
            dpd = f"greatest(0, (l.id * 37) % 400 - 180 + {(TODAY - day).days} * ((l.id % 3) - 1))"
            await _step(
                conn,
                f"snapshots of {day}",
                f"""
                INSERT INTO loan_snapshots (as_of, loan_id, days_past_due, bucket, amount_tier,
                    risk_class, overdue_amount, outstanding, penalty_accrued, queue_id,
                    collector_id, strategy_arm)
                SELECT DATE '{day}', l.id, s.dpd, {_bucket_of("s.dpd")}, 'S',
                       {_class_of("s.dpd")}, CASE WHEN s.dpd > 0 THEN 2000 ELSE 0 END,
                       4000 + (l.id % 50) * 100, 0, l.queue_id, l.collector_id, l.strategy_arm
                FROM loans l, LATERAL (SELECT {dpd} AS dpd) s;
                INSERT INTO cob_runs (as_of, started_at, finished_at, loans, actor)
                VALUES (DATE '{day}', now(), now(), {loans}, 'bench');
                """,
                t,
            )
        await _step(
            conn,
            "attempts over the year",
            f"""
            INSERT INTO attempts (id, attempt_ref, revision, loan_id, phone, channel, direction,
                occurred_at, result, disposition, source, created_at)
            SELECT g, 'b-' || g, 0, x.loan, '+8613' || lpad(x.loan::text, 9, '0'),
                   CASE WHEN g % 5 = 0 THEN 'sms' ELSE 'call' END, 'outbound', x.at,
                   (ARRAY['no_answer', 'conversation', 'busy', 'voicemail', 'conversation',
                          'failed'])[1 + g % 6],
                   CASE WHEN g % 6 IN (1, 4) THEN
                        (ARRAY['rpc', 'promise_to_pay', 'wrong_party', 'refused'])[1 + g % 4]
                   END,
                   'dispatch', x.at
            FROM (SELECT g, 1 + floor(random() * {loans})::int AS loan,
                         {at} - random() * interval '{args.days} days' AS at
                  FROM generate_series(1, {attempts}) g) x;
            INSERT INTO attempt_keys SELECT attempt_ref, revision FROM attempts;
            SELECT setval('attempts_id_seq', {attempts});
            """,
            t,
        )
        await _step(
            conn,
            "promises, payments",
            f"""
            INSERT INTO promises (loan_id, amount, promised_on, status, source, created_at,
                updated_at, made_on, created_by, note, paid_amount, settled_on)
            SELECT 1 + (g * 7) % {loans}, 300, DATE '{TODAY}' - (g % {args.days}) + 5,
                   (ARRAY['kept', 'broken', 'partially_kept', 'pending'])[1 + g % 4],
                   'collector', now(), now(), DATE '{TODAY}' - (g % {args.days}),
                   'bench', '', CASE WHEN g % 4 = 0 THEN 300 WHEN g % 4 = 2 THEN 120 ELSE 0 END,
                   DATE '{TODAY}' - (g % {args.days}) + 6
            FROM generate_series(1, {loans // 5}) g;
            INSERT INTO payments (payment_ref, loan_id, paid_on, amount, source, created_at)
            SELECT 'P' || g, 1 + (g * 13) % {loans}, DATE '{TODAY}' - (g % {args.days}),
                   500, 'import', now()
            FROM generate_series(1, {loans}) g;
            """,
            t,
        )
        started = time.perf_counter()
        await load.finish()
        t["keys and indexes"] = time.perf_counter() - started
        print(f"  {'keys and indexes':<40} {t['keys and indexes']:7.1f} s", flush=True)
        await _step(conn, "ANALYZE", "ANALYZE", t)
    finally:
        await conn.close()

    # What the night pays: today's aggregates from the log and the snapshots.
    async with engine.begin() as sa_conn:
        started = time.perf_counter()
        refreshed = await aggregates.refresh_day(sa_conn, TODAY, ZONE)
        t["nightly refresh (COB step)"] = time.perf_counter() - started
    await engine.dispose()
    print(
        f"  {'nightly refresh (COB step)':<40} {t['nightly refresh (COB step)']:7.1f} s "
        f"({refreshed})",
        flush=True,
    )

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        owner = "queue_id, collector_id, strategy_arm"
        noise = "(0.85 + random() * 0.3)::numeric"
        await _step(
            conn,
            f"aggregates of {args.days} days, 12 months",
            f"""
            INSERT INTO dash_portfolio_daily (as_of, bucket, risk_class, {owner}, accounts,
                outstanding, overdue_amount)
            SELECT DATE '{TODAY}' - d, bucket, risk_class, {owner},
                   greatest(1, round(accounts * {noise})), round(outstanding * {noise}, 2),
                   round(overdue_amount * {noise}, 2)
            FROM dash_portfolio_daily, generate_series(1, {args.days - 1}) d
            WHERE as_of = DATE '{TODAY}';
            INSERT INTO dash_activity_daily (day, {owner}, attempts, connected, right_party,
                promises_made, promised_amount, collected)
            SELECT DATE '{TODAY}' - d, {owner}, round(attempts * {noise}),
                   round(connected * 0.9), round(right_party * 0.9), promises_made,
                   promised_amount, round(collected * {noise}, 2)
            FROM dash_activity_daily, generate_series(1, {args.days - 1}) d
            WHERE day = DATE '{TODAY}';
            INSERT INTO dash_promise_daily (day, {owner}, promises_due, due_amount,
                promises_kept, promises_partial, promises_broken, settled_amount, kept_amount)
            SELECT DATE '{TODAY}' - d, {owner}, promises_due, due_amount, promises_kept,
                   promises_partial, promises_broken, settled_amount, kept_amount
            FROM dash_promise_daily, generate_series(63, {args.days - 1}) d
            WHERE day = DATE '{TODAY}' - (d % 63);
            INSERT INTO dash_roll_monthly (month, from_on, to_on, from_bucket, to_bucket,
                {owner}, accounts, balance)
            SELECT (month - make_interval(months => m))::date,
                   (from_on - make_interval(months => m))::date,
                   (to_on - make_interval(months => m))::date, from_bucket, to_bucket, {owner},
                   greatest(1, round(accounts * {noise})), round(balance * {noise}, 2)
            FROM dash_roll_monthly, generate_series(1, 11) m;
            ANALYZE dash_portfolio_daily; ANALYZE dash_activity_daily;
            ANALYZE dash_promise_daily; ANALYZE dash_roll_monthly;
            """,
            t,
        )
        counts = {
            name: int(await conn.fetchval(f"SELECT count(*) FROM {name}"))
            for name in (
                "loans",
                "attempts",
                "loan_snapshots",
                "dash_portfolio_daily",
                "dash_activity_daily",
                "dash_promise_daily",
                "dash_roll_monthly",
            )
        }
    finally:
        await conn.close()
    return {"timings": t, "counts": counts}


# Each read as one hand-written statement over the same aggregate: the floor under its cost.
def _raw(kind: str, group: str, start: dt.date, end: dt.date, as_of: dt.date) -> str:
    column = {"all": "NULL", "collector": "collector_id", "queue": "queue_id"}.get(
        group, "strategy_arm"
    )
    by = "" if group == "all" else f"GROUP BY {column}"
    days = f"day BETWEEN DATE '{start}' AND DATE '{end}'"
    if kind == "portfolio":
        grouped = f"GROUP BY {'bucket' if group == 'all' else column + ', bucket'}"
        return f"""SELECT {column}, bucket, SUM(accounts), SUM(outstanding), SUM(overdue_amount)
                   FROM dash_portfolio_daily WHERE as_of = DATE '{as_of}' {grouped}"""
    if kind == "recovery":
        return f"""SELECT {column}, SUM(collected) FROM dash_activity_daily WHERE {days} {by}"""
    if kind == "contact":
        return f"""SELECT {column}, SUM(attempts), SUM(connected), SUM(right_party)
                   FROM dash_activity_daily WHERE {days} {by}"""
    if kind == "promises":
        return f"""SELECT {column}, SUM(promises_due), SUM(promises_kept), SUM(kept_amount),
                          SUM(settled_amount)
                   FROM dash_promise_daily WHERE {days} {by}"""
    if kind == "rolls":
        extra = "" if group == "all" else f", {column}"
        return f"""SELECT month, from_bucket, to_bucket{extra}, SUM(accounts), SUM(balance)
                   FROM dash_roll_monthly
                   WHERE month BETWEEN date_trunc('month', DATE '{start}')::date
                                   AND date_trunc('month', DATE '{end}')::date
                   GROUP BY month, from_bucket, to_bucket{extra}"""
    return f"""SELECT queue_id, SUM(accounts), NULL, NULL FROM dash_portfolio_daily
               WHERE as_of = DATE '{as_of}' GROUP BY queue_id
               UNION ALL
               SELECT queue_id, count(*), min(lease_expires_at), max(lease_expires_at)
               FROM work_items WHERE lease_holder_id IS NOT NULL
                 AND lease_expires_at > timestamptz '{NOW.isoformat()}'
               GROUP BY queue_id"""


KINDS = ("portfolio", "recovery", "rolls", "promises", "contact", "backlog")


async def measure(url: str, args: argparse.Namespace) -> dict[str, Any]:
    from sqlalchemy.ext.asyncio import create_async_engine

    from service.portfolio import dashboard

    rng = random.Random(7)
    engine = create_async_engine(url)
    raw = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    ours: dict[str, list[float]] = {kind: [] for kind in KINDS}
    limit: dict[str, list[float]] = {kind: [] for kind in KINDS}
    try:
        async with engine.connect() as conn:
            plan = []
            for _ in range(args.samples):
                for group in GROUPS:
                    length = rng.choice((7, 30, 90, 180, args.days - 1))
                    end = TODAY - dt.timedelta(days=rng.randrange(0, args.days - length))
                    plan.append(dashboard.Period(end - dt.timedelta(days=length), end, group))
            for warm in plan[:4]:
                await dashboard.everything(conn, warm, BUCKETS, NOW, 15)
            for period in plan:
                calls = {
                    "portfolio": lambda p=period: dashboard.portfolio(conn, p, "bucket", BUCKETS),
                    "recovery": lambda p=period: dashboard.recovery(conn, p),
                    "rolls": lambda p=period: dashboard.rolls(conn, p, BUCKETS),
                    "promises": lambda p=period: dashboard.promises(conn, p),
                    "contact": lambda p=period: dashboard.contact(conn, p),
                    "backlog": lambda: dashboard.backlog(conn, NOW, 15),
                }
                for kind in KINDS:
                    started = time.perf_counter()
                    await calls[kind]()
                    ours[kind].append((time.perf_counter() - started) * 1000)
                    as_of = min(period.end, TODAY)
                    statement = _raw(kind, period.group, period.start, period.end, as_of)
                    started = time.perf_counter()
                    await raw.fetch(statement)
                    limit[kind].append((time.perf_counter() - started) * 1000)
    finally:
        await raw.close()
        await engine.dispose()
    return {
        kind: {"ours": _summary(ours[kind]), "raw": _summary(limit[kind]), "n": len(ours[kind])}
        for kind in KINDS
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=1_000_000)
    parser.add_argument("--attempts", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--workdir", default=str(ROOT / "bench" / "out"))
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    with scratch_database("postgresql", Path(args.workdir), "dashboard") as url:
        built = asyncio.run(build(url, args))
        print(f"built {built['counts']}", flush=True)
        results = asyncio.run(measure(url, args))
    print(f"{'query':<10} {'ours p50':>9} {'p95':>8} {'p99':>8}   {'raw p95':>8}  ratio")
    for kind, r in results.items():
        ratio = r["ours"]["p95"] / max(r["raw"]["p95"], 0.001)
        print(
            f"{kind:<10} {r['ours']['p50']:8.1f}ms {r['ours']['p95']:7.1f}ms "
            f"{r['ours']['p99']:7.1f}ms   {r['raw']['p95']:7.1f}ms  {ratio:5.1f}x",
            flush=True,
        )
    worst = max(r["ours"]["p95"] for r in results.values())
    print(f"slowest p95 {worst:.1f} ms (goal < {GOAL_MS} ms)")
    if args.write_docs:
        _write_docs(results, built, args)


def _write_docs(results: dict[str, Any], built: dict[str, Any], args: argparse.Namespace) -> None:
    counts = built["counts"]
    command = (
        f"python bench/dashboard --loans {args.loans} --attempts {args.attempts} "
        f"--days {args.days} --samples {args.samples} --write-docs"
    )
    head, data = common.measured_on(command, counts)
    t = built["timings"]
    lines = [
        "## Dashboard (`bench/dashboard`)",
        "",
        head,
        data + ".",
        f"The close of business's refresh of one night's aggregates (from the snapshots, the "
        f"log, promises and payments): {t['nightly refresh (COB step)']:.1f} s.",
        "",
        f"Each query {results['portfolio']['n']} times (random ranges of 7 days to a year, "
        "each grouping: all, collector, queue, arm), through the service functions the API and "
        "the page call, against the raw limit (the same aggregate read by one hand-written "
        f"statement on asyncpg). Goal: p95 < {GOAL_MS} ms.",
        "",
        "| query | p50 | p95 | p99 | raw limit p95 | ratio (p95) |",
        "|---|---|---|---|---|---|",
    ]
    for kind, r in results.items():
        ratio = r["ours"]["p95"] / max(r["raw"]["p95"], 0.001)
        lines.append(
            f"| {kind} | {r['ours']['p50']:.1f} ms | **{r['ours']['p95']:.1f} ms** "
            f"| {r['ours']['p99']:.1f} ms | {r['raw']['p95']:.1f} ms | {ratio:.1f}× |"
        )
    write_section("dashboard", lines)


if __name__ == "__main__":
    main()
