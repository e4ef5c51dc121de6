"""Dispatch benchmark: the outbox delivered end to end against a bare loop of the same sends.

    python bench/dispatch --messages 100000 [--concurrency 100] [--write-docs]

Starts the local Twilio-compatible server (``arrears fake-twilio``, no status callbacks, no
faults) in a process of its own and a scratch PostgreSQL database holding N reminders due now
(``service.devtools.outbox_load``), then, each in a fresh child process and against the same
server, with the same requests in flight:

* the raw limit in the same run — a bare loop sending the same N messages through the real
  ``twilio`` SDK (``messages.create_async``), nothing else;
* Arrears' dispatch (``service.contact.sweeper.dispatch_once``): claim (a conditional update),
  the facts of each batch from the database, the compliance guard with them, the SMS rendered
  with the profile's footer, the SDK, the outcome and the contact-log attempt written, every
  decision stored with its inputs — outbox → claim → guard → render → SDK → server → database.

Prints messages per second, the ratio, and the child's resident memory after the first tenth
and at the end (flat means no per-message growth); ``--write-docs`` records them.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import resource
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import common  # noqa: E402
from common import scratch_database, write_section  # noqa: E402

SID = "AC" + "7" * 32
TOKEN = "bench-token"
SENDER = "+8610690001"


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


async def child_bare(base_url: str, count: int, concurrency: int) -> dict[str, Any]:
    """The same messages through the SDK alone, ``concurrency`` in flight."""
    import aiohttp
    from twilio.rest import Client

    from service.contact.channels.twilio import _HttpClient
    from service.devtools.outbox_load import phone_for

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency))
    http = _HttpClient(session, base_url)
    client = Client(SID, TOKEN, http_client=http)
    gate = asyncio.Semaphore(concurrency)
    body = (
        "【Arrears Demo Lender】客户您好，您的贷款（尾号0001）已逾期15天，"
        "逾期金额CNY 500.00，请尽快还款，如有疑问请致电客服。回复TD退订"
    )
    marks: list[float] = []

    async def one(index: int) -> None:
        async with gate:
            await client.messages.create_async(
                to=phone_for(index), from_=SENDER, body=f"{body} #{index}"
            )
            if index == count // 10:
                marks.append(rss_mib())

    started = time.perf_counter()
    # In waves, so the loop's own bookkeeping stays small, as a real sender's would.
    for start in range(0, count, 10_000):
        await asyncio.gather(*(one(i) for i in range(start, min(count, start + 10_000))))
    seconds = time.perf_counter() - started
    await http.close()
    return {"seconds": seconds, "sent": count, "rss_tenth": marks[0] if marks else 0.0}


async def child_dispatch(
    url: str, base_url: str, concurrency: int, batch: int, lanes: int
) -> dict[str, Any]:
    from service.clock import SystemClock
    from service.contact.dispatch import open_dispatcher
    from service.contact.sweeper import dispatch_once
    from service.db.engine import create_engine
    from service.settings import Settings

    settings = Settings(
        database_url=url,
        dispatch="off",
        channel="twilio",
        twilio_account_sid=SID,
        twilio_auth_token=TOKEN,
        twilio_from_number=SENDER,
        twilio_base_url=base_url,
        lender_timezone=os.environ["BENCH_ZONE"],
        send_concurrency=concurrency,
        send_rate_per_second=1_000_000,
        dispatch_batch=batch,
        log_level="WARNING",
    )
    engine = create_engine(settings)
    marks: list[float] = []
    try:
        async with open_dispatcher(settings, engine, SystemClock()) as dispatcher:
            total = int(os.environ["BENCH_COUNT"])

            async def watch() -> None:
                from sqlalchemy import text

                while True:
                    await asyncio.sleep(0.5)
                    async with engine.connect() as conn:
                        sent = await conn.scalar(
                            text("SELECT count(*) FROM outbox WHERE status = 'sent'")
                        )
                    if int(sent or 0) >= total // 10 // int(os.environ.get("BENCH_PROCESSES", "1")):
                        marks.append(rss_mib())
                        return

            watcher = asyncio.ensure_future(watch())
            started = time.perf_counter()
            report = await dispatch_once(dispatcher, parallel=lanes)
            seconds = time.perf_counter() - started
            watcher.cancel()
    finally:
        await engine.dispose()
    return {
        "seconds": seconds,
        "sent": report.outcomes.get("sent", 0),
        "outcomes": dict(report.outcomes),
        "rss_tenth": marks[0] if marks else 0.0,
    }


async def seed(url: str, count: int) -> str:
    from service.db.engine import create_engine
    from service.db.migrate import upgrade
    from service.devtools.outbox_load import seed_due_reminders
    from service.settings import Settings

    engine = create_engine(Settings(database_url=url, dispatch="off"))
    try:
        await upgrade(engine)
        return await seed_due_reminders(engine, count, dt.datetime.now(dt.UTC), prefix="BD")
    finally:
        await engine.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_fake(port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": TOKEN}
    fake = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "fake-twilio", "--port", str(port), "--no-callbacks"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_fake/stats", timeout=1):
                return fake
        except OSError:
            time.sleep(0.1)
    fake.kill()
    raise SystemExit("the fake Twilio server did not start")


def cpu_of(match: str) -> float:
    """CPU seconds used so far by the processes whose command line contains ``match``, and by
    their finished children (PostgreSQL's backends end with their connections)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if match in command:
            total += sum(int(fields[i]) for i in (11, 12, 13, 14)) / tick
    return total


def stats(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_fake/stats", timeout=30) as answer:
        found: dict[str, Any] = json.load(answer)
    return found


def reset(port: int) -> None:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/_fake/reset", method="POST")
    with urllib.request.urlopen(request, timeout=30):
        pass


def dispatchers(
    here: Path, args: argparse.Namespace, url: str, base: str
) -> tuple[dict[str, Any], str]:
    """Arrears' dispatch in ``--processes`` processes at once (as workers scale out), the
    requests in flight shared among them: together as many as the bare loop's."""
    share = max(1, args.concurrency // args.processes)
    command = ["dispatch", url, base, str(share), str(args.batch), str(args.lanes)]
    children = [
        subprocess.Popen(
            [sys.executable, str(here), "--child", *command],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(args.processes)
    ]
    started = time.perf_counter()
    outputs = [child.communicate() for child in children]
    seconds = time.perf_counter() - started
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    merged = {
        # From the first start to the last finish, child start-up included.
        "seconds": seconds,
        "sent": sum(r["sent"] for r in results),
        "outcomes": {
            k: sum(r["outcomes"].get(k, 0) for r in results) for k in results[0]["outcomes"]
        },
        "rss_tenth": max(r["rss_tenth"] for r in results),
        "rss_end": max(r["rss_end"] for r in results),
        "peak_rss_mib": max(r["peak_rss_mib"] for r in results),
        "cpu_seconds": sum(r["cpu_seconds"] for r in results),
        "processes": args.processes,
    }
    return merged, "".join(err for _, err in outputs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--lanes", type=int, default=3, help="batches delivered at once")
    parser.add_argument(
        "--processes", type=int, default=1, help="dispatcher processes (the bare loop: one)"
    )
    parser.add_argument("--workdir", default=str(ROOT / "bench" / "out"))
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "bare":
            result = asyncio.run(child_bare(rest[0], int(rest[1]), int(rest[2])))
        else:
            result = asyncio.run(
                child_dispatch(rest[0], rest[1], int(rest[2]), int(rest[3]), int(rest[4]))
            )
        result["rss_end"] = rss_mib()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        result["cpu_seconds"] = usage.ru_utime + usage.ru_stime
        result["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        print(json.dumps(result))
        return

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    fake = start_fake(port)
    here = Path(__file__).parent
    try:
        with scratch_database("postgresql", Path(args.workdir), "dispatch") as url:
            zone = asyncio.run(seed(url, args.messages))
            os.environ["BENCH_ZONE"] = zone
            os.environ["BENCH_COUNT"] = str(args.messages)
            os.environ["BENCH_PROCESSES"] = str(args.processes)
            before = cpu_of("fake-twilio"), cpu_of("postgres")
            bare, _ = common.run_child(
                here, ["bare", base, str(args.messages), str(args.concurrency)]
            )
            bare["cpu_fake"] = cpu_of("fake-twilio") - before[0]
            bare["cpu_postgres"] = cpu_of("postgres") - before[1]
            bare_server = stats(port)["messages"]["created"]
            reset(port)
            before = cpu_of("fake-twilio"), cpu_of("postgres")
            ours, logs = dispatchers(here, args, url, base)
            ours["cpu_fake"] = cpu_of("fake-twilio") - before[0]
            ours["cpu_postgres"] = cpu_of("postgres") - before[1]
            server = stats(port)
    finally:
        fake.terminate()
        fake.wait(timeout=10)
    bare_rate = bare["sent"] / bare["seconds"]
    our_rate = ours["sent"] / ours["seconds"]
    result = {
        "messages": args.messages,
        "concurrency": args.concurrency,
        "batch": args.batch,
        "lanes": args.lanes,
        "bare": {**bare, "rate": bare_rate, "server_count": bare_server},
        "ours": {**ours, "rate": our_rate, "server_count": server["messages"]["created"]},
        "duplicates": len(server["duplicates"]),
        "ratio": our_rate / bare_rate,
    }
    print(
        f"bare SDK loop  {bare_rate:8.0f} msg/s ({bare['sent']:,} in {bare['seconds']:.1f} s, "
        f"RSS {bare['rss_tenth']:.0f} → {bare['rss_end']:.0f} MiB)\n"
        f"arrears        {our_rate:8.0f} msg/s ({ours['sent']:,} in {ours['seconds']:.1f} s, "
        f"RSS {ours['rss_tenth']:.0f} → {ours['rss_end']:.0f} MiB; {ours['outcomes']})\n"
        f"ratio          {result['ratio']:.2f}   duplicates at the server: {result['duplicates']}\n"
        f"CPU seconds    bare: client {bare['cpu_seconds']:.1f}, server {bare['cpu_fake']:.1f}, "
        f"PostgreSQL {bare['cpu_postgres']:.1f}; arrears: {ours['cpu_seconds']:.1f}, server "
        f"{ours['cpu_fake']:.1f}, PostgreSQL {ours['cpu_postgres']:.1f}",
        flush=True,
    )
    if logs.strip():
        print(logs[-2000:], file=sys.stderr)
    if args.write_docs:
        _write_docs(result, args)


def _write_docs(r: dict[str, Any], args: argparse.Namespace) -> None:
    command = (
        f"python bench/dispatch --messages {args.messages} --concurrency {args.concurrency} "
        f"--batch {args.batch} --lanes {args.lanes} --processes {args.processes} --write-docs"
    )
    head, data = common.measured_on(command, {"reminders": args.messages})
    bare, ours = r["bare"], r["ours"]
    lines = [
        "## Dispatch (`bench/dispatch`)",
        "",
        head,
        data + "; PostgreSQL; the local Twilio-compatible server in a process of its own "
        "(no status callbacks, no faults); the same requests in flight in both runs.",
        "",
        "| run | messages/s | time | RSS after 10 % → at the end | peak RSS |",
        "|---|---|---|---|---|",
        f"| bare loop: the SDK's `create_async` alone (the raw limit, same run) "
        f"| {bare['rate']:,.0f} | {bare['seconds']:.1f} s "
        f"| {bare['rss_tenth']:.0f} → {bare['rss_end']:.0f} MiB | {bare['peak_rss_mib']} MiB |",
        f"| Arrears: claim → guard → render → SDK → server → outcome and attempt stored "
        f"| {ours['rate']:,.0f} | {ours['seconds']:.1f} s "
        f"| {ours['rss_tenth']:.0f} → {ours['rss_end']:.0f} MiB | {ours['peak_rss_mib']} MiB |",
        "",
        f"Ratio **{r['ratio']:.2f}×** the bare loop (goal: at least 0.6×). The server counted "
        f"{ours['server_count']:,} messages from Arrears, {r['duplicates']} sent twice.",
        "",
        f"CPU seconds, bare loop: client {bare['cpu_seconds']:.0f}, server {bare['cpu_fake']:.0f}"
        f"; Arrears ({ours['processes']} process(es)): dispatch {ours['cpu_seconds']:.0f}, "
        f"server {ours['cpu_fake']:.0f}, PostgreSQL {ours['cpu_postgres']:.0f}. "
        f"Per message: the SDK alone {1000 * bare['cpu_seconds'] / bare['sent']:.2f} ms; "
        f"Arrears {1000 * ours['cpu_seconds'] / ours['sent']:.2f} ms in its processes and "
        f"{1000 * ours['cpu_postgres'] / ours['sent']:.2f} ms in PostgreSQL. The bare loop is "
        "bound by its own process; dispatch by the machine's two cores, shared by the "
        "dispatchers, the server and PostgreSQL.",
    ]
    write_section("dispatch", lines)


if __name__ == "__main__":
    main()
