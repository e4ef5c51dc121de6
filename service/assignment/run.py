"""The assignment run: which queue and which collector own each open account, decided by
strategies.

Runs in close of business for the accounts whose segment changed, and on demand for all. Every
move goes to the assignment history; the work list ("next account") follows in the same
transaction. Champion/challenger arms come from :mod:`service.assignment.experiments`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import time
from collections import Counter
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from service.assignment.experiments import ExperimentSpec, load_experiments
from service.assignment.worklist import WORKED, refresh_work_items
from service.clock import utcnow
from service.db import dialect
from service.db.models import Queue, QueueMember, Role, User
from service.errors import ConfigurationError
from service.settings import Settings
from strategies import (
    Account,
    Collector,
    CollectorStrategy,
    QueueSpec,
    Registry,
    Roster,
    RoutingStrategy,
    StrategyError,
    load_registry,
)
from strategies.routing import matches

log = structlog.get_logger(__name__)

CHUNK = 20_000
# A pool account (no collector) is looked at again when its queue has someone to take it.
ACTIVE_MEMBER = (
    "SELECT 1 FROM queue_members m JOIN users u ON u.id = m.user_id "
    "WHERE m.queue_id = q.id AND u.active"
)
# What the run decides per account, staged for the set-based write-back.
DECIDED = (
    ("loan_id", "int"),
    ("queue_id", "int"),
    ("collector_id", "int"),
    ("arm", "text"),
    ("assignment_key", "text"),
    ("strategy", "text"),
)


def strategies_for(settings: Settings) -> Registry:
    """Discover the strategies (entry points) and check the settings name real ones."""
    try:
        registry = load_registry()
        registry.get(settings.assignment_strategy, "routing")
    except StrategyError as exc:
        raise ConfigurationError(f"strategies: {exc}") from exc
    return registry


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    queue_id: int | None
    collector_id: int | None
    arm: str | None
    strategy: str


@dataclasses.dataclass(frozen=True, slots=True)
class AssignmentReport:
    considered: int
    moved: int
    unrouted: int
    arms: dict[str, int]
    seconds: float


class Assigner:
    """The strategies, queues, rosters and experiments of one run; decides account by account."""

    def __init__(
        self,
        registry: Registry,
        routing: str,
        queues: Sequence[QueueSpec],
        experiments: Sequence[ExperimentSpec],
    ) -> None:
        try:
            self.routing: RoutingStrategy = registry.create(routing, "routing")
            self.pickers: dict[str, CollectorStrategy] = {
                q.collector_strategy: registry.create(q.collector_strategy, "collector")
                for q in queues
            }
            self.challengers: dict[str, Any] = {
                e.challenger: registry.create(e.challenger) for e in experiments
            }
        except StrategyError as exc:
            raise ConfigurationError(str(exc)) from exc
        self.routing_name = routing
        self.queues = tuple(sorted(queues, key=lambda q: (q.position, q.id)))
        self.by_id = {q.id: q for q in self.queues}
        self.experiments = tuple(experiments)
        self.rosters = {q.id: Roster(q.members) for q in self.queues}
        # A collector in several queues is one object with one load in every roster.
        self.collectors: dict[int, Collector] = {}
        self.rosters_of: dict[int, list[Roster]] = {}
        for queue in self.queues:
            for member in queue.members:
                self.collectors[member.id] = member
                self.rosters_of.setdefault(member.id, []).append(self.rosters[queue.id])

    def decide(self, account: Account) -> Decision | None:
        """The account's queue, collector and arm; None when no queue's routing fits it."""
        arm: str | None = None
        routing, routing_name = self.routing, self.routing_name
        picker_override: CollectorStrategy | None = None
        for experiment in self.experiments:
            if matches(experiment.segment, account):
                arm = experiment.arm(account.loan_ref)
                if arm.endswith(":challenger"):
                    challenger = self.challengers[experiment.challenger]
                    if challenger.kind == "routing":
                        routing, routing_name = challenger, experiment.challenger
                    else:
                        picker_override = challenger
                break
        queue = routing.route(account, self.queues)
        if queue is None:
            return None
        collector: Collector | None = None
        picker_name = ""
        if queue.worked_by_collectors and queue.members:
            picker = picker_override or self.pickers[queue.collector_strategy]
            picker_name = picker.name
            collector = picker.choose(account, queue, self.rosters[queue.id])
        new_id = collector.id if collector else None
        if new_id != account.collector_id:
            self._move_load(account.collector_id, -1)
            self._move_load(new_id, +1)
        strategy = f"{routing_name}/{picker_name}" if picker_name else routing_name
        return Decision(queue.id, new_id, arm, strategy)

    def _move_load(self, collector_id: int | None, step: int) -> None:
        member = self.collectors.get(collector_id) if collector_id is not None else None
        if member is None:
            return
        member.load += step
        for roster in self.rosters_of[member.id]:
            roster.changed(member)


def fingerprint(
    routing: str, queues: Sequence[QueueSpec], experiments: Sequence[ExperimentSpec]
) -> str:
    """What every account's assignment depends on besides its own segment."""
    state = {
        "routing": routing,
        "queues": [
            [q.id, q.kind, q.position, q.collector_strategy, dict(q.routing)] for q in queues
        ],
        "experiments": [[e.key, dict(e.segment), e.challenger, str(e.share)] for e in experiments],
    }
    encoded = json.dumps(state, sort_keys=True, default=str).encode()
    return hashlib.sha256(encoded).hexdigest()[:16]


