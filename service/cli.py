"""The ``arrears`` command line. Each verb is a thin shell over the same functions the API uses.

Exit codes: 0 success; 1 the work ran but rejected some input (e.g. bad import rows); 2 the
command failed (bad arguments, configuration, a failed import).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import getpass
import json
import os
import secrets
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from service import auth
from service.clock import lender_today
from service.db import create_engine
from service.demo import write_demo_portfolio
from service.errors import ArrearsError
from service.ingest.pipeline import (
    ImportOptions,
    ImportReport,
    import_directory,
    list_errors,
    load_report,
)
from service.logs import configure_logging
from service.migrate import current_revision, downgrade, head_revision, upgrade
from service.models import ImportRun, Role, User
from service.settings import Settings

if TYPE_CHECKING:
    from service.treatment import PlanReport

log = structlog.get_logger(__name__)

DEMO_USERS = (
    ("admin", "Admin", Role.admin, "zh-CN,en"),
    ("supervisor", "Supervisor 主管", Role.supervisor, "zh-CN,en"),
    ("collector1", "Collector 王芳", Role.collector, "zh-CN"),
    ("collector2", "Collector 李强", Role.collector, "zh-CN"),
    ("collector3", "Collector Maria Lopez", Role.collector, "en"),
    ("collector4", "Collector 陈静", Role.collector, "zh-CN,en"),
)


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


def _print_report(report: ImportReport) -> None:
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


def _report_exit(report: ImportReport) -> int:
    if report.status != "completed":
        return 2
    return 1 if report.error_count else 0


async def cmd_db(settings: Settings, args: argparse.Namespace) -> int:
    engine = create_engine(settings)
    try:
        if args.action == "upgrade":
            await upgrade(engine, args.revision or "head")
        elif args.action == "downgrade":
            await downgrade(engine, args.revision or "base")
        current = await current_revision(engine)
        print(f"database at revision {current or 'base'} (head {head_revision()})")
    finally:
        await engine.dispose()
    return 0


async def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    engine = create_engine(settings)
    try:
        await upgrade(engine)
        report = await import_directory(
            engine,
            Path(args.directory),
            ImportOptions(
                default_region=settings.default_phone_region,
                chunk_rows=settings.import_chunk_rows,
                source="cli",
                actor=os.environ.get("USER", "cli"),
                refresh_as_of=args.as_of or lender_today(settings.lender_timezone),
                cob=settings.cob_config(),
            ),
            TqdmProgress(),
        )
    finally:
        await engine.dispose()
    _print_report(report)
    return _report_exit(report)


async def cmd_imports(settings: Settings, args: argparse.Namespace) -> int:
    engine = create_engine(settings)
    try:
        if args.action == "list":
            async with engine.connect() as conn:
                rows = (
                    await conn.execute(
                        select(ImportRun).order_by(ImportRun.id.desc()).limit(args.limit)
                    )
                ).all()
            for row in rows:
                print(
                    f"#{row.id:<5} {row.started_at:%Y-%m-%d %H:%M} {row.status.value:<9} "
                    f"{row.source:<6} {row.actor:<12} errors {row.error_count:<7} {row.label}"
                )
            return 0
        report = await load_report(engine, args.id, sample=0)
        _print_report(report)
        if args.errors:
            async with engine.connect() as conn:
                errors = await list_errors(conn, args.id, limit=args.errors, offset=0)
            for error in errors:
                print(f"    {error.file}:{error.line} [{error.column}] {error.reason}")
        return 0
    finally:
        await engine.dispose()


async def _create_demo_users(settings: Settings) -> list[tuple[str, str, str]]:
    created: list[tuple[str, str, str]] = []
    engine = create_engine(settings)
    try:
        async with engine.begin() as conn:
            for username, name, role, languages in DEMO_USERS:
                if await conn.scalar(select(User.id).where(User.username == username)):
                    continue
                password = secrets.token_urlsafe(9)
                await auth.create_user(
                    conn,
                    username=username,
                    display_name=name,
                    role=role,
                    password=password,
                    languages=languages,
                    actor="demo",
                )
                created.append((username, role.value, password))
    finally:
        await engine.dispose()
    return created


async def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    directory = Path(args.dir) if args.dir else settings.var_dir / "demo"
    as_of = (
        dt.date.fromisoformat(args.as_of) if args.as_of else lender_today(settings.lender_timezone)
    )
    counts = write_demo_portfolio(directory, borrowers=args.borrowers, as_of=as_of, seed=args.seed)
    print(
        f"demo portfolio written to {directory}: {counts.borrowers} borrowers, "
        f"{counts.loans} loans, "
        f"{counts.installments} installments, {counts.payments} payments, "
        f"{counts.contacts} contacts, {counts.attempts} attempts"
    )
    if args.no_import:
        return 0
    engine = create_engine(settings)
    try:
        await upgrade(engine)
        report = await import_directory(
            engine,
            directory,
            ImportOptions(
                default_region=settings.default_phone_region, source="demo", actor="demo"
            ),
            TqdmProgress(),
        )
    finally:
        await engine.dispose()
    users = await _create_demo_users(settings)
    if report.status == "completed":
        await _demo_floor(settings, as_of)
    _print_report(report)
    _print_demo_users(users)
    return _report_exit(report)


async def _demo_floor(settings: Settings, as_of: dt.date) -> None:
    """Queues and members, the first close of business (which assigns), then the day's work."""
    from service.assignment import assign, strategies_for
    from service.cob import run_cob
    from service.demo import seed_demo_day, seed_demo_queues

    strategies = strategies_for(settings)
    engine = create_engine(settings)
    try:
        async with engine.begin() as conn:
            await seed_demo_queues(conn)
        cob = await run_cob(
            engine, as_of, settings.cob_config(), actor="demo", assignment=strategies
        )
        print(f"close of business {as_of.isoformat()}: {cob.loans} loans, {cob.buckets}")
        async with engine.begin() as conn:
            await seed_demo_day(conn, as_of)
            await assign(conn, strategies.registry, settings, as_of, actor="demo")
    finally:
        await engine.dispose()


