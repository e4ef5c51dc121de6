"""Assignment: which queue and which collector own each open account, decided by strategies.

Runs in close of business for the accounts whose segment changed, and on demand for all. Every
move goes to the assignment history; the work list ("next account") follows in the same
transaction. Champion/challenger experiments pick an arm per account from a hash of
(experiment key, loan_ref), so an account stays in its arm from one day to the next.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from service import audit
from service.auth import CurrentUser
from service.db import UTCDateTime, raw_asyncpg, utcnow
from service.errors import ConfigurationError, NotFound, ValidationFailed
from service.models import (
    Experiment,
    Loan,
    Queue,
    QueueKind,
    QueueMember,
    Role,
    Team,
    User,
)
from service.settings import Settings
from service.worklist import WORKED, refresh_work_items
from strategies import (
    Account,
    Collector,
    CollectorStrategy,
    QueueSpec,
    Registry,
    Roster,
    RoutingStrategy,
    StrategyError,
)
from strategies.routing import DEFAULT_QUEUES, check_routing, matches

log = structlog.get_logger(__name__)

CHUNK = 20_000
# A pool account (no collector) is looked at again when its queue has someone to take it.
ACTIVE_MEMBER = (
    "SELECT 1 FROM queue_members m JOIN users u ON u.id = m.user_id "
    "WHERE m.queue_id = q.id AND u.active"
)


@dataclasses.dataclass(frozen=True, slots=True)
class Assignment:
    """What a run needs besides the database: the strategies and the settings naming them."""

    registry: Registry
    settings: Settings


def strategies_for(settings: Settings) -> Assignment:
    """Discover the strategies (entry points) and check the settings name real ones."""
    from strategies import load_registry

    try:
        registry = load_registry()
        registry.get(settings.assignment_strategy, "routing")
    except StrategyError as exc:
        raise ConfigurationError(f"strategies: {exc}") from exc
    return Assignment(registry, settings)


# --- champion/challenger -------------------------------------------------------------------------


def challenger_point(key: str, loan_ref: str) -> float:
    """Where an account falls in [0, 1) for an experiment: stable, independent across keys."""
    digest = hashlib.blake2b(f"{key}\x1f{loan_ref}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclasses.dataclass(frozen=True, slots=True)
class ExperimentSpec:
    key: str
    segment: Mapping[str, Any]
    challenger: str
    share: Decimal

    def arm(self, loan_ref: str) -> str:
        inside = challenger_point(self.key, loan_ref) < float(self.share)
        return f"{self.key}:{'challenger' if inside else 'champion'}"


# --- the run ------------------------------------------------------------------------------------


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


async def load_experiments(conn: AsyncConnection) -> list[ExperimentSpec]:
    rows = await conn.execute(
        select(Experiment).where(Experiment.active.is_(True)).order_by(Experiment.id)
    )
    return [ExperimentSpec(e.key, e.segment, e.challenger, e.share) for e in rows]


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
    postgres = conn.dialect.name == "postgresql"
    await conn.execute(text("DROP TABLE IF EXISTS assign_out"))
    await conn.execute(
        text(
            f"CREATE TEMPORARY TABLE assign_out (loan_id INTEGER PRIMARY KEY, queue_id INTEGER, "
            f"collector_id INTEGER, arm VARCHAR(64), assignment_key VARCHAR(200), "
            f"strategy VARCHAR(130)){' ON COMMIT DROP' if postgres else ''}"
        )
    )
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
        await _stage(conn, out, postgres)
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
            {"now": _stamp(now, postgres), "reason": reason, "actor": actor},
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
        {"now": _stamp(now, postgres)},
    )
    await conn.execute(text("DROP TABLE IF EXISTS assign_out"))
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


def _stamp(value: Any, postgres: bool) -> Any:
    from service.db import sqlite_timestamp

    return value if postgres else sqlite_timestamp(value)


async def _stage(conn: AsyncConnection, rows: list[tuple[Any, ...]], postgres: bool) -> None:
    if not rows:
        return
    if postgres:
        raw = await raw_asyncpg(conn)
        await raw.copy_records_to_table("assign_out", records=rows)
        return
    await conn.exec_driver_sql(
        "INSERT INTO assign_out (loan_id, queue_id, collector_id, arm, assignment_key, strategy) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        rows,
    )


# --- queues --------------------------------------------------------------------------------------


async def install_default_queues(conn: AsyncConnection) -> list[str]:
    """Create the source policies' queues (DESIGN.md §2) that do not exist yet, by name."""
    existing = set((await conn.execute(select(Queue.name))).scalars())
    created = []
    for position, definition in enumerate(DEFAULT_QUEUES, start=1):
        if definition["name"] in existing:
            continue
        await conn.execute(
            insert(Queue).values(
                name=definition["name"],
                kind=QueueKind(definition["kind"]),
                description=definition["description"],
                routing=definition["routing"],
                position=position * 10,
                collector_strategy="sticky",
                active=True,
                created_at=utcnow(),
            )
        )
        created.append(definition["name"])
    return created