async def load_queues(conn: AsyncConnection) -> list[QueueSpec]:
    """Active queues with their active members and each member's open accounts (load)."""
    loads: dict[int, int] = dict(
        (
            await conn.execute(
                text(
                    "SELECT collector_id, count(*) FROM loans "
                    "WHERE status = 'open' AND collector_id IS NOT NULL GROUP BY collector_id"
                )
            )
        ).all()
    )
    members: dict[int, list[tuple[int, str, str, int | None]]] = {}
    rows = await conn.execute(
        select(QueueMember.queue_id, User.id, User.username, User.languages, User.capacity)
        .join(User, User.id == QueueMember.user_id)
        .where(User.active.is_(True), User.role == Role.collector)
    )
    for queue_id, user_id, username, languages, capacity in rows:
        members.setdefault(queue_id, []).append((user_id, username, languages, capacity))
    collectors: dict[int, Collector] = {}
    specs = []
    for queue in await conn.execute(select(Queue).where(Queue.active.is_(True))):
        roster = []
        for user_id, username, languages, capacity in members.get(queue.id, []):
            collector = collectors.get(user_id)
            if collector is None:
                collector = Collector(
                    id=user_id,
                    username=username,
                    languages=frozenset(x.strip() for x in languages.split(",") if x.strip()),
                    capacity=capacity,
                    load=int(loads.get(user_id, 0)),
                )
                collectors[user_id] = collector
            roster.append(collector)
        specs.append(
            QueueSpec(
                id=queue.id,
                name=queue.name,
                kind=queue.kind.value,
                routing=queue.routing,
                collector_strategy=queue.collector_strategy,
                position=queue.position,
                members=tuple(roster),
            )
        )
    return specs


def _key_sql(fp: str) -> str:
    lost = "CASE WHEN l.lost_contact_on IS NULL THEN '0' ELSE '1' END"
    return f"l.bucket || '|' || l.amount_tier || '|' || {lost} || '|' || l.risk_class || '|{fp}'"