def _print_demo_users(created: list[tuple[str, str, str]]) -> None:
    if not created:
        return
    print("\nDemo users (passwords are shown once; change them with `arrears users set-password`):")
    for username, role, password in created:
        print(f"  {username:<12} {role:<11} {password}")
    print()


def _read_password(env_name: str) -> str:
    password = os.environ.get(env_name)
    if password:
        return password
    if not sys.stdin.isatty():
        raise ArrearsError(f"set {env_name} or run interactively to enter a password")
    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        raise ArrearsError("the passwords differ")
    return first


async def cmd_users(settings: Settings, args: argparse.Namespace) -> int:
    engine = create_engine(settings)
    try:
        await upgrade(engine)
        if args.action == "add":
            password = _read_password("ARREARS_NEW_PASSWORD")
            async with engine.begin() as conn:
                await auth.create_user(
                    conn,
                    username=args.username,
                    display_name=args.name or args.username,
                    role=Role(args.role),
                    password=password,
                    languages=args.languages,
                    capacity=args.capacity,
                )
            print(f"user {args.username} created ({args.role})")
        elif args.action == "set":
            from service.assignment import update_user

            async with engine.begin() as conn:
                changed = await update_user(
                    conn,
                    args.username,
                    _actor(),
                    capacity=args.capacity,
                    no_capacity=args.no_capacity,
                    languages=args.languages,
                    team=args.team,
                )
            print(f"user {args.username}: {json.dumps(changed, default=str)}")
        elif args.action == "set-password":
            password = _read_password("ARREARS_NEW_PASSWORD")
            async with engine.begin() as conn:
                await auth.set_password(conn, args.username, password)
            print(f"password of {args.username} changed")
        else:
            async with engine.connect() as conn:
                rows = (await conn.execute(select(User).order_by(User.username))).all()
            for row in rows:
                state = "active" if row.active else "inactive"
                capacity = "-" if row.capacity is None else str(row.capacity)
                print(
                    f"{row.username:<16} {row.role.value:<11} {state:<9} "
                    f"{row.languages:<12} {capacity:>6}  {row.display_name}"
                )
        return 0
    finally:
        await engine.dispose()


