"""``arrears db upgrade|downgrade|current``: schema migrations."""

from __future__ import annotations

import argparse

from service.cli.common import Verbs, verb
from service.db.engine import create_engine
from service.db.migrate import current_revision, downgrade, head_revision, upgrade
from service.settings import Settings


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


def register(verbs: Verbs[argparse.ArgumentParser]) -> None:
    db = verb(verbs, "db", cmd_db, "schema migrations")
    db.add_argument("action", choices=("upgrade", "downgrade", "current"))
    db.add_argument("revision", nargs="?")