async def create_queue(
    conn: AsyncConnection,
    registry: Registry,
    *,
    name: str,
    kind: str,
    routing: Mapping[str, Any],
    position: int = 100,
    collector_strategy: str = "sticky",
    description: str = "",
) -> int:
    try:
        check_routing(routing)
        registry.get(collector_strategy, "collector")
        queue_kind = QueueKind(kind)
    except (ValueError, StrategyError) as exc:
        raise ValidationFailed(str(exc)) from exc
    if (await conn.execute(select(Queue.id).where(Queue.name == name))).first():
        raise ValidationFailed(f"a queue named {name!r} exists already")
    result = await conn.execute(
        insert(Queue).values(
            name=name,
            kind=queue_kind,
            routing=dict(routing),
            position=position,
            collector_strategy=collector_strategy,
            description=description,
            active=True,
            created_at=utcnow(),
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]  # one-column key


async def queue_overview(conn: AsyncConnection) -> list[dict[str, Any]]:
    rows = await conn.execute(
        text(
            """SELECT q.id, q.name, q.kind, q.position, q.collector_strategy, q.active, q.routing,
                      (SELECT count(*) FROM queue_members m JOIN users u ON u.id = m.user_id
                       WHERE m.queue_id = q.id AND u.active) AS members,
                      (SELECT count(*) FROM loans l
                       WHERE l.queue_id = q.id AND l.status = 'open') AS accounts
               FROM queues q ORDER BY q.position, q.id"""
        )
    )
    result = []
    for row in rows.mappings():
        item = dict(row)
        if isinstance(item["routing"], str):  # SQLite hands JSON back as text in raw SQL
            item["routing"] = json.loads(item["routing"])
        item["active"] = bool(item["active"])
        result.append(item)
    return result


async def experiment_overview(conn: AsyncConnection) -> list[dict[str, Any]]:
    rows = await conn.execute(
        text(
            """SELECT e.key, e.challenger, e.share, e.active, e.segment,
                      (SELECT count(*) FROM loans l WHERE l.status = 'open'
                         AND l.strategy_arm = e.key || ':challenger') AS challenger_accounts,
                      (SELECT count(*) FROM loans l WHERE l.status = 'open'
                         AND l.strategy_arm = e.key || ':champion') AS champion_accounts
               FROM experiments e ORDER BY e.id"""
        )
    )
    result = []
    for row in rows.mappings():
        item = dict(row)
        if isinstance(item["segment"], str):
            item["segment"] = json.loads(item["segment"])
        item["active"] = bool(item["active"])
        item["share"] = str(item["share"])
        result.append(item)
    return result


async def history(conn: AsyncConnection, loan_id: int) -> list[dict[str, Any]]:
    rows = await conn.execute(
        text(
            """SELECT h.moved_at, fq.name AS from_queue, tq.name AS to_queue,
                      fu.username AS from_collector, tu.username AS to_collector,
                      h.reason, h.strategy, h.arm, h.actor, h.note
               FROM assignment_history h
               LEFT JOIN queues fq ON fq.id = h.from_queue_id
               LEFT JOIN queues tq ON tq.id = h.to_queue_id
               LEFT JOIN users fu ON fu.id = h.from_collector_id
               LEFT JOIN users tu ON tu.id = h.to_collector_id
               WHERE h.loan_id = :loan_id ORDER BY h.id DESC"""
        ).columns(moved_at=UTCDateTime),
        {"loan_id": loan_id},
    )
    return [dict(row) for row in rows.mappings()]


# Rows, not ORM objects: these run on a Core connection, in the caller's transaction.
async def queue_by_name(conn: AsyncConnection, name: str) -> Any:
    queue = (await conn.execute(select(Queue).where(Queue.name == name))).one_or_none()
    if queue is None:
        raise NotFound(f"queue {name!r} not found")
    return queue


async def user_by_name(conn: AsyncConnection, username: str) -> Any:
    user = (await conn.execute(select(User).where(User.username == username))).one_or_none()
    if user is None:
        raise NotFound(f"user {username!r} not found")
    return user


async def add_member(conn: AsyncConnection, queue_name: str, username: str) -> None:
    queue = await queue_by_name(conn, queue_name)
    user = await user_by_name(conn, username)
    if user.role is not Role.collector:
        raise ValidationFailed(f"{username} is a {user.role.value}; queues take collectors")
    exists = await conn.execute(
        select(QueueMember).where(QueueMember.queue_id == queue.id, QueueMember.user_id == user.id)
    )
    if exists.first() is None:
        await conn.execute(insert(QueueMember).values(queue_id=queue.id, user_id=user.id))


async def update_user(
    conn: AsyncConnection,
    username: str,
    actor: str,
    *,
    capacity: int | None = None,
    no_capacity: bool = False,
    languages: str | None = None,
    team: str | None = None,
) -> dict[str, Any]:
    """Change what assignment knows of a user: capacity, languages, team (created if new)."""
    user = await user_by_name(conn, username)
    values: dict[str, Any] = {}
    if no_capacity:
        values["capacity"] = None
    elif capacity is not None:
        if capacity < 0:
            raise ValidationFailed("capacity must not be negative")
        values["capacity"] = capacity
    if languages is not None:
        codes = [code.strip() for code in languages.split(",") if code.strip()]
        if not codes:
            raise ValidationFailed("languages: at least one locale, e.g. zh-CN,en")
        values["languages"] = ",".join(codes)
    if team is not None:
        team_id = await conn.scalar(select(Team.id).where(Team.name == team))
        if team_id is None:
            team_id = (
                await conn.execute(insert(Team).values(name=team, active=True, created_at=utcnow()))
            ).inserted_primary_key[0]  # type: ignore[index]  # one-column key
        values["team_id"] = team_id
    if not values:
        raise ValidationFailed("nothing to change")
    await conn.execute(update(User).where(User.id == user.id).values(**values))
    details = {k: v for k, v in values.items() if k != "team_id"} | (
        {"team": team} if team is not None else {}
    )
    await audit.record(
        conn,
        actor=actor,
        action="user.updated",
        entity_type="user",
        entity_ref=username,
        details=details,
    )
    return details


# --- moves by hand -------------------------------------------------------------------------------


async def _move(
    conn: AsyncConnection,
    *,
    scope: str,
    params: dict[str, Any],
    queue_id: str,
    collector_id: str,
    reason: str,
    actor: str,
    note: str,
) -> int:
    """Move the open loans in ``scope`` (a condition on ``l``) and write their history."""
    postgres = conn.dialect.name == "postgresql"
    now = _stamp(utcnow(), postgres)
    moved = await conn.execute(
        text(
            f"""INSERT INTO assignment_history (loan_id, moved_at, from_queue_id, to_queue_id,
                    from_collector_id, to_collector_id, reason, strategy, arm, actor, note)
                SELECT l.id, :now, l.queue_id, {queue_id}, l.collector_id, {collector_id},
                       :reason, NULL, l.strategy_arm, :actor, :note
                FROM loans l WHERE l.status = 'open' AND {scope}"""
        ),
        {**params, "now": now, "reason": reason, "actor": actor, "note": note},
    )
    await conn.execute(
        text(
            f"""UPDATE loans SET queue_id = {queue_id.replace("l.", "loans.")},
                    collector_id = {collector_id.replace("l.", "loans.")}, assigned_at = :now
                WHERE id IN (SELECT l.id FROM loans l WHERE l.status = 'open' AND {scope})"""
        ),
        {**params, "now": now},
    )
    return int(moved.rowcount or 0)


async def reassign(
    conn: AsyncConnection,
    settings: Settings,
    actor: CurrentUser,
    loan_ref: str,
    *,
    queue_name: str,
    collector: str | None,
    reason: str,
    today: dt.date,
) -> dict[str, Any]:
    """A supervisor moves one account by hand, with a reason (kept until its segment changes)."""
    if not reason.strip():
        raise ValidationFailed("a reason is required", details=[{"field": "reason"}])
    loan = (
        await conn.execute(select(Loan.id, Loan.status).where(Loan.loan_ref == loan_ref))
    ).one_or_none()
    if loan is None:
        raise NotFound(f"loan {loan_ref!r} not found")
    if loan.status != "open":
        raise ValidationFailed(f"loan {loan_ref} is closed")
    queue = await queue_by_name(conn, queue_name)
    if not queue.active:
        raise ValidationFailed(f"queue {queue_name!r} is inactive")
    collector_id: int | None = None
    if collector:
        user = await user_by_name(conn, collector)
        member = await conn.execute(
            select(QueueMember).where(
                QueueMember.queue_id == queue.id, QueueMember.user_id == user.id
            )
        )
        if not user.active or member.first() is None:
            raise ValidationFailed(f"{collector} is not an active member of {queue_name!r}")
        collector_id = user.id
    await _move(
        conn,
        scope="l.id = :loan_id",
        params={"loan_id": loan.id, "queue": queue.id, "collector": collector_id},
        queue_id=":queue",
        collector_id=":collector",
        reason="manual",
        actor=actor.username,
        note=reason.strip(),
    )
    await refresh_work_items(conn, settings, today, "l.id = :loan_id", {"loan_id": loan.id})
    details = {"queue": queue_name, "collector": collector, "reason": reason.strip()}
    await audit.record(
        conn,
        actor=actor.username,
        actor_id=actor.id,
        action="loan.reassigned",
        entity_type="loan",
        entity_ref=loan_ref,
        details=details,
    )
    return {"loan_ref": loan_ref, **details}


async def handover(
    conn: AsyncConnection,
    settings: Settings,
    actor: str,
    *,
    from_user: str,
    to_user: str | None = None,
    to_queue: str | None = None,
    today: dt.date,
    actor_id: int | None = None,
) -> dict[str, Any]:
    """离职移交: a leaving collector's open accounts, pending promises and scheduled callbacks go
    to a successor (who joins their queues) or back to a queue's pool; the leaver is
    deactivated. All in the caller's transaction, audited."""
    if (to_user is None) == (to_queue is None):
        raise ValidationFailed("name exactly one successor: a user (to) or a queue (to_queue)")
    leaver = await user_by_name(conn, from_user)
    if not leaver.active:
        raise ValidationFailed(f"{from_user} is already inactive")
    successor_id: int | None = None
    queue_id: int | None = None
    if to_user is not None:
        successor = await user_by_name(conn, to_user)
        if successor.id == leaver.id:
            raise ValidationFailed("a user cannot hand over to themselves")
        if not successor.active or successor.role is not Role.collector:
            raise ValidationFailed(f"{to_user} is not an active collector")
        successor_id = successor.id
        # The successor works the leaver's queues from now on (and so can see the accounts).
        await conn.execute(
            text(
                """INSERT INTO queue_members (queue_id, user_id)
                   SELECT m.queue_id, :to FROM queue_members m
                   WHERE m.user_id = :from AND NOT EXISTS (
                     SELECT 1 FROM queue_members n
                     WHERE n.queue_id = m.queue_id AND n.user_id = :to)"""
            ),
            {"from": leaver.id, "to": successor_id},
        )
    else:
        assert to_queue is not None
        queue = await queue_by_name(conn, to_queue)
        if not queue.active:
            raise ValidationFailed(f"queue {to_queue!r} is inactive")
        queue_id = queue.id
    params = {"from": leaver.id, "to": successor_id, "queue": queue_id}
    accounts = await _move(
        conn,
        scope="l.collector_id = :from",
        params=params,
        queue_id="l.queue_id" if queue_id is None else ":queue",
        collector_id=":to",
        reason="handover",
        actor=actor,
        note=f"handover from {from_user}",
    )
    promises = await conn.execute(
        text(
            "UPDATE promises SET collector_id = :to, updated_at = :now "
            "WHERE collector_id = :from AND status = 'pending'"
        ),
        {**params, "now": _stamp(utcnow(), conn.dialect.name == "postgresql")},
    )
    callbacks = await conn.execute(
        text("UPDATE callbacks SET user_id = :to WHERE user_id = :from AND status = 'scheduled'"),
        params,
    )
    await conn.execute(
        text(
            "UPDATE work_items SET lease_holder_id = NULL, lease_expires_at = NULL "
            "WHERE lease_holder_id = :from"
        ),
        params,
    )
    await conn.execute(text("DELETE FROM queue_members WHERE user_id = :from"), params)
    await conn.execute(text("DELETE FROM sessions WHERE user_id = :from"), params)
    await conn.execute(
        text("UPDATE users SET active = :no, deactivated_at = :now WHERE id = :from"),
        {**params, "no": False, "now": _stamp(utcnow(), conn.dialect.name == "postgresql")},
    )
    await refresh_work_items(conn, settings, today)
    details = {
        "to": to_user,
        "to_queue": to_queue,
        "accounts": accounts,
        "promises": int(promises.rowcount or 0),
        "callbacks": int(callbacks.rowcount or 0),
    }
    await audit.record(
        conn,
        actor=actor,
        actor_id=actor_id,
        action="user.handover",
        entity_type="user",
        entity_ref=from_user,
        details=details,
    )
    log.info("assignment.handover", from_user=from_user, **details)
    return {"from": from_user, **details}


# --- experiments ---------------------------------------------------------------------------------


async def create_experiment(
    conn: AsyncConnection,
    registry: Registry,
    *,
    key: str,
    segment: Mapping[str, Any],
    challenger: str,
    share: Decimal,
    actor: str,
) -> None:
    problems = []
    if not key or len(key) > 40 or ":" in key:
        problems.append("key: 1 to 40 characters, no ':'")
    try:
        check_routing(segment)
    except ValueError as exc:
        problems.append(f"segment: {exc}")
    try:
        kind = registry.get(challenger).kind
        if kind not in ("routing", "collector"):
            problems.append(f"challenger {challenger!r} is a {kind} strategy")
    except StrategyError as exc:
        problems.append(str(exc))
    if not Decimal(0) < share < Decimal(1):
        problems.append("share must be between 0 and 1, e.g. 0.2")
    if problems:
        raise ValidationFailed("; ".join(problems))
    if (await conn.execute(select(Experiment.id).where(Experiment.key == key))).first():
        raise ValidationFailed(f"an experiment with key {key!r} exists already")
    await conn.execute(
        insert(Experiment).values(
            key=key,
            segment=dict(segment),
            challenger=challenger,
            share=share,
            active=True,
            created_at=utcnow(),
        )
    )
    await audit.record(
        conn,
        actor=actor,
        action="experiment.started",
        entity_type="experiment",
        entity_ref=key,
        details={"segment": dict(segment), "challenger": challenger, "share": str(share)},
    )


async def experiment_results(
    conn: AsyncConnection, key: str, start: dt.date, end: dt.date, buckets: Sequence[str]
) -> list[dict[str, Any]]:
    """Per arm, from the snapshots of ``start`` and ``end``: accounts, overdue at start,
    collected in between, recovery rate, cure rate (overdue → M0) and roll rate (to a later
    bucket) of the accounts overdue at start."""
    if (await conn.execute(select(Experiment.id).where(Experiment.key == key))).first() is None:
        raise NotFound(f"experiment {key!r} not found")
    order = " ".join(f"WHEN '{label}' THEN {i}" for i, label in enumerate(buckets))
    rows = await conn.execute(
        text(
            f"""SELECT s.strategy_arm,
                       count(*) AS accounts,
                       SUM(CASE WHEN s.bucket <> 'M0' THEN 1 ELSE 0 END) AS overdue_accounts,
                       COALESCE(SUM(s.overdue_amount), 0) AS overdue_amount,
                       COALESCE(SUM(p.collected), 0) AS collected,
                       SUM(CASE WHEN s.bucket <> 'M0' AND e.bucket = 'M0' THEN 1 ELSE 0 END)
                         AS cured,
                       SUM(CASE WHEN s.bucket <> 'M0' AND (CASE e.bucket {order} END)
                                     > (CASE s.bucket {order} END) THEN 1 ELSE 0 END) AS rolled
                FROM loan_snapshots s
                LEFT JOIN loan_snapshots e ON e.loan_id = s.loan_id AND e.as_of = :end
                LEFT JOIN (SELECT loan_id, SUM(amount) AS collected FROM payments
                           WHERE paid_on > :start AND paid_on <= :end GROUP BY loan_id) p
                  ON p.loan_id = s.loan_id
                WHERE s.as_of = :start AND s.strategy_arm LIKE :arms
                GROUP BY s.strategy_arm ORDER BY s.strategy_arm"""
        ),
        {"start": start, "end": end, "arms": f"{key}:%"},
    )
    results = []
    for arm, accounts, overdue_accounts, overdue, collected, cured, rolled in rows:
        overdue_d = Decimal(str(overdue)).quantize(Decimal("0.01"))
        collected_d = Decimal(str(collected)).quantize(Decimal("0.01"))
        results.append(
            {
                "arm": arm.split(":", 1)[1],
                "accounts": int(accounts),
                "overdue_accounts": int(overdue_accounts or 0),
                "overdue_amount": overdue_d,
                "collected": collected_d,
                "recovery_rate": _ratio(collected_d, overdue_d),
                "cure_rate": _ratio(Decimal(cured or 0), Decimal(overdue_accounts or 0)),
                "roll_rate": _ratio(Decimal(rolled or 0), Decimal(overdue_accounts or 0)),
            }
        )
    return results


def _ratio(part: Decimal, whole: Decimal) -> Decimal | None:
    return (part / whole).quantize(Decimal("0.0001")) if whole else None
