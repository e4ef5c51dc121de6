"""``arrears inspections list|record``: post-loan inspections (贷后检查) and their records."""

from __future__ import annotations

import argparse

from sqlalchemy import select, true

from service.casework.inspections import list_inspections, record_inspection
from service.cli.common import Verbs, actor, date_arg, migrated, verb
from service.clock import lender_today
from service.db.models import User
from service.domain.inspections import InspectionFinding, InspectionMethod
from service.errors import NotFound
from service.settings import Settings


async def cmd_inspections(settings: Settings, args: argparse.Namespace) -> int:
    async with migrated(settings) as engine, engine.begin() as conn:
        if args.inspections_verb == "record":
            recorded = await record_inspection(
                conn,
                args.id,
                method=args.method,
                findings=args.finding,
                notes=args.notes,
                inspected_on=args.on,
                today=lender_today(settings.lender_timezone),
                actor=actor(),
                visible=true(),
                policy=settings.inspection_policy(),
            )
            print(
                f"inspection {recorded['id']} ({recorded['kind']}, {recorded['loan_ref']}): "
                f"{recorded['outcome']} on {recorded['inspected_on']}"
                + (f" — {', '.join(recorded['findings'])}" if recorded["findings"] else "")
            )
            return 0
        owner_id = None
        if args.owner is not None:
            owner_id = await conn.scalar(select(User.id).where(User.username == args.owner))
            if owner_id is None:
                raise NotFound(f"user {args.owner!r} does not exist")
        found = await list_inspections(
            conn,
            true(),
            owner_id=owner_id,
            open_only=not args.all,
            due_by=args.due_by,
            loan_ref=args.loan,
            limit=args.limit,
        )
    for item in found:
        signals = ",".join(item["signals"]) or "-"
        print(
            f"{item['id']:>7}  {item['kind']!s:<8} {item['status']!s:<9} {item['loan_ref']:<14} "
            f"due {item['due_on']}  {item['owner'] or '(queue)':<12} signals {signals:<20} "
            f"{item['outcome'] or ''}"
        )
    return 0


def register(verbs: Verbs[argparse.ArgumentParser]) -> None:
    inspections = verb(verbs, "inspections", cmd_inspections, "post-loan inspections (贷后检查)")
    sub = inspections.add_subparsers(dest="inspections_verb", required=True)
    listing = sub.add_parser("list", help="open inspections in due order (--all: every one)")
    listing.add_argument("--all", action="store_true")
    listing.add_argument("--owner", help="only this officer's (a username)")
    listing.add_argument("--due-by", type=date_arg, help="only those due by this day")
    listing.add_argument("--loan", help="only this loan's (a loan_ref)")
    listing.add_argument("--limit", type=int, default=200)
    record = sub.add_parser("record", help="record how an inspection was done and what it found")
    record.add_argument("id", type=int)
    record.add_argument("--method", required=True, choices=list(InspectionMethod))
    record.add_argument(
        "--finding",
        action="append",
        default=[],
        choices=list(InspectionFinding),
        help="a risk found (repeat for several); none: nothing found",
    )
    record.add_argument("--notes", default="", help="what was seen, who was met")
    record.add_argument("--on", type=date_arg, help="the day it was done (default: today)")