async def _prepare_embedded(settings: Settings, borrowers: int) -> None:
    """First run of the embedded mode: migrate, then load the demo lender once."""
    engine = create_engine(settings)
    try:
        await upgrade(engine)
        async with engine.connect() as conn:
            users = await conn.scalar(select(func.count()).select_from(User))
    finally:
        await engine.dispose()
    if users:
        return
    args = argparse.Namespace(
        dir=None, borrowers=borrowers, seed=20261124, as_of=None, no_import=False
    )
    await cmd_demo(settings, args)


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from aiohttp import web

    from service.web.app import create_app

    if args.demo:
        asyncio.run(_prepare_embedded(settings, args.borrowers))
    else:
        engine = create_engine(settings)
        asyncio.run(_upgrade_and_dispose(engine))
    host = args.host or settings.host
    port = args.port or settings.port
    print(f"Arrears is serving on http://{host}:{port}/  (Ctrl-C stops it)", flush=True)
    web.run_app(create_app(settings), host=host, port=port, print=None)
    return 0


async def _upgrade_and_dispose(engine: Any) -> None:
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


async def cmd_cob(settings: Settings, args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from service.assignment import strategies_for
    from service.cob import run_cob

    strategies = strategies_for(settings)
    if args.as_of:
        days = [dt.date.fromisoformat(args.as_of)]
    elif args.date_from and args.date_to:
        first, last = dt.date.fromisoformat(args.date_from), dt.date.fromisoformat(args.date_to)
        if last < first:
            raise ArrearsError("--to is before --from")
        days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    else:
        days = [lender_today(settings.lender_timezone)]
    engine = create_engine(settings)
    try:
        await upgrade(engine)
        for day in tqdm(days, unit="day", desc="close of business", disable=None):
            report = await run_cob(
                engine,
                day,
                settings.cob_config(),
                actor=_actor(),
                retention_days=settings.snapshot_retention_days,
                assignment=strategies,
            )
            buckets = ", ".join(f"{k} {v}" for k, v in sorted(report.buckets.items()))
            print(
                f"COB {day.isoformat()}: {report.loans} loans ({report.resumed} resumed) "
                f"in {report.seconds:.1f} s ({buckets})"
            )
            if report.plan is not None:
                planned = ", ".join(
                    f"{channel} {status} {n}"
                    for (channel, status), n in sorted(report.plan.contacts.items())
                )
                print(f"  planned: {planned or 'nothing'}")
    finally:
        await engine.dispose()
    return 0


async def cmd_assign(settings: Settings, args: argparse.Namespace) -> int:
    from service.assignment import assign, strategies_for

    strategies = strategies_for(settings)
    async with _migrated(settings) as engine, engine.begin() as conn:
        report = await assign(
            conn,
            strategies.registry,
            settings,
            lender_today(settings.lender_timezone),
            everything=args.all,
            actor=_actor(),
        )
    arms = ", ".join(f"{k} {v}" for k, v in sorted(report.arms.items())) or "none"
    print(
        f"assigned: {report.considered} considered, {report.moved} moved, "
        f"{report.unrouted} fit no queue, in {report.seconds:.1f} s; arms: {arms}"
    )
    return 0


async def cmd_handover(settings: Settings, args: argparse.Namespace) -> int:
    from service.assignment import handover

    async with _migrated(settings) as engine, engine.begin() as conn:
        result = await handover(
            conn,
            settings,
            _actor(),
            from_user=args.from_user,
            to_user=args.to_user,
            to_queue=args.to_queue,
            today=lender_today(settings.lender_timezone),
        )
    target = result["to"] or f"queue {result['to_queue']!r}"
    print(
        f"handed over from {result['from']} to {target}: {result['accounts']} accounts, "
        f"{result['promises']} promises, {result['callbacks']} callbacks; "
        f"{result['from']} deactivated"
    )
    return 0


async def cmd_queues(settings: Settings, args: argparse.Namespace) -> int:
    from service import assignment

    async with _migrated(settings) as engine, engine.begin() as conn:
        if args.action == "defaults":
            created = await assignment.install_default_queues(conn)
            print(f"created {len(created)} queue(s): {', '.join(created) or 'none needed'}")
        elif args.action == "add":
            await assignment.create_queue(
                conn,
                assignment.strategies_for(settings).registry,
                name=args.name,
                kind=args.kind,
                routing=_json_object(args.routing, "--routing"),
                position=args.position,
                collector_strategy=args.strategy,
            )
            print(f"queue {args.name} created")
        elif args.action == "member":
            await assignment.add_member(conn, args.queue, args.username)
            print(f"{args.username} works {args.queue}")
        else:
            for row in await assignment.queue_overview(conn):
                print(
                    f"{row['position']:>4} {row['name']:<22} {row['kind']:<9} "
                    f"{row['collector_strategy']:<15} members {row['members']:>3}  "
                    f"accounts {row['accounts']:>8}  {json.dumps(row['routing'])}"
                )
    return 0


async def cmd_experiments(settings: Settings, args: argparse.Namespace) -> int:
    from decimal import Decimal, InvalidOperation

    from service import assignment

    async with _migrated(settings) as engine, engine.begin() as conn:
        if args.action == "start":
            try:
                share = Decimal(args.share)
            except InvalidOperation:
                raise ArrearsError("--share must be a fraction, e.g. 0.2") from None
            await assignment.create_experiment(
                conn,
                assignment.strategies_for(settings).registry,
                key=args.key,
                segment=_json_object(args.segment, "--segment"),
                challenger=args.challenger,
                share=share,
                actor=_actor(),
            )
            print(f"experiment {args.key} started; it applies from the next assignment run")
        elif args.action == "results":
            rows = await assignment.experiment_results(
                conn,
                args.key,
                dt.date.fromisoformat(args.date_from),
                dt.date.fromisoformat(args.date_to),
                settings.cob_config().buckets.labels,
            )
            print(json.dumps(rows, default=str, indent=2))
        else:
            for row in await assignment.experiment_overview(conn):
                print(json.dumps(row, default=str))
    return 0


async def cmd_check_contact(settings: Settings, args: argparse.Namespace) -> int:
    from service.compliance import check_contact

    try:
        at = dt.datetime.fromisoformat(args.at)
    except ValueError:
        raise ArrearsError(f"--at {args.at!r} is not an ISO 8601 time") from None
    async with _migrated(settings) as engine, engine.connect() as conn:
        decision = await check_contact(
            conn,
            settings,
            loan_ref=args.loan,
            party_ref=args.party,
            channel=args.channel,
            at=at,
            profile=args.profile,
        )
    print(json.dumps(decision.as_dict(), ensure_ascii=False))
    return 0


async def cmd_plan(settings: Settings, args: argparse.Namespace) -> int:
    from service.assignment import strategies_for
    from service.cob import dry_run_plan

    if not args.dry_run:
        raise ArrearsError(
            "plans are written by close of business (arrears cob --as-of DATE); "
            "add --dry-run to see a day's plan without writing it"
        )
    try:
        day = dt.date.fromisoformat(args.day)
    except ValueError:
        raise ArrearsError(f"--for {args.day!r} is not a date (YYYY-MM-DD)") from None
    strategies = strategies_for(settings)
    async with _migrated(settings) as engine:
        report = await dry_run_plan(engine, day, settings.cob_config(), strategies)
    if args.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False))
        return 0
    print(render_plan(report))
    return 0


