"""``arrears db upgrade|downgrade|current``: schema migrations; ``arrears db prune-partitions
[--dry-run]``: drop the months of the contact log, the guard's decisions and the audit log
past the retention (PostgreSQL; docs/contact-log.md, "Volume and retention")."""

from __future__ import annotations

import argparse

from sqlalchemy.ext.asyncio import AsyncEngine

from service.cli.common import Verbs, actor, verb
from service.clock import utcnow
from service.db.engine import create_engine
from service.db.migrate import current_revision, downgrade, head_revision, upgrade
from service.portfolio.retention import prune_partitions
from service.settings import Settings


async def cmd_db(settings: Settings, args: argparse.Namespace) -> int:
    engine = create_engine(settings)
    try:
        if args.action == "prune-partitions":
            return await _prune(engine, settings, dry_run=args.dry_run)
        if args.action == "upgrade":
            await upgrade(engine, args.revision or "head")
        elif args.action == "downgrade":
            await downgrade(engine, args.revision or "base")
        current = await current_revision(engine)
        print(f"database at revision {current or 'base'} (head {head_revision()})")
    finally:
        await engine.dispose()
    return 0


async def _prune(engine: AsyncEngine, settings: Settings, *, dry_run: bool) -> int:
    if engine.dialect.name != "postgresql":
        print("nothing to prune: the log is partitioned on PostgreSQL only")
        return 0
    months = settings.contact_log_retention_months
    async with engine.begin() as conn:
        verdicts = await prune_partitions(
            conn, today=utcnow().date(), months=months, actor=actor(), dry_run=dry_run
        )
    for verdict in verdicts:
        line = f"{verdict.partition}: {verdict.rows:,} rows, {verdict.reason}"
        if verdict.active:
            line += (
                " (" + ", ".join(verdict.active) + ("…" if len(verdict.active) >= 5 else "") + ")"
            )
        print(line)
    dropped = sum(v.dropped for v in verdicts)
    print(
        f"{dropped} partition(s) dropped, {len(verdicts) - dropped} kept"
        f"{' (dry run)' if dry_run else ''}; retention {months} months"
    )
    return 0


def register(verbs: Verbs[argparse.ArgumentParser]) -> None:
    db = verb(verbs, "db", cmd_db, "schema migrations")
    db.add_argument("action", choices=("upgrade", "downgrade", "current", "prune-partitions"))
    db.add_argument("revision", nargs="?")
    db.add_argument(
        "--dry-run", action="store_true", help="prune-partitions: say what would be dropped"
    )
