"""``arrears write-off propose|approve|reject|withdraw|list``: write-offs (核销) with
maker-checker. Who acts is named (``--by USER``, an active supervisor or admin): the proposer
and the one who decides must be two people, here as over the API."""

from __future__ import annotations

import argparse

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from service.auth import CurrentUser
from service.casework.write_off import (
    decide_write_off,
    list_write_offs,
    propose_write_off,
    withdraw_write_off,
)
from service.cli.common import Verbs, migrated, verb
from service.clock import lender_today
from service.db.models import User
from service.domain.write_offs import WriteOffStatus
from service.errors import NotFound, PermissionDenied
from service.settings import Settings


async def acting_user(conn: AsyncConnection, username: str) -> CurrentUser:
    """The named user as the one acting: they must exist and be active."""
    row = (
        await conn.execute(
            select(User.id, User.username, User.display_name, User.role, User.active).where(
                User.username == username
            )
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"user {username!r} not found")
    if not row.active:
        raise PermissionDenied(f"user {username} is deactivated")
    return CurrentUser(
        id=row.id, username=row.username, display_name=row.display_name, role=row.role
    )


def _line(found: dict[str, object]) -> str:
    decided = f" by {found['decided_by']}" if found["decided_by"] else ""
    return (
        f"write-off {found['id']} ({found['loan_ref']}): {found['status']}{decided}; "
        f"amount {found['amount']} (principal {found['principal']}, interest "
        f"{found['interest']}, penalty {found['penalty']}); proposed by {found['proposed_by']}"
    )


async def cmd_write_off(settings: Settings, args: argparse.Namespace) -> int:
    async with migrated(settings) as engine, engine.begin() as conn:
        verb_ = args.write_off_verb
        if verb_ == "list":
            page = await list_write_offs(
                conn,
                status=WriteOffStatus(args.status) if args.status else None,
                loan_ref=args.loan,
                limit=args.limit,
            )
            for item in page["items"]:
                recovered = f"; recovered {item['recovered']}" if item["written_off_on"] else ""
                print(_line(item) + recovered)
            print(
                f"{page['total']} write-off(s); recovered after write-off {page['recovered_total']}"
            )
            return 0
        user = await acting_user(conn, args.by)
        if verb_ == "propose":
            found = await propose_write_off(
                conn, user, loan_ref=args.loan, reason=args.reason, task_id=args.task
            )
        elif verb_ == "withdraw":
            found = await withdraw_write_off(conn, user, args.id, args.note)
        else:
            found = await decide_write_off(
                conn,
                settings,
                user,
                args.id,
                approve=verb_ == "approve",
                note=args.note,
                today=lender_today(settings.lender_timezone),
            )
    print(_line(found))
    return 0


def register(verbs: Verbs[argparse.ArgumentParser]) -> None:
    parser = verb(verbs, "write-off", cmd_write_off, "write-offs with maker-checker (核销)")
    sub = parser.add_subparsers(dest="write_off_verb", required=True)
    propose = sub.add_parser("propose", help="propose writing off an open loan")
    propose.add_argument("loan", metavar="LOAN_REF")
    propose.add_argument("--reason", required=True)
    propose.add_argument("--task", type=int, help="the loan's open write-off proposal task")
    for name, help_ in (
        ("approve", "approve (not the proposer): the loan is written off today"),
        ("reject", "reject (not the proposer), saying why"),
        ("withdraw", "withdraw a proposal before it is decided"),
    ):
        decide = sub.add_parser(name, help=help_)
        decide.add_argument("id", type=int)
        decide.add_argument("--note", default="", required=name == "reject")
        decide.add_argument("--by", required=True, metavar="USER")
    propose.add_argument("--by", required=True, metavar="USER", help="the proposing supervisor")
    listing = sub.add_parser("list", help="write-offs, newest first, with recoveries")
    listing.add_argument("--status", choices=list(WriteOffStatus))
    listing.add_argument("--loan", metavar="LOAN_REF")
    listing.add_argument("--limit", type=int, default=100)
