"""``arrears tasks list|close|photos|photo-add``: field visits, agency placements, legal reviews
and write-off proposals, their outcomes, and a visit's photos."""

from __future__ import annotations

import argparse
import asyncio
from decimal import Decimal, InvalidOperation
from pathlib import Path

from sqlalchemy import true

from service.casework import visits
from service.casework.tasks import close_task, list_tasks
from service.cli.common import Verbs, actor, date_arg, migrated, verb
from service.clock import lender_today, utcnow
from service.contact.outcomes import record_visit
from service.domain.casework import TASK_OUTCOMES, VisitOutcome
from service.errors import ArrearsError, ValidationFailed
from service.settings import Settings


def _amount(text: str) -> Decimal:
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount such as 500.00") from None
    if not amount.is_finite() or amount != amount.quantize(Decimal("0.01")):
        raise argparse.ArgumentTypeError(f"{text!r}: an amount has two decimals at most")
    return amount


async def cmd_tasks(settings: Settings, args: argparse.Namespace) -> int:
    async with migrated(settings) as engine, engine.begin() as conn:
        if args.tasks_verb == "close":
            promise = None
            if args.amount is not None or args.promised_on is not None:
                if args.amount is None or args.promised_on is None:
                    raise ValidationFailed("a promise needs both --amount and --promised-on")
                promise = visits.VisitPromise(args.amount, args.promised_on)
            closed = await close_task(
                conn,
                args.id,
                args.status,
                args.note,
                actor(),
                true(),
                outcome=args.outcome,
                promise=promise,
                today=lender_today(settings.lender_timezone),
            )
            await record_visit(
                conn,
                true(),
                closed,
                note=args.note,
                now=utcnow(),
                today=lender_today(settings.lender_timezone),
                actor=actor(),
                actor_id=None,
            )
            found = f", {closed['outcome']}" if closed["outcome"] else ""
            print(
                f"task {closed['id']} ({closed['kind']}, {closed['loan_ref']}): "
                f"{closed['status']}{found}"
            )
            return 0
        if args.tasks_verb == "photos":
            for photo in await visits.list_photos(conn, args.id, true()):
                print(
                    f"{photo['id']:>6}  {photo['content_type']!s:<10} {photo['size']:>9} bytes  "
                    f"{photo['uploaded_by']:<12} {photo['uploaded_at']:%Y-%m-%d %H:%M}  "
                    f"{photo['filename']}"
                )
            return 0
        if args.tasks_verb == "photo-add":
            await visits.photo_task(conn, args.id, true())
            stored = await asyncio.to_thread(_store, Path(args.file), settings)
            photo, created = await visits.add_photo(
                conn, args.id, true(), stored, visits.clean_filename(args.file), None, actor()
            )
            state = "attached" if created else "already attached"
            print(f"photo {photo['id']} ({photo['content_type']}, {photo['size']} bytes) {state}")
            return 0
        tasks = await list_tasks(conn, true(), open_only=not args.all, limit=args.limit)
    for task in tasks:
        print(
            f"{task['id']:>7}  {task['kind']:<20} {task['status']!s:<9} {task['loan_ref']:<14} "
            f"DPD {task['days_past_due']:>4}  {task['outstanding']:>12}  due {task['due_on']}"
        )
    return 0


def _store(path: Path, settings: Settings) -> visits.StoredPhoto:
    writer = visits.PhotoWriter(settings.var_dir, settings.photo_max_bytes)
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 16):
                writer.write(chunk)
    except OSError as exc:
        writer.discard()
        raise ArrearsError(f"cannot read {path}: {exc.strerror}") from None
    except BaseException:
        writer.discard()
        raise
    return writer.finish()


def register(verbs: Verbs[argparse.ArgumentParser]) -> None:
    tasks = verb(verbs, "tasks", cmd_tasks, "field visits, agency placements, legal reviews ...")
    tasks_verbs = tasks.add_subparsers(dest="tasks_verb", required=True)
    tasks_list = tasks_verbs.add_parser("list", help="open tasks (--all: every task)")
    tasks_list.add_argument("--all", action="store_true")
    tasks_list.add_argument("--limit", type=int, default=200)
    tasks_close = tasks_verbs.add_parser("close", help="record a task's outcome")
    tasks_close.add_argument("id", type=int)
    tasks_close.add_argument(
        "--status", choices=list(TASK_OUTCOMES), help="a field visit's follows from --outcome"
    )
    tasks_close.add_argument(
        "--outcome", choices=list(VisitOutcome), help="what a field visit found"
    )
    tasks_close.add_argument("--amount", type=_amount, help="promised amount (outcome promise)")
    tasks_close.add_argument("--promised-on", type=date_arg, help="promised date")
    tasks_close.add_argument("--note", default="", help="what happened (e.g. nobody at home)")
    photos = tasks_verbs.add_parser("photos", help="a field visit's photos")
    photos.add_argument("id", type=int)
    photo_add = tasks_verbs.add_parser("photo-add", help="attach a photo to a field visit")
    photo_add.add_argument("id", type=int)
    photo_add.add_argument("file")
