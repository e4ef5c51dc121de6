"""``arrears queues|assign|handover|experiments|strategies``: queues and who works them, the
assignment run, 离职移交, champion/challenger experiments, the registered strategies."""

from __future__ import annotations

import argparse
import json
from decimal import Decimal, InvalidOperation

from service.assignment import experiments, queues
from service.assignment.moves import handover
from service.assignment.run import assign, strategies_for
from service.cli.common import Verbs, actor, date_arg, json_object, migrated, verb
from service.clock import lender_today
from service.domain.queues import QueueKind
from service.errors import ArrearsError
from service.settings import Settings
from strategies.registry import KINDS


async def cmd_assign(settings: Settings, args: argparse.Namespace) -> int:
    registry = strategies_for(settings)
    async with migrated(settings) as engine, engine.begin() as conn:
        report = await assign(
            conn,
            registry,
            settings,
            lender_today(settings.lender_timezone),
            everything=args.all,
            actor=actor(),
        )
    arms = ", ".join(f"{k} {v}" for k, v in sorted(report.arms.items())) or "none"
    print(
        f"assigned: {report.considered} considered, {report.moved} moved, "
        f"{report.unrouted} fit no queue, in {report.seconds:.1f} s; arms: {arms}"
    )
    return 0


async def cmd_handover(settings: Settings, args: argparse.Namespace) -> int:
    async with migrated(settings) as engine, engine.begin() as conn:
        result = await handover(
            conn,
            settings,
            actor(),
            from_user=args.from_user,
            to_user=args.to_user,
            to_queue=args.to_queue,
            today=lender_today(settings.lender_timezone),
        )
    target = result["to"] or f"queue {result['to_queue']!r}"
    print(
        f"handed over from {result['from']} to {target}: {result['accounts']} accounts, "
        f"{result['promises']} promises, {result['callbacks']} callbacks; "
        f"{result['from']} deactivated"
    )
    return 0


async def cmd_queues(settings: Settings, args: argparse.Namespace) -> int:
    async with migrated(settings) as engine, engine.begin() as conn:
        if args.action == "defaults":
            created = await queues.install_default_queues(conn)
            print(f"created {len(created)} queue(s): {', '.join(created) or 'none needed'}")
        elif args.action == "add":
            await queues.create_queue(
                conn,
                strategies_for(settings),
                name=args.name,
                kind=args.kind,
                routing=json_object(args.routing, "--routing"),
                position=args.position,
                collector_strategy=args.strategy,
            )
            print(f"queue {args.name} created")
        elif args.action == "member":
            await queues.add_member(conn, args.queue, args.username)
            print(f"{args.username} works {args.queue}")
        else:
            for row in await queues.queue_overview(conn):
                print(
                    f"{row['position']:>4} {row['name']:<22} {row['kind']:<9} "
                    f"{row['collector_strategy']:<15} members {row['members']:>3}  "
                    f"accounts {row['accounts']:>8}  {json.dumps(row['routing'])}"
                )
    return 0


async def cmd_experiments(settings: Settings, args: argparse.Namespace) -> int:
    async with migrated(settings) as engine, engine.begin() as conn:
        if args.action == "start":
            try:
                share = Decimal(args.share)
            except InvalidOperation:
                raise ArrearsError("--share must be a fraction, e.g. 0.2") from None
            await experiments.create_experiment(
                conn,
                strategies_for(settings),
                key=args.key,
                segment=json_object(args.segment, "--segment"),
                challenger=args.challenger,
                share=share,
                actor=actor(),
            )
            print(f"experiment {args.key} started; it applies from the next assignment run")
        elif args.action == "results":
            rows = await experiments.experiment_results(
                conn,
                args.key,
                args.date_from,
                args.date_to,
                settings.cob_config().buckets.labels,
            )
            print(json.dumps(rows, default=str, indent=2))
        else:
            for row in await experiments.experiment_overview(conn):
                print(json.dumps(row, default=str))
    return 0


def cmd_strategies(settings: Settings, args: argparse.Namespace) -> int:
    registry = strategies_for(settings)
    for kind in KINDS:
        for name in registry.names(kind):
            print(f"{kind:<10} {name:<18} {registry.source(name)}")
    return 0


def register(verbs: Verbs[argparse.ArgumentParser]) -> None:
    assign_verb = verb(verbs, "assign", cmd_assign, "assign accounts to queues and collectors now")
    assign_verb.add_argument(
        "--all", action="store_true", help="every open account, not only changed"
    )

    hand = verb(
        verbs, "handover", cmd_handover, "离职移交: move a leaving collector's work, deactivate"
    )
    hand.add_argument("--from", dest="from_user", required=True, metavar="USER")
    target = hand.add_mutually_exclusive_group(required=True)
    target.add_argument("--to", dest="to_user", metavar="USER")
    target.add_argument("--to-queue", dest="to_queue", metavar="QUEUE")

    queue_parser = verb(verbs, "queues", cmd_queues, "collector queues and their routing")
    queue_verbs = queue_parser.add_subparsers(dest="action", required=True)
    queue_verbs.add_parser("list")
    queue_verbs.add_parser("defaults", help="create the source policies' queues")
    qadd = queue_verbs.add_parser("add")
    qadd.add_argument("name")
    qadd.add_argument("--kind", default=QueueKind.collector, choices=list(QueueKind))
    qadd.add_argument("--routing", default="{}", help='JSON, e.g. {"buckets": ["M2"]}')
    qadd.add_argument("--position", type=int, default=100)
    qadd.add_argument("--strategy", default="sticky", help="collector choice strategy")
    member = queue_verbs.add_parser("member", help="add a collector to a queue")
    member.add_argument("queue")
    member.add_argument("username")

    exp = verb(verbs, "experiments", cmd_experiments, "champion/challenger experiments")
    exp_verbs = exp.add_subparsers(dest="action", required=True)
    exp_verbs.add_parser("list")
    start = exp_verbs.add_parser("start")
    start.add_argument("key")
    start.add_argument("--segment", default="{}", help='JSON, e.g. {"buckets": ["M1"]}')
    start.add_argument("--challenger", required=True)
    start.add_argument("--share", required=True, help="fraction of the segment, e.g. 0.2")
    results = exp_verbs.add_parser("results")
    results.add_argument("key")
    results.add_argument(
        "--from", dest="date_from", required=True, type=date_arg, metavar="YYYY-MM-DD"
    )
    results.add_argument("--to", dest="date_to", required=True, type=date_arg, metavar="YYYY-MM-DD")

    verb(
        verbs,
        "strategies",
        cmd_strategies,
        "list the registered strategies and where they come from",
    )
