"""``arrears check-contact`` and ``arrears letter``: the guard's verdict on one contact, and a
loan's letters."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from service.cli.common import Verbs, date_arg, migrated, moment_arg, verb
from service.contact.checks import check_contact
from service.domain.compliance import PROFILE_NAMES
from service.domain.contact import PHONE_CHANNELS, LetterKind
from service.settings import Settings
from service.treatment.messages import letter_for


async def cmd_check_contact(settings: Settings, args: argparse.Namespace) -> int:
    async with migrated(settings) as engine, engine.connect() as conn:
        decision = await check_contact(
            conn,
            settings,
            loan_ref=args.loan,
            party_ref=args.party,
            channel=args.channel,
            at=args.at,
            profile=args.profile,
        )
    print(json.dumps(decision.as_dict(), ensure_ascii=False))
    return 0


async def cmd_letter(settings: Settings, args: argparse.Namespace) -> int:
    async with migrated(settings) as engine, engine.connect() as conn:
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


def register(verbs: Verbs[argparse.ArgumentParser]) -> None:
    check = verb(
        verbs, "check-contact", cmd_check_contact, "the compliance guard's verdict on a contact"
    )
    check.add_argument("--loan", required=True, metavar="REF")
    check.add_argument("--channel", required=True, choices=list(PHONE_CHANNELS))
    check.add_argument("--party", required=True, metavar="debtor|CONTACT_REF")
    check.add_argument(
        "--at", required=True, type=moment_arg, metavar="ISO8601", help="with its offset"
    )
    check.add_argument("--profile", choices=PROFILE_NAMES)

    letter = verb(verbs, "letter", cmd_letter, "render a loan's due or overdue notice")
    letter.add_argument("--loan", required=True, metavar="REF")
    letter.add_argument("--kind", required=True, choices=list(LetterKind))
    letter.add_argument("--format", choices=("html", "pdf"), default="html")
    letter.add_argument("--as-of", type=date_arg, metavar="YYYY-MM-DD")
    letter.add_argument("--out", metavar="FILE")
