"""What the night stores can be trusted later: every guard decision decided again from its stored
inputs alone; re-planning never withdraws a row a dispatcher claimed; lost contact cleared by a
conversation on the lender's local date; the portfolio summary in the configured bucket order."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from service.auth import CurrentUser
from service.cli import main
from service.db.models import OutboxMessage, OutboxStatus, Role
from service.domain.compliance import replay
from service.portfolio.reads import bucket_summary
from service.treatment.outbox import cancel_unsent
from tests.conftest import Db
from tests.test_treatment import ATTEMPTS, DAY, add_facts
from tests.test_treatment import portfolio as portfolio  # the fixture, shared


def _instant(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)  # SQLite keeps UTC naive


@pytest.mark.parametrize("profile", ["cn", "us", "uk"])
def test_every_stored_decision_is_decided_again_from_its_inputs_alone(
    portfolio: Path, db: Db, monkeypatch: pytest.MonkeyPatch, profile: str
) -> None:
    monkeypatch.setenv("ARREARS_COMPLIANCE_PROFILE", profile)
    db.run(add_facts)
    assert main(["cob", "--as-of", DAY.isoformat()]) == 0
    # The next day too: its decisions count the first day's planned contacts.
    assert main(["cob", "--as-of", (DAY + dt.timedelta(days=1)).isoformat()]) == 0
    stored = db.rows("SELECT verdict, reasons, next_allowed_at, inputs FROM guard_decisions")
    assert len(stored) >= 10
    assert len({verdict for verdict, *_ in stored}) >= 3  # allowed, blocked and deferred ones
    for verdict, reasons, next_allowed_at, inputs in stored:
        again = replay(json.loads(inputs))
        assert again.verdict.value == verdict, inputs
        assert ",".join(again.reasons) == reasons, inputs
        assert again.next_allowed_at == _instant(next_allowed_at), inputs


def test_re_planning_leaves_a_row_a_dispatcher_claimed_in_between(portfolio: Path, db: Db) -> None:
    assert main(["cob", "--as-of", DAY.isoformat()]) == 0

    async def withdraw_after_a_claim(engine: AsyncEngine) -> tuple[int, dict[int, str]]:
        async with engine.begin() as conn:
            pending = list(
                (
                    await conn.scalars(
                        select(OutboxMessage.id)
                        .where(OutboxMessage.status == OutboxStatus.pending)
                        .order_by(OutboxMessage.id)
                    )
                ).all()
            )
            # Read by the planner; then a dispatcher claims the first row.
            await conn.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == pending[0])
                .values(status=OutboxStatus.queued)
            )
            withdrawn = await cancel_unsent(conn, pending, "replanned")
            states = dict(
                (
                    await conn.execute(
                        select(OutboxMessage.id, OutboxMessage.status).where(
                            OutboxMessage.id.in_(pending)
                        )
                    )
                ).all()
            )
            return withdrawn, {key: str(value) for key, value in states.items()}

    withdrawn, states = db.run(withdraw_after_a_claim)
    claimed = min(states)
    assert states[claimed] == "queued"
    assert withdrawn == len(states) - 1 >= 3
    assert {states[key] for key in states if key != claimed} == {"cancelled"}


def test_a_conversation_early_on_the_lender_s_day_ends_lost_contact(
    portfolio: Path, db: Db
) -> None:
    assert main(["cob", "--as-of", DAY.isoformat()]) == 0
    lost = db.rows("SELECT lost_contact_on FROM loans WHERE loan_ref = 'L-LOST'")
    assert str(lost[0][0]) == "2026-11-25"
    for name in ("borrowers.csv", "loans.csv", "installments.csv"):
        (portfolio / name).unlink()
    # 06:00 in Shanghai on the 25th, after that night: 22:00 UTC on the 24th.
    (portfolio / "attempts.csv").write_text(
        ATTEMPTS.splitlines()[0]
        + "\nX4,L-LOST,debtor,13800138008,call,inbound,2026-11-25T06:00:00+08:00,conversation\n"
    )
    assert main(["import", str(portfolio), "--as-of", "2026-11-25"]) == 0
    assert main(["cob", "--as-of", "2026-11-26"]) == 0
    assert db.rows("SELECT lost_contact_on FROM loans WHERE loan_ref = 'L-LOST'") == [(None,)]


def test_the_portfolio_summary_follows_the_configured_bucket_edges(portfolio: Path, db: Db) -> None:
    assert main(["cob", "--as-of", DAY.isoformat()]) == 0
    edges = (0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100)  # M0 ... M10, then M11+
    buckets = {"L-CALL": "M10", "L-PTP": "M2", "L-LOST": "M9", "L-OLD": "M11+", "L-HOLD": "M10"}

    async def summary(engine: AsyncEngine) -> list[dict[str, Any]]:
        async with engine.begin() as conn:
            for ref, bucket in buckets.items():
                await conn.execute(
                    text("UPDATE loans SET bucket = :bucket WHERE loan_ref = :ref"),
                    {"bucket": bucket, "ref": ref},
                )
            supervisor = CurrentUser(1, "sup", "Supervisor", Role.supervisor)
            return await bucket_summary(conn, supervisor, edges)

    rows = db.run(summary)
    assert [row["bucket"] for row in rows] == ["M0", "M1", "M2", "M9", "M10", "M11+"]
    assert [row["loans"] for row in rows if row["bucket"] == "M10"] == [2]