async def assign(
    conn: AsyncConnection,
    registry: Registry,
    settings: Settings,
    today: dt.date,
    *,
    everything: bool = False,
    reason: str = "on_demand",
    actor: str = "system",
) -> AssignmentReport:
    """Assign open accounts: those whose segment or rules changed (or all), in the caller's
    transaction; then bring the work list up to date."""
    started = time.perf_counter()
    await dialect.write_now(conn)  # SQLite: it reads the book, then writes: one turn
    queues = await load_queues(conn)
    experiments = await load_experiments(conn)
    assigner = Assigner(registry, settings.assignment_strategy, queues, experiments)
    fp = fingerprint(settings.assignment_strategy, queues, experiments)
    key = _key_sql(fp)
    changed = (
        "1 = 1"
        if everything
        else f"""(l.assignment_key IS NULL OR l.assignment_key <> {key}
                 OR l.queue_id IS NULL
                 OR EXISTS (SELECT 1 FROM queues q WHERE q.id = l.queue_id
                            AND (NOT q.active OR (l.collector_id IS NULL
                                                  AND q.kind IN ({WORKED})
                                                  AND EXISTS ({ACTIVE_MEMBER}))))
                 OR (l.collector_id IS NOT NULL AND NOT EXISTS (
                       SELECT 1 FROM queue_members m JOIN users u ON u.id = m.user_id
                       WHERE m.queue_id = l.queue_id AND m.user_id = l.collector_id
                         AND u.active)))"""
    )
    await dialect.create_temp_table(conn, "assign_out", DECIDED, primary_key=("loan_id",))
    considered = unrouted = 0
    arms: Counter[str] = Counter()
    after = 0
    while True:
        rows = (
            await conn.execute(
                text(
                    f"""SELECT l.id, l.loan_ref, l.bucket, l.amount_tier, l.days_past_due,
                               l.outstanding, l.risk_class, l.lost_contact_on, b.locale,
                               b.region, l.queue_id, l.collector_id, {key} AS assignment_key
                        FROM loans l JOIN borrowers b ON b.id = l.borrower_id
                        WHERE l.status = 'open' AND l.id > :after AND {changed}
                        ORDER BY l.id LIMIT {CHUNK}"""
                ),
                {"after": after},
            )
        ).all()
        if not rows:
            break
        after = rows[-1][0]
        out: list[tuple[int, int | None, int | None, str | None, str, str]] = []
        for row in rows:
            account = Account(
                loan_id=row[0],
                loan_ref=row[1],
                bucket=row[2],
                amount_tier=row[3],
                days_past_due=row[4],
                outstanding=Decimal(str(row[5])),
                risk_class=row[6],
                lost_contact=row[7] is not None,
                locale=row[8],
                region=row[9],
                queue_id=row[10],
                collector_id=row[11],
            )
            decision = assigner.decide(account)
            if decision is None:
                unrouted += 1
                # Nothing fits: the account stays where it is, and is looked at again next run.
                continue
            if decision.arm:
                arms[decision.arm] += 1
            out.append(
                (
                    account.loan_id,
                    decision.queue_id,
                    decision.collector_id,
                    decision.arm,
                    row[12],
                    decision.strategy,
                )
            )
        considered += len(rows)
        await dialect.bulk_insert(conn, "assign_out", DECIDED, out)
    now = utcnow()
    moved = (
        await conn.execute(
            text(
                """INSERT INTO assignment_history (loan_id, moved_at, from_queue_id, to_queue_id,
                       from_collector_id, to_collector_id, reason, strategy, arm, actor, note)
                   SELECT o.loan_id, :now, l.queue_id, o.queue_id, l.collector_id,
                          o.collector_id, :reason, o.strategy, o.arm, :actor, ''
                   FROM assign_out o JOIN loans l ON l.id = o.loan_id
                   WHERE l.queue_id IS DISTINCT FROM o.queue_id
                      OR l.collector_id IS DISTINCT FROM o.collector_id"""
            ),
            {"now": dialect.timestamp(conn, now), "reason": reason, "actor": actor},
        )
    ).rowcount
    await conn.execute(
        text(
            """UPDATE loans SET queue_id = o.queue_id, collector_id = o.collector_id,
                   strategy_arm = o.arm, assignment_key = o.assignment_key,
                   assigned_at = CASE WHEN loans.queue_id IS DISTINCT FROM o.queue_id
                                        OR loans.collector_id IS DISTINCT FROM o.collector_id
                                      THEN :now ELSE loans.assigned_at END
               FROM assign_out o
               WHERE loans.id = o.loan_id
                 AND (loans.queue_id IS DISTINCT FROM o.queue_id
                      OR loans.collector_id IS DISTINCT FROM o.collector_id
                      OR loans.strategy_arm IS DISTINCT FROM o.arm
                      OR loans.assignment_key IS DISTINCT FROM o.assignment_key)"""
        ),
        {"now": dialect.timestamp(conn, now)},
    )
    await dialect.drop_temp_table(conn, "assign_out")
    await refresh_work_items(conn, settings, today, new_day=reason == "cob")
    report = AssignmentReport(
        considered=considered,
        moved=int(moved or 0),
        unrouted=unrouted,
        arms=dict(arms),
        seconds=time.perf_counter() - started,
    )
    log.info(
        "assignment.completed",
        reason=reason,
        considered=report.considered,
        moved=report.moved,
        unrouted=report.unrouted,
        seconds=round(report.seconds, 2),
    )
    return report
