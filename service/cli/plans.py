"""``arrears plan --dry-run`` and ``arrears plans list|load``: a day's plan as a person reads it,
and the versions of the treatment plans."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from service.assignment.run import strategies_for
from service.cli.common import Verbs, actor, date_arg, migrated, verb
from service.cob.nightly import Planning, dry_run_plan
from service.errors import ArrearsError
from service.settings import Settings
from service.treatment.planner import PlanReport
from service.treatment.plans import install_default_plan, list_plans, load_plan_file


async def cmd_plan(settings: Settings, args: argparse.Namespace) -> int:
    if not args.dry_run:
        raise ArrearsError(
            "plans are written by close of business (arrears cob --as-of DATE); "
            "add --dry-run to see a day's plan without writing it"
        )
    planning = Planning(strategies_for(settings), settings)
    async with migrated(settings) as engine:
        report = await dry_run_plan(engine, args.day, settings.cob_config(), planning)
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
    async with migrated(settings) as engine:
        if args.plans_verb == "load":
            registry = strategies_for(settings)
            async with engine.begin() as conn:
                stored = await load_plan_file(conn, Path(args.file), registry, actor())
            print(f"stored plan {stored.spec.name} version {stored.version}")
            return 0
        async with engine.begin() as conn:
            await install_default_plan(conn, actor())
            plans = await list_plans(conn)
    for plan in plans:
        mark = "*" if plan["active"] else " "
        print(
            f"{mark} {plan['name']}@{plan['version']:<3} portfolio={plan['portfolio'] or '(all)'} "
            f"strategy={plan['strategy']} steps={','.join(plan['steps'])}"
        )
    return 0


def register(verbs: Verbs[argparse.ArgumentParser]) -> None:
    plan = verb(verbs, "plan", cmd_plan, "a day's treatment plan: what would be sent and why not")
    plan.add_argument("--for", dest="day", required=True, type=date_arg, metavar="YYYY-MM-DD")
    plan.add_argument("--dry-run", action="store_true", help="write nothing (required)")
    plan.add_argument("--json", action="store_true", help="the counts as JSON")

    plans = verb(verbs, "plans", cmd_plans, "treatment plans: list, load a new version")
    plans_verbs = plans.add_subparsers(dest="plans_verb", required=True)
    plans_verbs.add_parser("list", help="every version; * marks the ones in use")
    plans_load = plans_verbs.add_parser("load", help="store a plan file (TOML) as a new version")
    plans_load.add_argument("file")
