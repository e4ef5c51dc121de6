"""``arrears agencies list|add|set|file|results`` and ``arrears placements add|recall|list``:
collection agencies (委外), the accounts placed with them, the file each receives, results."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy import true

from service.casework import agencies, placements
from service.cli.common import Verbs, actor, date_arg, migrated, verb
from service.clock import lender_today
from service.portfolio.exports import Column, CsvTable
from service.settings import Settings


def _rate(text: str) -> Decimal:
    try:
        rate = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not a fraction such as 0.15") from None
    if not rate.is_finite() or not Decimal(0) <= rate < Decimal(1):
        raise argparse.ArgumentTypeError(f"{text!r}: a rate is a fraction from 0 to below 1")
    return rate


async def cmd_agencies(settings: Settings, args: argparse.Namespace) -> int:
    today = lender_today(settings.lender_timezone)
    async with migrated(settings) as engine, engine.begin() as conn:
        if args.agencies_verb == "add":
            await agencies.create_agency(
                conn,
                agency_ref=args.ref,
                name=args.name,
                commission_rate=args.rate,
                contact_notes=args.notes,
                actor=actor(),
            )
            print(f"agency {args.ref} added")
            return 0
        if args.agencies_verb == "set":
            changes: dict[str, Any] = {
                name: value
                for name, value in (
                    ("name", args.name),
                    ("commission_rate", args.rate),
                    ("contact_notes", args.notes),
                    ("active", args.active),
                )
                if value is not None
            }
            changed = await agencies.update_agency(conn, args.ref, changes, actor())
            print(f"agency {args.ref}: {_line(changed)}")
            return 0
        if args.agencies_verb == "file":
            rows = await agencies.placement_file(conn, args.ref, actor(), today)
            table = CsvTable([Column(name, kind) for name, kind in agencies.PLACEMENT_COLUMNS])
            text = table.header() + table.rows(rows)
            if args.out:
                await asyncio.to_thread(Path(args.out).write_text, text, encoding="utf-8")
                print(f"{len(rows)} placed accounts written to {args.out}", file=sys.stderr)
            else:
                sys.stdout.write(text)
            return 0
        if args.agencies_verb == "results":
            results = await agencies.agency_results(
                conn,
                today,
                agency_ref=args.ref,
                placed_from=args.placed_from,
                placed_to=args.placed_to,
            )
            if args.json:
                print(json.dumps(results, default=str, ensure_ascii=False, indent=2))
                return 0
            for r in results:
                recalled = ", ".join(f"{k} {n}" for k, n in r["recalled"].items() if n)
                print(
                    f"{r['agency_ref']:<12} placed {r['placed']:>5} ({r['placed_balance']:>14})  "
                    f"active {r['active']:>5}  collected {r['collected']:>14}  "
                    f"commission {r['commission']:>12} at {r['commission_rate']}  "
                    f"recalled: {recalled or 'none'}"
                )
            return 0
        found = await agencies.list_agencies(conn, active_only=not args.all)
    for agency in found:
        print(_line(agency))
    return 0


def _line(agency: dict[str, Any]) -> str:
    state = "active" if agency["active"] else "inactive"
    return (
        f"{agency['agency_ref']:<12} {agency['name']:<30} rate {agency['commission_rate']:<8} "
        f"{state}  {agency['contact_notes']}"
    )


async def cmd_placements(settings: Settings, args: argparse.Namespace) -> int:
    today = lender_today(settings.lender_timezone)
    async with migrated(settings) as engine, engine.begin() as conn:
        if args.placements_verb == "add":
            placed = await placements.place(
                conn,
                loan_ref=args.loan,
                agency_ref=args.agency,
                actor=actor(),
                today=today,
                recall_days=settings.agency_recall_days,
                recall_on=args.recall_on,
                note=args.note,
            )
            print(
                f"{args.loan} placed with {args.agency} on {placed['placed_on']}, "
                f"recall on {placed['recall_on']} (balance {placed['balance']})"
            )
            return 0
        if args.placements_verb == "recall":
            recalled = await placements.recall(
                conn,
                loan_ref=args.loan,
                actor=actor(),
                today=today,
                note=args.note,
                settings=settings,
            )
            print(f"{args.loan} recalled from {recalled['agency_ref']}, {recalled['recalled_on']}")
            return 0
        rows = await placements.list_placements(
            conn,
            true(),
            loan_ref=args.loan,
            agency_ref=args.agency,
            active_only=not args.all,
            limit=args.limit,
        )
    for p in rows:
        ended = (
            f"recalled {p['recalled_on']} ({p['recall_reason']})"
            if p["recalled_on"]
            else f"recall on {p['recall_on']}"
        )
        print(
            f"{p['id']:>6}  {p['loan_ref']:<14} {p['agency_ref']:<12} placed {p['placed_on']}  "
            f"balance {p['balance_at_placement']:>12}  DPD {p['dpd_at_placement']:>4}  {ended}"
        )
    return 0


def register(verbs: Verbs[argparse.ArgumentParser]) -> None:
    group = verb(verbs, "agencies", cmd_agencies, "collection agencies (委外), files, results")
    sub = group.add_subparsers(dest="agencies_verb", required=True)
    listing = sub.add_parser("list", help="agencies (--all: inactive ones too)")
    listing.add_argument("--all", action="store_true")
    add = sub.add_parser("add", help="add an agency")
    add.add_argument("ref")
    add.add_argument("--name", required=True)
    add.add_argument("--rate", type=_rate, required=True, help="commission, e.g. 0.15")
    add.add_argument("--notes", default="", help="contact person, phone, contract")
    change = sub.add_parser("set", help="change an agency (audited)")
    change.add_argument("ref")
    change.add_argument("--name")
    change.add_argument("--rate", type=_rate)
    change.add_argument("--notes")
    state = change.add_mutually_exclusive_group()
    state.add_argument("--active", dest="active", action="store_const", const=True)
    state.add_argument("--inactive", dest="active", action="store_const", const=False)
    handout = sub.add_parser("file", help="the CSV of an agency's placed accounts")
    handout.add_argument("ref")
    handout.add_argument("--out", help="write to this file (default: standard output)")
    results = sub.add_parser("results", help="placed, collected, recalled, commission")
    results.add_argument("ref", nargs="?", help="one agency (default: every one)")
    results.add_argument("--from", dest="placed_from", type=date_arg, help="placed from")
    results.add_argument("--to", dest="placed_to", type=date_arg, help="placed to")
    results.add_argument("--json", action="store_true")

    group = verb(verbs, "placements", cmd_placements, "accounts placed with agencies")
    sub = group.add_subparsers(dest="placements_verb", required=True)
    add = sub.add_parser("add", help="place an account with an agency")
    add.add_argument("loan")
    add.add_argument("--agency", required=True)
    add.add_argument("--recall-on", type=date_arg, help="default: ARREARS_AGENCY_RECALL_DAYS on")
    add.add_argument("--note", default="")
    back = sub.add_parser("recall", help="recall a placed account from its agency")
    back.add_argument("loan")
    back.add_argument("--note", default="")
    listing = sub.add_parser("list", help="active placements (--all: recalled ones too)")
    listing.add_argument("--loan")
    listing.add_argument("--agency")
    listing.add_argument("--all", action="store_true")
    listing.add_argument("--limit", type=int, default=200)
