"""Account page benchmark: ``GET /accounts/{ref}`` served by the real app over a large portfolio
(PostgreSQL), as a collector of one queue and as a supervisor, beside the raw limit.

    python bench/account --loans 1000000 --attempts 10000000 [--samples 500] [--write-docs]

Builds a scratch PostgreSQL database with the real migrations, then, set-based
(``generate_series`` in ``INSERT … SELECT``; the log's month partitions UNLOGGED and their
indexes dropped during the load, built after it): borrowers with two numbers each and a contact
for every other one, loans in four collector queues with their work list, six installments and
three payments each, ``--attempts`` attempts over three years spread unevenly (a few accounts
have many; one in ten superseded by a revision), audit events, assignment moves, promises,
callbacks, holds and opt-outs; then ANALYZE.

Measures, over ``--samples`` random accounts of the collector's queue, one request at a time:
the page through HTTP (the app in this process on 127.0.0.1: session lookup, visibility, every
read, the template) as the collector and as a supervisor; and the raw limit — the same reads
(loan, schedule, payments, borrower, numbers, contacts, the borrower's loans, holds, opt-outs,
the lease, open promises, arrangements, callbacks and the timeline's first page) as
hand-written statements on one asyncpg connection, nothing rendered. Prints p50/p95/p99 and the
ratio; ``--write-docs`` records them in docs/benchmarks.md. The database is dropped at the end.
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

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402
import common  # noqa: E402
from common import scratch_database, write_section  # noqa: E402

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
TODAY = NOW.date()
YEARS = 3
QUEUES = 4
PASSWORD = "bench password 1"
GOAL_MS = 100


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _summary(values: list[float]) -> dict[str, float]:
    return {"p50": _pct(values, 0.50), "p95": _pct(values, 0.95), "p99": _pct(values, 0.99)}


async def _step(conn: asyncpg.Connection, label: str, sql: str, timings: dict[str, float]) -> None:
    started = time.perf_counter()
    await conn.execute(sql)
    timings[label] = time.perf_counter() - started
    print(f"  {label:<34} {timings[label]:7.1f} s", flush=True)


async def build(url: str, args: argparse.Namespace) -> dict[str, Any]:
    from sqlalchemy.ext.asyncio import create_async_engine

    from service import auth
    from service.db import partitions
    from service.db.migrate import upgrade
    from service.db.models import Role

    engine = create_async_engine(url)
    await upgrade(engine)
    first = partitions.month_of((NOW - dt.timedelta(days=365 * YEARS + 31)).date())
    months = [first]
    while months[-1] < partitions.month_of(TODAY):
        months.append(partitions.next_month(months[-1]))
    async with engine.begin() as conn:
        for table in partitions.PARTITIONED:
            await partitions.create_months(conn, table, months)
        collector = await auth.create_user(
            conn, username="bench-collector", display_name="Bench Collector",
            role=Role.collector, password=PASSWORD,
        )  # fmt: skip
        await auth.create_user(
            conn, username="bench-supervisor", display_name="Bench Supervisor",
            role=Role.supervisor, password=PASSWORD,
        )  # fmt: skip
    await engine.dispose()

    loans, attempts = args.loans, args.attempts
    borrowers = max(1, round(loans / 1.2))
    base = round(attempts / 1.1)  # the rest: revisions superseding one in ten
    events = round(attempts * 0.2)
    at = f"timestamptz '{NOW.isoformat()}'"
    # Uneven: power(random(), 1.6) puts more of the log on low loan ids.
    uneven = f"1 + floor(power(random(), 1.6) * {loans})::int"
    t: dict[str, float] = {}
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        load = await common.BulkLoad.start(conn, ("attempts", "audit_log"), ("attempt_keys",))
        print(f"building {loans:,} loans and {attempts:,} attempts ...", flush=True)
        await _step(
            conn,
            "queues, borrowers, numbers, contacts",
            f"""
            INSERT INTO queues (id, name, description, routing, active, created_at, kind,
                position, collector_strategy)
            SELECT g, 'Q' || g, '', '{{}}', true, now(), 'collector', g * 10, 'sticky'
            FROM generate_series(1, {QUEUES}) g;
            INSERT INTO queue_members (queue_id, user_id) VALUES (1, {collector});
            INSERT INTO borrowers (id, borrower_ref, name, locale, region, address,
                timezone, timezone_candidates, timezone_source, sms_consent, created_at,
                updated_at)
            SELECT g, 'B' || g, '借款人' || g, 'zh-CN', 'CN-SH', '上海市黄浦区' || g || '号',
                   'Asia/Shanghai', 'Asia/Shanghai', 'file', true, now(), now()
            FROM generate_series(1, {borrowers}) g;
            INSERT INTO phone_numbers (borrower_id, e164, kind, line_type, verified, status,
                created_at, updated_at)
            SELECT g, '+8613' || lpad(g::text, 9, '0'), 'primary', 'mobile', true, 'active',
                   now(), now() FROM generate_series(1, {borrowers}) g
            UNION ALL
            SELECT g, '+8615' || lpad(g::text, 9, '0'), 'alt', 'mobile', false, 'active',
                   now(), now() FROM generate_series(1, {borrowers}) g;
            INSERT INTO contacts (contact_ref, borrower_id, name, relation, phone, debt_related,
                created_at, updated_at)
            SELECT 'B' || g || '-C1', g, '联系人' || g, '配偶', '+8617' || lpad(g::text, 9, '0'),
                   g % 4 = 0, now(), now()
            FROM generate_series(1, {borrowers}, 2) g;
            SELECT setval('borrowers_id_seq', {borrowers});
            SELECT setval('queues_id_seq', {QUEUES});
            """,
            t,
        )
        await _step(
            conn,
            "loans, work list, schedules, payments",
            f"""
            INSERT INTO loans (id, loan_ref, borrower_id, product, currency, principal,
                annual_rate, disbursed_on, maturity_on, status, queue_id, collector_id,
                created_at, updated_at, state_as_of, days_past_due, bucket, amount_tier,
                risk_class, overdue_amount, outstanding, penalty_accrued)
            SELECT g, 'L' || g, 1 + (g - 1) % {borrowers}, 'cash', 'CNY', 12000, 0.12,
                   DATE '{TODAY}' - 150, DATE '{TODAY}' + 30, 'open', 1 + g % {QUEUES},
                   CASE WHEN g % 8 = 0 THEN {collector} END, now(), now(), DATE '{TODAY}',
                   1 + g % 120,
                   (ARRAY['M1', 'M2', 'M3', 'M4'])[1 + (g % 120) / 30],
                   'S', CASE WHEN g % 120 > 90 THEN 'substandard' ELSE 'special_mention' END,
                   2000, 6000, 35.50
            FROM generate_series(1, {loans}) g;
            SELECT setval('loans_id_seq', {loans});
            INSERT INTO work_items (loan_id, queue_id, collector_id, rank, score)
            SELECT id, queue_id, collector_id, 2, -(days_past_due * outstanding) FROM loans;
            INSERT INTO installments (loan_id, seq, due_on, principal_due, interest_due)
            SELECT l, s, DATE '{TODAY}' - 150 + 30 * s, 2000, 120
            FROM generate_series(1, {loans}) l, generate_series(1, 6) s;
            INSERT INTO payments (payment_ref, loan_id, paid_on, amount, source, created_at)
            SELECT 'P' || l || '-' || s, l, DATE '{TODAY}' - 150 + 30 * s, 2120, 'import',
                   {at} - (5 - s) * interval '30 days'
            FROM generate_series(1, {loans}) l, generate_series(1, 3) s;
            """,
            t,
        )
        await _step(
            conn,
            "attempts (first revisions)",
            f"""
            INSERT INTO attempts (id, attempt_ref, revision, loan_id, phone, channel, direction,
                occurred_at, result, source, created_at, note)
            SELECT x.g, 'b-' || x.g, 0, x.loan,
                   '+8613' || lpad((1 + (x.loan - 1) % {borrowers})::text, 9, '0'),
                   CASE WHEN g % 3 = 0 THEN 'call' ELSE 'sms' END, 'outbound', x.at,
                   (ARRAY['delivered', 'no_answer', 'conversation', 'failed', 'voicemail',
                          'busy'])[1 + g % 6],
                   'dispatch', x.at, CASE WHEN g % 7 = 0 THEN '客户称月底还款' END
            FROM (SELECT g, {uneven} AS loan,
                         {at} - random() * interval '{365 * YEARS} days' AS at
                  FROM generate_series(1, {base}) g) x
            """,
            t,
        )
        await _step(
            conn,
            "attempts (superseding revisions)",
            f"""
            INSERT INTO attempts (id, attempt_ref, revision, supersedes_id, loan_id, phone,
                channel, direction, occurred_at, result, disposition, source, created_at)
            SELECT {base} + row_number() OVER (), attempt_ref, 1, id, loan_id, phone, channel,
                   direction, occurred_at, 'conversation', 'rpc', source,
                   occurred_at + interval '1 minute'
            FROM attempts WHERE id % 10 = 0 AND id <= {base};
            INSERT INTO attempt_keys SELECT attempt_ref, revision FROM attempts;
            SELECT setval('attempts_id_seq', (SELECT max(id) FROM attempts));
            """,
            t,
        )
        await _step(
            conn,
            "audit events, moves",
            f"""
            INSERT INTO audit_log (occurred_at, actor, action, entity_type, entity_ref, details)
            SELECT x.at, 'cob', (ARRAY['promise.pending', 'callback.scheduled',
                   'attempt.logged', 'lost_contact.marked'])[1 + g % 4],
                   'loan', 'L' || x.loan, '{{"before": null, "after": "x"}}'
            FROM (SELECT g, {uneven} AS loan,
                         {at} - random() * interval '{365 * YEARS} days' AS at
                  FROM generate_series(1, {events}) g) x;
            INSERT INTO assignment_history (loan_id, moved_at, to_queue_id, reason, actor, note)
            SELECT id, {at} - interval '20 days', queue_id, 'cob', 'cob', '' FROM loans;
            """,
            t,
        )
        await _step(
            conn,
            "promises, callbacks, holds, opt-outs",
            f"""
            INSERT INTO promises (loan_id, amount, promised_on, status, source, created_at,
                updated_at, made_on, created_by, note)
            SELECT 1 + (g * 7) % {loans}, 300, DATE '{TODAY}' + (g % 20) - 10,
                   CASE WHEN g % 3 = 0 THEN 'pending' ELSE 'kept' END, 'collector',
                   {at} - (g % 60) * interval '1 day', now(), DATE '{TODAY}' - (g % 60),
                   'bench-collector', ''
            FROM generate_series(1, {loans // 5}) g;
            INSERT INTO callbacks (loan_id, user_id, due_at, status, note, created_at,
                created_by)
            SELECT g, NULL, {at} + (g % 48) * interval '1 hour', 'scheduled', '下午回电',
                   now(), 'bench-collector'
            FROM generate_series(1, {loans}, 20) g;
            INSERT INTO holds (hold_ref, borrower_id, code, source, started_on, note,
                created_by, created_at)
            SELECT 'H' || g, g, 'complaint', 'import', DATE '{TODAY}' - 5, '', 'import', now()
            FROM generate_series(1, {borrowers}, 50) g;
            INSERT INTO opt_outs (phone, channel, opted_out_at, source, recorded_by)
            SELECT '+8613' || lpad(g::text, 9, '0'), 'sms', {at} - interval '3 days',
                   'keyword', 'import'
            FROM generate_series(1, {borrowers}, 30) g;
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
            for name in ("loans", "borrowers", "attempts", "audit_log", "installments", "payments")
        }
    finally:
        await conn.close()
    return {"timings": t, "counts": counts, "collector": collector}


# The page's reads, each as one hand-written statement: the floor under what the page costs.
RAW = {
    "loan": """SELECT l.*, b.borrower_ref FROM loans l JOIN borrowers b ON b.id = l.borrower_id
               WHERE l.loan_ref = $1
                 AND l.queue_id IN (SELECT queue_id FROM queue_members WHERE user_id = $2)""",
    "schedule": "SELECT * FROM installments WHERE loan_id = $1 ORDER BY seq",
    "payments": "SELECT * FROM payments WHERE loan_id = $1 ORDER BY paid_on, id",
    "borrower": "SELECT * FROM borrowers WHERE id = $1",
    "phones": "SELECT * FROM phone_numbers WHERE borrower_id = $1 ORDER BY id",
    "contacts": "SELECT * FROM contacts WHERE borrower_id = $1 ORDER BY contact_ref",
    "loans": """SELECT loan_ref, status, days_past_due, bucket, risk_class, outstanding
                FROM loans WHERE borrower_id = $1
                  AND queue_id IN (SELECT queue_id FROM queue_members WHERE user_id = $2)
                ORDER BY loan_ref""",
    "holds": """SELECT * FROM holds WHERE borrower_id = $1 AND started_on <= $2
                  AND (ends_on IS NULL OR ends_on >= $2) ORDER BY id""",
    "opt_outs": "SELECT * FROM opt_outs WHERE phone = ANY($1::text[]) ORDER BY phone, id",
    "lease": """SELECT q.name, c.display_name, h.display_name, w.lease_expires_at
                FROM loans l LEFT JOIN queues q ON q.id = l.queue_id
                LEFT JOIN users c ON c.id = l.collector_id
                LEFT JOIN work_items w ON w.loan_id = l.id
                LEFT JOIN users h ON h.id = w.lease_holder_id WHERE l.id = $1""",
    "promises": """SELECT * FROM promises WHERE loan_id = $1
                     AND status IN ('pending', 'proposed') ORDER BY promised_on, id""",
    "arrangements": """SELECT * FROM arrangements WHERE loan_id = $1
                         AND status IN ('proposed', 'active') ORDER BY id DESC""",
    "callbacks": """SELECT * FROM callbacks WHERE loan_id = $1 AND status = 'scheduled'
                      AND (user_id = $2 OR user_id IS NULL) ORDER BY due_at, id LIMIT 20""",
    "timeline": """
        SELECT * FROM (
          (SELECT 'attempt' AS kind, a.occurred_at AS at, a.attempt_ref AS ref, a.note
           FROM attempts a LEFT JOIN contacts c ON c.id = a.contact_id
           WHERE a.loan_id = $1
             AND NOT EXISTS (SELECT 1 FROM attempts n WHERE n.supersedes_id = a.id)
           ORDER BY a.occurred_at DESC LIMIT 21)
          UNION ALL
          (SELECT 'promise', created_at, id::text, note FROM promises
           WHERE loan_id = $1 ORDER BY created_at DESC LIMIT 21)
          UNION ALL
          (SELECT 'payment', created_at, payment_ref, NULL FROM payments
           WHERE loan_id = $1 ORDER BY created_at DESC LIMIT 21)
          UNION ALL
          (SELECT 'task', created_at, id::text, result FROM tasks
           WHERE loan_id = $1 ORDER BY created_at DESC LIMIT 21)
          UNION ALL
          (SELECT 'assignment', moved_at, id::text, note FROM assignment_history
           WHERE loan_id = $1 ORDER BY moved_at DESC LIMIT 21)
          UNION ALL
          (SELECT 'event', occurred_at, id::text, action FROM audit_log
           WHERE entity_type = 'loan' AND entity_ref = $2 ORDER BY occurred_at DESC LIMIT 21)
        ) t ORDER BY at DESC, kind, ref DESC LIMIT 21""",
}


async def _raw_page(
    statements: dict[str, Any], loan: int, user: int, spent: dict[str, float] | None = None
) -> None:
    """The page's reads as raw statements; ``spent``: the milliseconds of each, added up."""
    ref = f"L{loan}"
    clock = time.perf_counter()

    def tick(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        if spent is not None:
            spent[name] = spent.get(name, 0.0) + 1000 * (now - clock)
        clock = now

    row = await statements["loan"].fetchrow(ref, user)
    assert row is not None, ref
    tick("loan")
    await statements["schedule"].fetch(row["id"])
    tick("schedule")
    await statements["payments"].fetch(row["id"])
    tick("payments")
    await statements["borrower"].fetchrow(row["borrower_id"])
    tick("borrower")
    phones = [p["e164"] for p in await statements["phones"].fetch(row["borrower_id"])]
    tick("phones")
    phones += [c["phone"] for c in await statements["contacts"].fetch(row["borrower_id"])]
    tick("contacts")
    await statements["loans"].fetch(row["borrower_id"], user)
    tick("loans")
    await statements["holds"].fetch(row["borrower_id"], TODAY)
    tick("holds")
    await statements["opt_outs"].fetch(phones)
    tick("opt_outs")
    await statements["lease"].fetchrow(row["id"])
    tick("lease")
    await statements["promises"].fetch(row["id"])
    tick("promises")
    await statements["arrangements"].fetch(row["id"])
    tick("arrangements")
    await statements["callbacks"].fetch(row["id"], user)
    tick("callbacks")
    await statements["timeline"].fetch(row["id"], ref)
    tick("timeline")


async def measure(url: str, args: argparse.Namespace, collector: int) -> dict[str, Any]:
    from aiohttp import web

    from service.settings import Settings
    from service.web.app import create_app

    rng = random.Random(14)
    # The collector's queue is queue 1: loans whose id is a multiple of QUEUES.
    mine = range(QUEUES, args.loans + 1, QUEUES)
    loans = rng.sample(mine, min(args.samples, len(mine)))
    settings = Settings(database_url=url, var_dir=Path(args.workdir), dispatch="off")
    app = create_app(settings)
    runner = web.AppRunner(app)
    await runner.setup()
    statement_ms: dict[str, list[float]] = {}
    if args.profile:
        _time_statements(app, statement_ms)
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server: Any = site._server  # the port the OS chose
    base = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    raw = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    timings: dict[str, list[float]] = {"collector": [], "supervisor": [], "raw": [], "panel": []}
    spent: dict[str, float] = {}
    try:
        statements = {name: await raw.prepare(sql) for name, sql in RAW.items()}
        async with aiohttp.ClientSession() as http:
            tokens = {}
            for role in ("collector", "supervisor"):
                async with http.post(
                    f"{base}/api/session",
                    json={"username": f"bench-{role}", "password": PASSWORD},
                ) as answer:
                    assert answer.status == 201, await answer.text()
                    tokens[role] = (await answer.json())["token"]

            async def page(role: str, loan: int, part: str = "") -> float:
                started = time.perf_counter()
                async with http.get(
                    f"{base}/accounts/L{loan}{part}",
                    headers={"Authorization": f"Bearer {tokens[role]}"},
                ) as answer:
                    body = await answer.read()
                    assert answer.status == 200, (answer.status, body[:300])
                return 1000 * (time.perf_counter() - started)

            for loan in loans[:30]:  # warm the plans, the caches and the templates
                await page("collector", loan)
                await _raw_page(statements, loan, collector)
            for loan in loans:
                timings["collector"].append(await page("collector", loan))
                timings["supervisor"].append(await page("supervisor", loan))
                panel = await page("collector", loan, "/contact?partial=1")
                timings["panel"].append(panel)
                started = time.perf_counter()
                await _raw_page(statements, loan, collector, spent)
                timings["raw"].append(1000 * (time.perf_counter() - started))
    finally:
        await raw.close()
        await runner.cleanup()
    result: dict[str, Any] = {name: _summary(values) for name, values in timings.items()}
    result["raw_parts"] = {name: total / len(loans) for name, total in spent.items()}
    if args.profile:
        pages = 2 * len(loans) + 30
        ranked = sorted(statement_ms.items(), key=lambda item: -sum(item[1]))[:12]
        print("the app's statements by time per page (--profile):")
        for sql, times in ranked:
            print(f"  {sum(times) / pages:7.2f} ms/page  x{len(times) / pages:4.1f}  {sql[:150]}")
    return result


def _time_statements(app: Any, into: dict[str, list[float]]) -> None:
    """Each statement the app runs, timed by its text (the --profile report)."""
    from sqlalchemy import event

    from service.web.keys import ENGINE

    engine = app[ENGINE].sync_engine

    @event.listens_for(engine, "before_cursor_execute")
    def started(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        conn.info.setdefault("started", []).append(time.perf_counter())

    @event.listens_for(engine, "after_cursor_execute")
    def ended(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        took = 1000 * (time.perf_counter() - conn.info["started"].pop())
        into.setdefault(" ".join(statement.split()), []).append(took)


def _row(label: str, ours: dict[str, float], base: dict[str, float] | None) -> str:
    cells = [f"{ours[q]:.1f} ms" for q in ("p50", "p95", "p99")]
    ratio = f"{ours['p95'] / base['p95']:.2f}×" if base else "—"
    return f"| {label} | {' | '.join(cells)} | {ratio} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=1_000_000)
    parser.add_argument("--attempts", type=int, default=10_000_000)
    parser.add_argument("--samples", type=int, default=500, help="random accounts measured")
    parser.add_argument("--workdir", default=str(ROOT / "bench" / "out"))
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument(
        "--profile", action="store_true", help="print the app's slowest statements per page"
    )
    args = parser.parse_args()
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with scratch_database("postgresql", Path(args.workdir), "account") as url:
        built = asyncio.run(build(url, args))
        build_seconds = time.perf_counter() - started
        print(f"built in {build_seconds:.0f} s: {built['counts']}", flush=True)
        measured = asyncio.run(measure(url, args, built["collector"]))
    for name in ("collector", "supervisor", "raw", "panel"):
        m = measured[name]
        print(f"{name:<11} p50 {m['p50']:7.1f}  p95 {m['p95']:7.1f}  p99 {m['p99']:7.1f} ms")
    parts = sorted(measured["raw_parts"].items(), key=lambda item: -item[1])
    print("raw reads, mean ms:", ", ".join(f"{name} {ms:.2f}" for name, ms in parts))
    print(f"ratio (p95): collector {measured['collector']['p95'] / measured['raw']['p95']:.2f}")
    if args.write_docs:
        _write_docs(built, build_seconds, measured, args)


def _write_docs(
    built: dict[str, Any], seconds: float, r: dict[str, Any], args: argparse.Namespace
) -> None:
    command = (
        f"python bench/account --loans {args.loans} --attempts {args.attempts} "
        f"--samples {args.samples} --write-docs"
    )
    counts = built["counts"]
    head, data = common.measured_on(
        command,
        {
            "loans": counts["loans"],
            "borrowers": counts["borrowers"],
            "attempts": counts["attempts"],
            "audit events": counts["audit_log"],
            "installments": counts["installments"],
            "payments": counts["payments"],
        },
    )
    goal = (
        "met"
        if r["collector"]["p95"] < GOAL_MS and r["supervisor"]["p95"] < GOAL_MS
        else ("**not met**")
    )
    lines = [
        "## The account page at volume (`bench/account`)",
        "",
        head,
        data + "; PostgreSQL, the contact log and the audit log in month partitions.",
        "",
        f"Build: {seconds:.0f} s. Each figure over {args.samples:,} random accounts of the "
        "collector's queue, one request at a time: the page as the browser gets it from the app "
        "on 127.0.0.1 (session, visibility, every read, the template rendered), and the raw "
        "limit — the same fourteen reads as hand-written statements on one connection, nothing "
        "rendered.",
        "",
        "| read | p50 | p95 | p99 | ours / raw at p95 |",
        "|---|---|---|---|---|",
        _row("`GET /accounts/{ref}` as the account's collector", r["collector"], r["raw"]),
        _row("`GET /accounts/{ref}` as a supervisor", r["supervisor"], r["raw"]),
        _row("raw limit: the same reads, one statement each", r["raw"], None),
        _row(
            "the contact panel (`GET /accounts/{ref}/contact?partial=1`), loaded into the page "
            "after it",
            r["panel"],
            None,
        ),
        "",
        f"Account page goal p95 < {GOAL_MS} ms: {goal}. The page reads a fixed number of "
        "statements whatever the account's history (tests/test_account_page.py counts them); the "
        "timeline's first page of 20 is read through its indexes (bench/timeline). The "
        "contact panel — each number's live verdict from the compliance guard, over the "
        "borrower's contact log — is a read of its own that the page loads into its place "
        "(without JavaScript, a link to it), so the account is on screen before it.",
    ]
    write_section("account", lines)


if __name__ == "__main__":
    main()