def render_plan(report: PlanReport) -> str:
    """The dry run as a person reads it: totals by channel, reasons, steps and tasks."""
    statuses = ("pending", "deferred", "blocked", "review")
    lines = [
        f"Plan for {report.day.isoformat()} (dry run: nothing written); "
        f"plans {', '.join(report.plans)}",
        f"accounts considered {report.accounts}"
        + (f"; {report.without_plan} without a plan" if report.without_plan else "")
        + f"; lost contact (失联): {report.lost_marked} marked, "
        f"{report.lost_cleared} reached again",
        "",
        f"{'channel':<10}" + "".join(f"{name:>10}" for name in ("send", *statuses[1:])),
    ]
    for channel in ("sms", "call", "letter"):
        counts = [report.contacts.get((channel, status), 0) for status in statuses]
        lines.append(f"{channel:<10}" + "".join(f"{n:>10}" for n in counts))
    if report.already_sent:
        lines.append(f"already sent or on their way: {report.already_sent}")
    if report.expired:
        lines.append(f"earlier days' calls and texts never sent, cancelled: {report.expired}")
    if report.withdrawn:
        lines.append(
            f"planned before, no longer applying (paid, closed, plan changed): {report.withdrawn}"
        )
    lines += ["", "not sent today, by reason:"]
    if not report.reasons:
        lines.append("  none")
    for (status, reason), n in sorted(report.reasons.items(), key=lambda i: (i[0][0], -i[1])):
        if status != "pending":
            lines.append(f"  {status:<9} {reason:<34} {n:>7}")
    later = [(r, n) for (s, r), n in report.reasons.items() if s == "pending"]
    if later:
        lines += ["", "sent later the same day, by reason:"]
        lines += [f"  {reason:<44} {n:>7}" for reason, n in sorted(later, key=lambda i: -i[1])]
    lines += ["", "by step:"]
    for (step, channel, status), n in sorted(report.steps.items()):
        lines.append(f"  {step:<22} {channel:<7} {status:<9} {n:>7}")
    lines += ["", "tasks for people:"]
    if not report.tasks:
        lines.append("  none")
    kinds = sorted({kind for kind, _ in report.tasks})
    for kind in kinds:
        new, old = report.tasks.get((kind, "new"), 0), report.tasks.get((kind, "existing"), 0)
        lines.append(f"  {kind:<22} {new:>5} new  {old:>5} already open or done")
    return "\n".join(lines)


