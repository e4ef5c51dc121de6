"""Assignment benchmark on PostgreSQL: assigning every account, and "next account" under load.

    python bench/assign --loans 1000000 [--write-docs]

Builds N open accounts with positions (DPD, bucket, tier, balance; 3 % of the late ones lost
contact) set-based in SQL, the source policies' queues and 100 collectors, and a 20 % challenger
on M1. Then, each figure beside its raw limit measured in the same run:

1. Assigning all accounts with Arrears (strategies in Python, history, work list), in a fresh
   child process, against one set-based UPDATE writing a queue and a collector to the same rows.
2. "Next account" over HTTP (`arrears serve`, bearer tokens of the 100 collectors) saturated by
   `wrk` with 100 connections, against a bare aiohttp endpoint doing only the SKIP LOCKED pop.
3. "Next account" at a steady open-loop 300 requests/s from 100 simulated collectors: latency.
4. Double leases: a trigger installed for the run counts every lease handed from one holder to
   another without a release in between; it must stay at zero in every run.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import common  # noqa: E402
from common import drop_pg_database, fresh_pg_database, pg_url, write_section  # noqa: E402

HERE = Path(__file__).parent
AS_OF = dt.date(2026, 11, 24)
COLLECTORS = 100
# Collectors per default queue (the rest of the queues are not worked by people).
STAFFING = {
    "M1 early": 40,
    "M1 senior": 10,
    "M2-M3": 30,
    "Recovery and legal": 15,
    "Field visits": 5,
}
PASSWORD = "bench-password-1"  # throwaway users of a throwaway database

ACCOUNTS_SQL = """
INSERT INTO borrowers (id, borrower_ref, name, locale, region, address, timezone,
                       timezone_candidates, timezone_source, sms_consent, credit_coefficient,
                       created_at, updated_at)
SELECT g, 'B' || lpad(g::text, 8, '0'), 'Borrower ' || g,
       CASE WHEN g % 5 = 0 THEN 'en' ELSE 'zh-CN' END, 'CN', '', 'Asia/Shanghai', '', 'file',
       true, 1, now(), now()
FROM generate_series(1, {n}) g;
INSERT INTO loans (id, loan_ref, borrower_id, product, currency, principal, annual_rate,
                   disbursed_on, maturity_on, status, created_at, updated_at, state_as_of,
                   days_past_due, bucket, amount_tier, risk_class, overdue_amount, outstanding,
                   lost_contact_on)
SELECT g, 'L' || lpad(g::text, 8, '0'), g, 'cash', 'CNY', o, 0.1, DATE '2026-01-01',
       DATE '2027-06-01', 'open', now(), now(), DATE {as_of}, d,
       CASE WHEN d = 0 THEN 'M0' WHEN d <= 30 THEN 'M1' WHEN d <= 60 THEN 'M2'
            WHEN d <= 90 THEN 'M3' WHEN d <= 120 THEN 'M4' WHEN d <= 150 THEN 'M5'
            WHEN d <= 180 THEN 'M6' ELSE 'M7+' END,
       CASE WHEN o <= 100000 THEN 'S' WHEN o <= 300000 THEN 'M' WHEN o <= 1000000 THEN 'L'
            ELSE 'XL' END,
       CASE WHEN d = 0 THEN 'normal' WHEN d <= 90 THEN 'special_mention'
            WHEN d <= 270 THEN 'substandard' WHEN d <= 360 THEN 'doubtful' ELSE 'loss' END,
       CASE WHEN d = 0 THEN 0 ELSE round(o / 10, 2) END, o,
       CASE WHEN d > 30 AND h2 < 30 THEN DATE {as_of} - 5 END
FROM (SELECT g, h2,
             CASE WHEN h < 600 THEN 0 WHEN h < 750 THEN 1 + h % 30
                  WHEN h < 820 THEN 31 + h % 30 WHEN h < 870 THEN 61 + h % 30
                  ELSE 91 + (h * 7) % 400 END AS d,
             CASE WHEN h2 < 850 THEN 1000 + h2 * 50
                  WHEN h2 < 950 THEN 100001 + h2 * 100
                  WHEN h2 < 990 THEN 300001 + h2 * 500
                  ELSE 1000001 + h2 * 1000 END::numeric(18, 2) AS o
      FROM (SELECT g, (g::bigint * 2654435761) % 1000 AS h, (g::bigint * 40503 + 7) % 1000 AS h2
            FROM generate_series(1, {n}) g) x) y;
