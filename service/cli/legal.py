"""``arrears legal close TASK --outcome O --by USER``: a legal review's outcome (a suit puts a
legal-action hold on the loan; a referral opens a write-off proposal task)."""

from __future__ import annotations

import argparse

from sqlalchemy import true

from service.casework.legal import close_legal_review
from service.cli.common import Verbs, migrated, verb
from service.cli.write_offs import acting_user
from service.clock import lender_today
from service.domain.casework import LegalOutcome
from service.settings import Settings


async def cmd_legal(settings: Settings, args: argparse.Namespace) -> int:
    async with migrated(settings) as engine, engine.begin() as conn:
        user = await acting_user(conn, args.by)
        closed = await close_legal_review(
            conn,
            user,
            args.id,
            args.outcome,
            args.note,
            true(),
            lender_today(settings.lender_timezone),
        )
    extra = ""
    if closed["hold_ref"]:
        extra = f"; legal_action hold {closed['hold_ref']}"
    elif closed["write_off_task_id"]:
        extra = f"; write-off proposal task {closed['write_off_task_id']}"
    print(f"task {closed['id']} ({closed['loan_ref']}): {closed['outcome']}{extra}")
    return 0


def register(verbs: Verbs[argparse.ArgumentParser]) -> None:
    legal = verb(verbs, "legal", cmd_legal, "legal reviews: record the outcome")
    sub = legal.add_subparsers(dest="legal_verb", required=True)
    close = sub.add_parser("close", help="record a legal review's outcome and close the task")
    close.add_argument("id", type=int, metavar="TASK")
    close.add_argument("--outcome", required=True, choices=list(LegalOutcome))
    close.add_argument("--note", default="")
    close.add_argument("--by", required=True, metavar="USER")