async def cmd_plans(settings: Settings, args: argparse.Namespace) -> int:
    from service.assignment import strategies_for
    from service.plans import install_default_plan, list_plans, load_plan_file

    async with _migrated(settings) as engine:
        if args.plans_verb == "load":
            strategies = strategies_for(settings)
            async with engine.begin() as conn:
                stored = await load_plan_file(conn, Path(args.file), strategies.registry, _actor())
            print(f"stored plan {stored.spec.name} version {stored.version}")
            return 0
        async with engine.begin() as conn:
            await install_default_plan(conn, _actor())
            plans = await list_plans(conn)
    for plan in plans:
        mark = "*" if plan["active"] else " "
        print(
            f"{mark} {plan['name']}@{plan['version']:<3} portfolio={plan['portfolio'] or '(all)'} "
            f"strategy={plan['strategy']} steps={','.join(plan['steps'])}"
        )
    return 0


async def cmd_letter(settings: Settings, args: argparse.Namespace) -> int:
    from service.letters import letter_for

    async with _migrated(settings) as engine, engine.connect() as conn:
        html, pdf = await letter_for(conn, settings, args.loan, args.kind, args.as_of, args.format)
    data = pdf if pdf is not None else html.encode()
    if args.out:
        await asyncio.to_thread(Path(args.out).write_bytes, data)
        print(f"wrote {args.out} ({len(data)} bytes)")
    elif args.format == "pdf":
        sys.stdout.buffer.write(data)
    else:
        print(html)
    return 0


async def cmd_tasks(settings: Settings, args: argparse.Namespace) -> int:
    from sqlalchemy import true

    from service.treatment import close_task, list_tasks

    async with _migrated(settings) as engine, engine.begin() as conn:
        if args.tasks_verb == "close":
            closed = await close_task(conn, args.id, args.status, args.note, _actor(), true())
            print(f"task {closed['id']} ({closed['kind']}, {closed['loan_ref']}): {args.status}")
            return 0
        tasks = await list_tasks(conn, true(), open_only=not args.all, limit=args.limit)
    for task in tasks:
        print(
            f"{task['id']:>7}  {task['kind']:<20} {task['status']!s:<9} {task['loan_ref']:<14} "
            f"DPD {task['days_past_due']:>4}  {task['outstanding']:>12}  due {task['due_on']}"
        )
    return 0


def cmd_strategies(settings: Settings, args: argparse.Namespace) -> int:
    from service.assignment import strategies_for

    registry = strategies_for(settings).registry
    for kind in ("routing", "collector", "treatment"):
        for name in registry.names(kind):
            print(f"{kind:<10} {name:<18} {registry.source(name)}")
    return 0