SELECT setval(pg_get_serial_sequence('borrowers', 'id'), {n});
SELECT setval(pg_get_serial_sequence('loans', 'id'), {n});
"""

# Counts every lease handed from one collector to another without a release in between.
DOUBLE_LEASE_SQL = """
CREATE TABLE bench_double_leases (loan_id integer, from_holder integer, to_holder integer);
CREATE FUNCTION bench_double_lease() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.lease_holder_id IS NOT NULL AND NEW.lease_holder_id IS NOT NULL
     AND OLD.lease_holder_id <> NEW.lease_holder_id THEN
    INSERT INTO bench_double_leases VALUES (NEW.loan_id, OLD.lease_holder_id,
                                            NEW.lease_holder_id);
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER bench_double_lease BEFORE UPDATE OF lease_holder_id ON work_items
  FOR EACH ROW EXECUTE FUNCTION bench_double_lease();
"""


def _settings(url: str) -> Any:
    from service.settings import Settings

    return Settings(database_url=url, log_level="WARNING")


async def build(url: str, loans: int) -> dict[str, Any]:
    import asyncpg

    from service import auth
    from service.assignment import experiments, queues, run
    from service.db.engine import create_engine
    from service.db.migrate import upgrade
    from service.db.models import Role

    engine = create_engine(_settings(url))
    started = time.perf_counter()
    try:
        await upgrade(engine)
        raw = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            script = ACCOUNTS_SQL.replace("{n}", str(loans)).replace("{as_of}", f"'{AS_OF}'")
            await raw.execute(script)
            await raw.execute(DOUBLE_LEASE_SQL)
        finally:
            await raw.close()
        tokens: list[str] = []
        async with engine.begin() as conn:
            await queues.install_default_queues(conn)
            number = 0
            for queue, count in STAFFING.items():
                for _ in range(count):
                    name = f"c{number:03d}"
                    number += 1
                    await auth.create_user(
                        conn,
                        username=name,
                        display_name=name,
                        role=Role.collector,
                        password=PASSWORD,
                        languages="zh-CN,en" if number % 4 == 0 else "zh-CN",
                    )
                    await queues.add_member(conn, queue, name)
                    session = await auth.login(conn, name, PASSWORD, dt.timedelta(hours=12))
                    assert session is not None
                    tokens.append(session[0])
            strategies = run.strategies_for(_settings(url))
            await experiments.create_experiment(
                conn,
                strategies,
                key="m1",
                segment={"buckets": ["M1"]},
                challenger="round_robin",
                share=Decimal("0.2"),
                actor="bench",
            )
    finally:
        await engine.dispose()
    await _vacuum(url)
    return {"seconds": time.perf_counter() - started, "tokens": tokens}


BARE_INDEX = (
    "CREATE INDEX bench_bare_pop ON work_items (queue_id, rank, score, loan_id) "
    "WHERE lease_holder_id IS NULL"
)


async def _execute(url: str, statement: str) -> None:
    import asyncpg

    raw = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await raw.execute(statement)
    finally:
        await raw.close()


async def _vacuum(url: str, table: str = "") -> None:
    import asyncpg

    raw = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await raw.execute(f"VACUUM ANALYZE {table}")
    finally:
        await raw.close()


async def child_raw_update(url: str) -> dict[str, Any]:
    """One set-based UPDATE writing queue and collector to every open account (rolled back)."""
    import asyncpg

    raw = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        queues = {r["name"]: int(r["id"]) for r in await raw.fetch("SELECT name, id FROM queues")}
        first = await raw.fetchval("SELECT min(id) FROM users")

        def q(name: str) -> int:
            return int(queues[name])

        statement = f"""
            UPDATE loans SET
              queue_id = CASE
                WHEN lost_contact_on IS NOT NULL AND outstanding >= 10000 THEN {q("Field visits")}
                WHEN lost_contact_on IS NOT NULL THEN {q("Agency")}
                WHEN bucket IN ('M4', 'M5', 'M6', 'M7+') THEN {q("Recovery and legal")}
                WHEN bucket IN ('M2', 'M3') THEN {q("M2-M3")}
                WHEN bucket = 'M1' AND amount_tier IN ('L', 'XL') THEN {q("M1 senior")}
                WHEN bucket = 'M1' THEN {q("M1 early")}
                ELSE {q("Automated reminders")} END,
              collector_id = CASE WHEN bucket = 'M0' THEN NULL
                                  ELSE {first} + id % {COLLECTORS} END,
              assigned_at = now()
            WHERE status = 'open'"""
        transaction = raw.transaction()
        await transaction.start()
        started = time.perf_counter()
        result = await raw.execute(statement)
        seconds = time.perf_counter() - started
        # Leave the rows as they were: Arrears assigns them next, from scratch.
        await transaction.rollback()
        rows = int(result.split()[-1])
    finally:
        await raw.close()
    return {"seconds": seconds, "rows": rows}


async def child_assign(url: str) -> dict[str, Any]:
    from service.assignment.run import assign, strategies_for
    from service.db.engine import create_engine

    settings = _settings(url)
    strategies = strategies_for(settings)
    engine = create_engine(settings)
    try:
        started = time.perf_counter()
        async with engine.begin() as conn:
            report = await assign(conn, strategies, settings, AS_OF, everything=True, actor="bench")
        seconds = time.perf_counter() - started
    finally:
        await engine.dispose()
    return {
        "seconds": seconds,
        "considered": report.considered,
        "moved": report.moved,
        "arms": report.arms,
    }


def run_child(kind: str, url: str) -> dict[str, Any]:
    result: dict[str, Any] = common.run_child(HERE, [kind, url])[0]
    return result


# --- next account over HTTP ----------------------------------------------------------------------


class Server:
    """A server process on a port, started and stopped around one measurement."""

    def __init__(self, command: list[str], port: int, env: dict[str, str]) -> None:
        self.port = port
        self.process = subprocess.Popen(
            command,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        import socket

        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    self.process.stderr.read().decode() if self.process.stderr else ""
                )
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"server on port {port} did not start")

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=30)


def arrears_server(url: str, port: int, workdir: Path) -> Server:
    return Server(
        [sys.executable, "-m", "service.cli", "serve", "--port", str(port)],
        port,
        {
            "DATABASE_URL": url,
            "LOG_LEVEL": "WARNING",
            "ARREARS_VAR_DIR": str(workdir),
            "PYTHONPATH": str(ROOT),
        },
    )


def bare_server(url: str, port: int, queue_id: int) -> Server:
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    return Server([sys.executable, str(HERE / "bare.py"), dsn, str(port), str(queue_id)], port, {})


def wrk(url: str, script: Path, seconds: int, connections: int = 100) -> dict[str, Any]:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    figures: dict[str, Any] = {"output": out}
    for line in out.splitlines():
        parts = line.split()
        if line.startswith("Requests/sec:"):
            figures["rps"] = float(parts[1])
        elif line.strip().startswith("99%"):
            figures["p99"] = parts[1]
        elif "Non-2xx" in line:
            figures["errors"] = int(parts[-1])
    figures.setdefault("errors", 0)
    return figures


def wrk_script(workdir: Path, path: str, tokens: list[str]) -> Path:
    script = workdir / f"wrk-{path.strip('/').replace('/', '-')}.lua"
    quoted = ", ".join(json.dumps(t) for t in tokens)
    script.write_text(
        f"""
