"""``arrears tasks list|close``: field visits, agency placements, legal reviews and write-off
proposals, and their outcomes."""

from __future__ import annotations

import argparse

from sqlalchemy import true

from service.casework.tasks import close_task, list_tasks
from service.cli.common import Verbs, actor, migrated, verb
from service.domain.casework import TASK_OUTCOMES
from service.settings import Settings


async def cmd_tasks(settings: Settings, args: argparse.Namespace) -> int:
    async with migrated(settings) as engine, engine.begin() as conn:
        if args.tasks_verb == "close":
            closed = await close_task(conn, args.id, args.status, args.note, actor(), true())
            print(f"task {closed['id']} ({closed['kind']}, {closed['loan_ref']}): {args.status}")
            return 0
        tasks = await list_tasks(conn, true(), open_only=not args.all, limit=args.limit)
    for task in tasks:
        print(
            f"{task['id']:>7}  {task['kind']:<20} {task['status']!s:<9} {task['loan_ref']:<14} "
            f"DPD {task['days_past_due']:>4}  {task['outstanding']:>12}  due {task['due_on']}"
        )
    return 0


def register(verbs: Verbs[argparse.ArgumentParser]) -> None:
    tasks = verb(verbs, "tasks", cmd_tasks, "field visits, agency placements, legal reviews ...")
    tasks_verbs = tasks.add_subparsers(dest="tasks_verb", required=True)
    tasks_list = tasks_verbs.add_parser("list", help="open tasks (--all: every task)")
    tasks_list.add_argument("--all", action="store_true")
    tasks_list.add_argument("--limit", type=int, default=200)
    tasks_close = tasks_verbs.add_parser("close", help="record a task's outcome")
    tasks_close.add_argument("id", type=int)
    tasks_close.add_argument("--status", required=True, choices=list(TASK_OUTCOMES))
    tasks_close.add_argument("--note", default="", help="what happened (e.g. nobody at home)")