@contextlib.asynccontextmanager
async def _migrated(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """An engine on a database brought to the latest schema, disposed of afterwards."""
    engine = create_engine(settings)
    try:
        await upgrade(engine)
        yield engine
    finally:
        await engine.dispose()


def _actor() -> str:
    return os.environ.get("USER", "cli")


def _json_object(raw: str, option: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ArrearsError(f"{option} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ArrearsError(f"{option} must be a JSON object")
    return value


async def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    from service.exports import account_rows

    engine = create_engine(settings)
    try:
        async for chunk in account_rows(engine, dt.date.fromisoformat(args.as_of)):
            sys.stdout.write(chunk)
    finally:
        await engine.dispose()
    return 0


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    from workers.main import create_worker

    worker = create_worker(settings, burst=args.burst)
    worker.run()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="arrears", description=__doc__.splitlines()[0])
    verbs = parser.add_subparsers(dest="verb", required=True)

    run = verbs.add_parser("run", help="embedded mode: migrate, load the demo lender once, serve")
    run.add_argument("--host")
    run.add_argument("--port", type=int)
    run.add_argument("--borrowers", type=int, default=5_000, help="demo size on first run")
    run.set_defaults(demo=True)

    serve = verbs.add_parser("serve", help="migrate and serve the web app and API")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(demo=False, borrowers=0)

    db = verbs.add_parser("db", help="schema migrations")
    db.add_argument("action", choices=("upgrade", "downgrade", "current"))
    db.add_argument("revision", nargs="?")

    imp = verbs.add_parser("import", help="import a directory of contract CSV files")
    imp.add_argument("directory")
    imp.add_argument(
        "--as-of",
        type=dt.date.fromisoformat,
        metavar="YYYY-MM-DD",
        help="the lender's date the changed loans' positions are brought to (default today)",
    )

    imports = verbs.add_parser("imports", help="read stored import reports")
    imports_verbs = imports.add_subparsers(dest="action", required=True)
    listing = imports_verbs.add_parser("list")
    listing.add_argument("--limit", type=int, default=20)
    show = imports_verbs.add_parser("show")
    show.add_argument("id", type=int)
    show.add_argument("--errors", type=int, default=100, help="how many errors to print")

    demo = verbs.add_parser("demo", help="write (and import) a synthetic lender portfolio")
    demo.add_argument("--borrowers", type=int, default=5_000)
    demo.add_argument("--dir", help="where to write the CSV files (default var/demo)")
    demo.add_argument("--as-of", help="the portfolio's date, YYYY-MM-DD (default today)")
    demo.add_argument("--seed", type=int, default=20261124)
    demo.add_argument("--no-import", action="store_true", help="only write the files")

    users = verbs.add_parser("users", help="manage users (password from ARREARS_NEW_PASSWORD)")
    users_verbs = users.add_subparsers(dest="action", required=True)
    add = users_verbs.add_parser("add")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.add_argument("--name")
    add.add_argument("--languages", default="zh-CN")
    add.add_argument("--capacity", type=int, help="most open accounts at once (collectors)")
    change = users_verbs.add_parser("set", help="capacity, languages, team")
    change.add_argument("username")
    limit = change.add_mutually_exclusive_group()
    limit.add_argument("--capacity", type=int, help="most open accounts at once")
    limit.add_argument("--no-capacity", action="store_true", help="no limit")
    change.add_argument("--languages", help="comma-separated locales, e.g. zh-CN,en")
    change.add_argument("--team", help="team name (created if new)")
    passwd = users_verbs.add_parser("set-password")
    passwd.add_argument("username")
    users_verbs.add_parser("list")

    cob = verbs.add_parser("cob", help="close of business: positions, snapshots (default today)")
    cob.add_argument("--as-of", help="YYYY-MM-DD")
    cob.add_argument("--from", dest="date_from", help="backfill from YYYY-MM-DD ...")
    cob.add_argument("--to", dest="date_to", help="... to YYYY-MM-DD, one COB a day")

    export = verbs.add_parser("export", help="export a close of business as CSV")
    export.add_argument("what", choices=("accounts",))
    export.add_argument("--as-of", required=True, help="YYYY-MM-DD")
    export.add_argument("--format", choices=("csv",), default="csv")

    assign = verbs.add_parser("assign", help="assign accounts to queues and collectors now")
    assign.add_argument("--all", action="store_true", help="every open account, not only changed")

    hand = verbs.add_parser(
        "handover", help="离职移交: move a leaving collector's work, deactivate"
    )
    hand.add_argument("--from", dest="from_user", required=True, metavar="USER")
    target = hand.add_mutually_exclusive_group(required=True)
    target.add_argument("--to", dest="to_user", metavar="USER")
    target.add_argument("--to-queue", dest="to_queue", metavar="QUEUE")

    queues = verbs.add_parser("queues", help="collector queues and their routing")
    queue_verbs = queues.add_subparsers(dest="action", required=True)
    queue_verbs.add_parser("list")
    queue_verbs.add_parser("defaults", help="create the source policies' queues")
    qadd = queue_verbs.add_parser("add")
    qadd.add_argument("name")
    qadd.add_argument("--kind", default="collector")
    qadd.add_argument("--routing", default="{}", help='JSON, e.g. {"buckets": ["M2"]}')
    qadd.add_argument("--position", type=int, default=100)
    qadd.add_argument("--strategy", default="sticky", help="collector choice strategy")
    member = queue_verbs.add_parser("member", help="add a collector to a queue")
    member.add_argument("queue")
    member.add_argument("username")

    exp = verbs.add_parser("experiments", help="champion/challenger experiments")
    exp_verbs = exp.add_subparsers(dest="action", required=True)
    exp_verbs.add_parser("list")
    start = exp_verbs.add_parser("start")
    start.add_argument("key")
    start.add_argument("--segment", default="{}", help='JSON, e.g. {"buckets": ["M1"]}')
    start.add_argument("--challenger", required=True)
    start.add_argument("--share", required=True, help="fraction of the segment, e.g. 0.2")
    results = exp_verbs.add_parser("results")
    results.add_argument("key")
    results.add_argument("--from", dest="date_from", required=True)
    results.add_argument("--to", dest="date_to", required=True)

    verbs.add_parser("strategies", help="list the registered strategies and where they come from")

    check = verbs.add_parser("check-contact", help="the compliance guard's verdict on a contact")
    check.add_argument("--loan", required=True, metavar="REF")
    check.add_argument("--channel", required=True, choices=("call", "sms"))
    check.add_argument("--party", required=True, metavar="debtor|CONTACT_REF")
    check.add_argument("--at", required=True, metavar="ISO8601", help="with its offset")
    check.add_argument("--profile", choices=("cn", "us", "uk"))

    plan = verbs.add_parser("plan", help="a day's treatment plan: what would be sent and why not")
    plan.add_argument("--for", dest="day", required=True, metavar="YYYY-MM-DD")
    plan.add_argument("--dry-run", action="store_true", help="write nothing (required)")
    plan.add_argument("--json", action="store_true", help="the counts as JSON")

    plans = verbs.add_parser("plans", help="treatment plans: list, load a new version")
    plans_verbs = plans.add_subparsers(dest="plans_verb", required=True)
    plans_verbs.add_parser("list", help="every version; * marks the ones in use")
    plans_load = plans_verbs.add_parser("load", help="store a plan file (TOML) as a new version")
    plans_load.add_argument("file")

    tasks = verbs.add_parser("tasks", help="field visits, agency placements, legal reviews ...")
    tasks_verbs = tasks.add_subparsers(dest="tasks_verb", required=True)
    tasks_list = tasks_verbs.add_parser("list", help="open tasks (--all: every task)")
    tasks_list.add_argument("--all", action="store_true")
    tasks_list.add_argument("--limit", type=int, default=200)
    tasks_close = tasks_verbs.add_parser("close", help="record a task's outcome")
    tasks_close.add_argument("id", type=int)
    tasks_close.add_argument("--status", required=True, choices=("done", "failed", "cancelled"))
    tasks_close.add_argument("--note", default="", help="what happened (e.g. nobody at home)")

    letter = verbs.add_parser("letter", help="render a loan's due or overdue notice")
    letter.add_argument("--loan", required=True, metavar="REF")
    letter.add_argument("--kind", required=True, choices=("due_notice", "overdue_notice"))
    letter.add_argument("--format", choices=("html", "pdf"), default="html")
    letter.add_argument("--as-of", type=dt.date.fromisoformat, metavar="YYYY-MM-DD")
    letter.add_argument("--out", metavar="FILE")

    worker = verbs.add_parser("worker", help="run an arq worker (needs REDIS_URL)")
    worker.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    return parser


ASYNC_VERBS = {
    "db": cmd_db,
    "import": cmd_import,
    "imports": cmd_imports,
    "demo": cmd_demo,
    "users": cmd_users,
    "cob": cmd_cob,
    "export": cmd_export,
    "assign": cmd_assign,
    "handover": cmd_handover,
    "queues": cmd_queues,
    "experiments": cmd_experiments,
    "check-contact": cmd_check_contact,
    "plan": cmd_plan,
    "plans": cmd_plans,
    "letter": cmd_letter,
    "tasks": cmd_tasks,
}
SYNC_VERBS = {
    "run": cmd_serve,
    "serve": cmd_serve,
    "worker": cmd_worker,
    "strategies": cmd_strategies,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        configure_logging(settings)
        if args.verb in ASYNC_VERBS:
            return asyncio.run(ASYNC_VERBS[args.verb](settings, args))
        return SYNC_VERBS[args.verb](settings, args)
    except ArrearsError as exc:
        print(f"arrears: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