local tokens = {{{quoted}}}
local n = 0
request = function()
  n = n + 1
  local token = tokens[(n % #tokens) + 1]
  return wrk.format("POST", "{path}", {{["Authorization"] = "Bearer " .. token}})
end
""",
        encoding="utf-8",
    )
    return script


async def open_loop(base: str, tokens: list[str], rate: int, seconds: int) -> dict[str, Any]:
    """Requests at fixed times (not waiting for answers), collectors in turn: latencies."""
    import aiohttp

    latencies: list[float] = []
    failures = 0
    empty = 0
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(base, connector=connector) as session:

        async def one(token: str) -> None:
            nonlocal failures, empty
            started = time.perf_counter()
            async with session.post(
                "/api/work/next", headers={"Authorization": f"Bearer {token}"}
            ) as response:
                body = await response.json()
            latencies.append(time.perf_counter() - started)
            if response.status != 200:
                failures += 1
            elif body["account"] is None:
                empty += 1

        tasks = []
        begin = time.perf_counter()
        for i in range(rate * seconds):
            delay = begin + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(tokens[i % len(tokens)])))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - begin
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {
        "requests": len(latencies),
        "achieved_rps": len(latencies) / elapsed,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": latencies[-1] * 1000,
        "failures": failures,
        "empty": empty,
    }


async def reset_leases(url: str) -> int:
    """Free every lease and count the double leases the trigger saw (then clear them)."""
    import asyncpg

    raw = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        doubles = int(await raw.fetchval("SELECT count(*) FROM bench_double_leases"))
        await raw.execute("DELETE FROM bench_double_leases")
        await raw.execute(
            "UPDATE work_items SET lease_holder_id = NULL, lease_expires_at = NULL, "
            "rank = rank % 3 WHERE lease_holder_id IS NOT NULL OR rank >= 3"
        )
        await raw.execute("VACUUM ANALYZE work_items")
        # The next run starts without a checkpoint of the last one's writes pending.
        await raw.execute("CHECKPOINT")
        return doubles
    finally:
        await raw.close()


async def queue_id(url: str, name: str) -> int:
    import asyncpg

    raw = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return int(await raw.fetchval("SELECT id FROM queues WHERE name = $1", name))
    finally:
        await raw.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=20, help="length of each HTTP run")
    parser.add_argument("--rate", type=int, default=300, help="open-loop requests a second")
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, url = args.child
        child = {"raw": child_raw_update, "assign": child_assign}[kind]
        result = asyncio.run(child(url))
        result["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        print(json.dumps(result))
        return
    if shutil.which("wrk") is None:
        sys.exit("bench/assign needs wrk (apt-get install wrk)")

    name = asyncio.run(fresh_pg_database())
    url = pg_url(name)
    workdir = Path(tempfile.mkdtemp(prefix="arrears-bench-assign-"))
    results: dict[str, Any] = {"loans": args.loans}
    try:
        built = asyncio.run(build(url, args.loans))
        tokens = built["tokens"]
        print(
            f"built {args.loans:,} accounts, {len(tokens)} collectors in {built['seconds']:.0f} s",
            flush=True,
        )
        raw = run_child("raw", url)
        asyncio.run(_vacuum(url, "loans"))
        ours = run_child("assign", url)
        asyncio.run(_vacuum(url))
        results["assign"] = {"raw": raw, "ours": ours, "ratio": ours["seconds"] / raw["seconds"]}
        challenger = ours["arms"].get("m1:challenger", 0)
        champion = ours["arms"].get("m1:champion", 0)
        results["assign"]["challenger_share"] = challenger / max(1, challenger + champion)
        print(
            f"assign all: one UPDATE {raw['seconds']:.1f} s ({raw['rows']:,} rows); Arrears "
            f"{ours['seconds']:.1f} s ({ours['considered']:,} accounts, {ours['moved']:,} moves)"
            f" ratio {ours['seconds'] / raw['seconds']:.1f}x; peak RSS {ours['peak_rss_mib']} "
            f"MiB; challenger share {results['assign']['challenger_share']:.2%}",
            flush=True,
        )

        bare_queue = asyncio.run(queue_id(url, "M1 early"))
        doubles: dict[str, int] = {}
        asyncio.run(reset_leases(url))
        bare_script = wrk_script(workdir, "/pop", tokens)
        ours_script = wrk_script(workdir, "/api/work/next", tokens)
        # Each server is warmed up (pools filled, statements prepared) before it is measured.
        # The bare pop gets the index its query wants (queue first), for this run only.
        asyncio.run(_execute(url, BARE_INDEX))
        server = bare_server(url, 8093, bare_queue)
        try:
            wrk("http://127.0.0.1:8093/pop", bare_script, 3)
            doubles["bare pop (warm-up)"] = asyncio.run(reset_leases(url))
            bare = wrk("http://127.0.0.1:8093/pop", bare_script, args.seconds)
        finally:
            server.stop()
        doubles["bare pop (wrk)"] = asyncio.run(reset_leases(url))
        asyncio.run(_execute(url, "DROP INDEX bench_bare_pop"))
        server = arrears_server(url, 8092, workdir)
        try:
            base = "http://127.0.0.1:8092"
            wrk(f"{base}/api/work/next", ours_script, 3)
            doubles["next account (warm-up)"] = asyncio.run(reset_leases(url))
            steady = asyncio.run(open_loop(base, tokens, args.rate, args.seconds))
            doubles["next account (open loop)"] = asyncio.run(reset_leases(url))
            ours_http = wrk(f"{base}/api/work/next", ours_script, args.seconds)
            doubles["next account (wrk)"] = asyncio.run(reset_leases(url))
        finally:
            server.stop()
        results["http"] = {
            "bare": {k: v for k, v in bare.items() if k != "output"},
            "ours": {k: v for k, v in ours_http.items() if k != "output"},
            "ratio": ours_http["rps"] / bare["rps"],
            "steady": steady,
            "doubles": doubles,
        }
        print(
            f"next account saturated (wrk, 100 connections, {args.seconds} s): bare pop "
            f"{bare['rps']:.0f} req/s, Arrears {ours_http['rps']:.0f} req/s "
            f"(ratio {ours_http['rps'] / bare['rps']:.2f}, p99 {ours_http.get('p99')}, "
            f"non-2xx {ours_http['errors']})",
            flush=True,
        )
        print(
            f"next account open loop {args.rate}/s from {len(tokens)} collectors: "
            f"{steady['requests']} requests at {steady['achieved_rps']:.0f}/s, p50 "
            f"{steady['p50_ms']:.1f} ms, p99 {steady['p99_ms']:.1f} ms, max "
            f"{steady['max_ms']:.1f} ms, failures {steady['failures']}",
            flush=True,
        )
        print(f"double leases: {doubles}", flush=True)
    finally:
        asyncio.run(drop_pg_database(name))
        shutil.rmtree(workdir, ignore_errors=True)
    if args.write_docs:
        _write_docs(results, args)


def _write_docs(r: dict[str, Any], args: argparse.Namespace) -> None:
    a, h = r["assign"], r["http"]
    steady = h["steady"]
    lines = [
        "## Assignment and next account (`bench/assign`)",
        "",
        f"Command: `python bench/assign --loans {args.loans} --seconds {args.seconds} "
        f"--rate {args.rate} --write-docs`.",
        f"Measured {dt.datetime.now(dt.UTC).date()} on this project's machine "
        f"({os.cpu_count()} cores, Python {platform.python_version()}), PostgreSQL: "
        f"{args.loans:,} open accounts, {COLLECTORS} collectors in 5 queues, a 20 % "
        "challenger on M1.",
        "",
        "| measure | raw limit (same run) | Arrears | ratio | goal |",
        "|---|---|---|---|---|",
        f"| assign every account | one set-based UPDATE: {a['raw']['seconds']:.1f} s "
        f"| {a['ours']['seconds']:.1f} s ({a['ours']['moved']:,} moves written to history; "
        f"peak RSS {a['ours']['peak_rss_mib']} MiB) | **{a['ratio']:.1f}×** | within 3× |",
        f"| next account, saturated (wrk, 100 connections) | bare SKIP LOCKED pop: "
        f"{h['bare']['rps']:.0f} req/s | {h['ours']['rps']:.0f} req/s (p99 {h['ours'].get('p99')})"
        f" | **{h['ratio']:.2f}×** | at least 0.5× |",
        f"| next account, open loop {args.rate} req/s, 100 collectors | — | p50 "
        f"{steady['p50_ms']:.1f} ms, **p99 {steady['p99_ms']:.1f} ms**, max "
        f"{steady['max_ms']:.1f} ms ({steady['requests']:,} requests, "
        f"{steady['failures']} failed) | — | p99 under 20 ms |",
        "",
        f"Challenger share on M1: {a['challenger_share']:.2%} (configured 20 %). "
        "Accounts leased to two collectors at once (a trigger counts every lease handed from "
        "one holder to another without a release): "
        + ", ".join(f"{k}: {v}" for k, v in h["doubles"].items())
        + ".",
    ]
    write_section("assign", lines)


if __name__ == "__main__":
    main()
