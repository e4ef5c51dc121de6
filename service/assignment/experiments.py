"""Champion/challenger experiments: in a segment, a share of accounts (by a hash of the
experiment key and loan_ref, so an account stays in its arm from one day to the next) goes to
the challenger strategy; results per arm from the snapshots."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from service import audit
from service.clock import utcnow
from service.db.models import Experiment
from service.domain import kpis
from service.errors import NotFound, ValidationFailed
from strategies import Registry, StrategyError
from strategies.routing import check_routing

# The two sides of every experiment; a loan's (and a snapshot's) strategy_arm is "key:side".
SIDES = ("champion", "challenger")


def arm_of(key: str, side: str) -> str:
    """The strategy_arm value of one side of an experiment."""
    return f"{key}:{side}"


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
        return arm_of(self.key, "challenger" if inside else "champion")


async def load_experiments(conn: AsyncConnection) -> list[ExperimentSpec]:
    rows = await conn.execute(
        select(Experiment).where(Experiment.active.is_(True)).order_by(Experiment.id)
    )
    return [ExperimentSpec(e.key, e.segment, e.challenger, e.share) for e in rows]


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


async def experiment_overview(conn: AsyncConnection) -> list[dict[str, Any]]:
    rows = await conn.execute(
        text(
            """SELECT e.key, e.challenger, e.share, e.active, e.segment,
                      (SELECT count(*) FROM loans l WHERE l.status = 'open'
                         AND l.strategy_arm = e.key || :challenger) AS challenger_accounts,
                      (SELECT count(*) FROM loans l WHERE l.status = 'open'
                         AND l.strategy_arm = e.key || :champion) AS champion_accounts
               FROM experiments e ORDER BY e.id"""
        ),
        # Each arm's text after the key, bound: text() would read ':challenger' written in the
        # SQL as a parameter.
        {side: arm_of("", side) for side in SIDES},
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


async def experiment_results(
    conn: AsyncConnection, key: str, start: dt.date, end: dt.date, buckets: Sequence[str]
) -> list[dict[str, Any]]:
    """Per arm, from the snapshots of ``start`` and ``end``: accounts, overdue at start,
    collected in between, recovery rate, cure rate (overdue → M0) and roll rate (to a later
    bucket) of the accounts overdue at start."""
    if (await conn.execute(select(Experiment.id).where(Experiment.key == key))).first() is None:
        raise NotFound(f"experiment {key!r} not found")
    order = " ".join(f"WHEN '{label}' THEN {i}" for i, label in enumerate(buckets))
    arms = {side: arm_of(key, side) for side in SIDES}
    side_of = {arm: side for side, arm in arms.items()}
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
                WHERE s.as_of = :start AND s.strategy_arm IN (:champion, :challenger)
                GROUP BY s.strategy_arm ORDER BY s.strategy_arm"""
        ),
        # The arms compared whole: a pattern would let a key's "_" or "%" match other keys.
        {"start": start, "end": end, **arms},
    )
    results = []
    for arm, accounts, overdue_accounts, overdue, collected, cured, rolled in rows:
        overdue_d = Decimal(str(overdue)).quantize(Decimal("0.01"))
        collected_d = Decimal(str(collected)).quantize(Decimal("0.01"))
        results.append(
            {
                "arm": side_of[arm],
                "accounts": int(accounts),
                "overdue_accounts": int(overdue_accounts or 0),
                "overdue_amount": overdue_d,
                "collected": collected_d,
                "recovery_rate": kpis.recovery_rate(collected_d, overdue_d),
                "cure_rate": kpis.cure_rate(Decimal(cured or 0), Decimal(overdue_accounts or 0)),
                "roll_rate": kpis.roll_rate(Decimal(rolled or 0), Decimal(overdue_accounts or 0)),
            }
        )
    return results
