"""PostgreSQL keeps the contact log, the guard's decisions and the audit log in month partitions
(migration 0016): rows land in their month's, close of business makes the months ahead and
moves strays out of the default partition, and months past the retention are dropped only
when no loan in them is still active — audited. The log, the timeline and the export read
across months as before. docs/contact-log.md, "Volume and retention"."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from sqlalchemy import insert, select, text, true
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from service.contact import log
from service.contact.timeline import timeline
from service.db import partitions
from service.db.models import Attempt, AuditEvent, Borrower, GuardDecision, Loan, Promise
from service.db.models.portfolio import LoanStatus
from service.domain.compliance import TimezoneSource
from service.portfolio.attempts_export import attempt_rows
from service.portfolio.retention import prune_partitions
from tests.twilio_support import DEBTOR, rows, seed


def _pg_only(engine: AsyncEngine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite's log is one table: partitions are PostgreSQL's (migration 0016)")


def _at(year: int, month: int, day: int = 10) -> dt.datetime:
    return dt.datetime(year, month, day, 3, 0, tzinfo=dt.UTC)


async def _attempt(engine: AsyncEngine, ref: str, loan_id: int, at: dt.datetime) -> int:
    async with engine.begin() as conn:
        return await log.write_attempts(
            conn,
            [
                log.attempt_row(
                    attempt_ref=ref,
                    loan_id=loan_id,
                    phone=DEBTOR,
                    channel="call",
                    direction="outbound",
                    occurred_at=at,
                    result="no_answer",
                    source="import",
                )
            ],
        )


async def _where(engine: AsyncEngine, ref: str) -> list[str]:
    found = await rows(
        engine,
        f"SELECT tableoid::regclass::text FROM attempts WHERE attempt_ref = '{ref}' ORDER BY id",
    )
    return [name for (name,) in found]


async def _second_loan(engine: AsyncEngine) -> int:
    async with engine.begin() as conn:
        borrower = (
            await conn.execute(
                insert(Borrower)
                .values(
                    borrower_ref="B-2",
                    name="Idle",
                    timezone="Asia/Shanghai",
                    timezone_source=TimezoneSource.file,
                )
                .returning(Borrower.id)
            )
        ).scalar_one()
        loan: int = (
            await conn.execute(
                insert(Loan)
                .values(
                    loan_ref="L-2",
                    borrower_id=borrower,
                    currency="CNY",
                    principal=1000,
                    annual_rate=0.1,
                    disbursed_on=dt.date(2022, 1, 5),
                    maturity_on=dt.date(2022, 12, 5),
                    status=LoanStatus.open,
                )
                .returning(Loan.id)
            )
        ).scalar_one()
    return loan


async def test_rows_land_in_their_month_and_strays_move_out_of_the_default(
    engine: AsyncEngine,
) -> None:
    _pg_only(engine)
    floor = await seed(engine)
    async with engine.begin() as conn:
        await partitions.upkeep(conn, dt.date(2026, 11, 1), months_ahead=0)
    assert await _where(engine, log.outbound_ref(floor.sms_outbox)) == ["attempts_p202611"]
    # A month with no partition of its own: the default holds it …
    assert await _attempt(engine, "old-1", floor.loan_id, _at(2019, 5))
    assert await _where(engine, "old-1") == ["attempts_default"]
    ids = await rows(engine, "SELECT id, attempt_ref FROM attempts ORDER BY id")
    # … until close of business makes its month and moves it there, id and all.
    async with engine.begin() as conn:
        created = await partitions.upkeep(conn, dt.date(2026, 11, 24), months_ahead=0)
    assert created["attempts"] == ["attempts_p201905"]
    assert await _where(engine, "old-1") == ["attempts_p201905"]
    assert await rows(engine, "SELECT id, attempt_ref FROM attempts ORDER BY id") == ids
    assert await rows(engine, "SELECT count(*) FROM attempts_default") == [(0,)]
    # Its key came along: the same attempt written again is still the one attempt.
    assert await _attempt(engine, "old-1", floor.loan_id, _at(2019, 5)) == 0


async def test_upkeep_makes_the_months_ahead_once(engine: AsyncEngine) -> None:
    _pg_only(engine)
    async with engine.begin() as conn:
        created = await partitions.upkeep(conn, dt.date(2031, 5, 20))
    months = ["p203105", "p203106", "p203107", "p203108"]
    assert created == {table: [f"{table}_{m}" for m in months] for table in partitions.PARTITIONED}
    async with engine.begin() as conn:
        assert await partitions.upkeep(conn, dt.date(2031, 5, 21)) == {}
        names = [p.name for p in await partitions.partitions(conn, "guard_decisions")]
    assert {"guard_decisions_p203108", "guard_decisions_default"} <= set(names)
    # A row in a new month lands in its own partition, and every partition refuses TRUNCATE.
    floor = await seed(engine)
    assert await _attempt(engine, "ahead", floor.loan_id, _at(2031, 7))
    assert await _where(engine, "ahead") == ["attempts_p203107"]
    for partition in ("attempts_p203107", "audit_log_p203108", "attempts_default"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with engine.begin() as conn:
                await conn.execute(text(f"TRUNCATE {partition}"))


async def test_a_key_is_one_attempt_whatever_month_it_is_written_in(engine: AsyncEngine) -> None:
    """A webhook delivered twice carries the time it arrived: the second is the same attempt
    (unique across months, not only within one), on both databases."""
    floor = await seed(engine)
    assert await _attempt(engine, "tw-SMx", floor.loan_id, _at(2026, 11))
    assert await _attempt(engine, "tw-SMx", floor.loan_id, _at(2027, 1)) == 0
    assert await rows(engine, "SELECT count(*) FROM attempts WHERE attempt_ref = 'tw-SMx'") == [
        (1,)
    ]


async def test_a_promise_names_an_attempt_that_exists(engine: AsyncEngine) -> None:
    _pg_only(engine)  # SQLite keeps its foreign key
    floor = await seed(engine)
    with pytest.raises(DBAPIError, match="names no attempt"):
        async with engine.begin() as conn:
            await conn.execute(
                insert(Promise).values(
                    loan_id=floor.loan_id,
                    amount=10,
                    promised_on=dt.date(2026, 12, 1),
                    status="pending",
                    attempt_id=987654,
                )
            )


async def _decision(engine: AsyncEngine, loan_id: int, at: dt.datetime) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            insert(GuardDecision).values(
                loan_id=loan_id,
                stage="plan",
                party="debtor",
                channel="sms",
                contact_at=at,
                verdict="allow",
                inputs="{}",
                decided_at=at,
            )
        )


async def test_prune_drops_an_idle_old_month_keeps_an_active_one_and_says_so(
    engine: AsyncEngine,
) -> None:
    _pg_only(engine)
    floor = await seed(engine)  # L-1: attempts in November 2026
    idle = await _second_loan(engine)
    await _attempt(engine, "idle-jan", idle, _at(2023, 1))
    await _decision(engine, idle, _at(2023, 1))
    await _attempt(engine, "active-feb", floor.loan_id, _at(2023, 2))  # L-1 is still active
    async with engine.begin() as conn:
        await partitions.upkeep(conn, dt.date(2026, 11, 24), months_ahead=0)
    today, months = dt.date(2026, 12, 2), 12  # a tiny retention: a year

    async with engine.begin() as conn:
        dry = await prune_partitions(conn, today=today, months=months, actor="t", dry_run=True)
    # (Other tests' months may linger here, empty: the database is shared and reset by rows.)
    ours = {"attempts_p202301", "attempts_p202302", "guard_decisions_p202301"}
    assert {v.partition: v.dropped for v in dry if v.partition in ours} == dict.fromkeys(
        ours, False
    )
    assert {v.partition for v in dry if v.reason.startswith("would drop")} >= {
        "attempts_p202301",
        "guard_decisions_p202301",
    }
    assert await _where(engine, "idle-jan") == ["attempts_p202301"]

    async with engine.begin() as conn:
        verdicts = await prune_partitions(conn, today=today, months=months, actor="t")
    by_name = {v.partition: v for v in verdicts}
    assert by_name["attempts_p202301"].dropped
    assert by_name["attempts_p202301"].rows == 1
    assert by_name["guard_decisions_p202301"].dropped
    kept = by_name["attempts_p202302"]
    assert not kept.dropped
    assert kept.active == ["L-1"]
    assert "kept" in kept.reason
    assert await _where(engine, "idle-jan") == []
    assert await _where(engine, "active-feb") == ["attempts_p202302"]
    async with engine.connect() as conn:
        names = [p.name for p in await partitions.partitions(conn, "attempts")]
        events = (
            await conn.execute(
                select(AuditEvent.entity_ref, AuditEvent.details).where(
                    AuditEvent.action == "retention.partition_dropped"
                )
            )
        ).all()
    assert "attempts_p202301" not in names
    dropped: dict[str, Any] = {ref: details for ref, details in events}
    assert {"attempts_p202301", "guard_decisions_p202301"} <= set(dropped)
    assert "attempts_p202302" not in dropped
    assert dropped["attempts_p202301"]["rows"] == 1
    assert dropped["attempts_p202301"]["retention_months"] == 12


async def test_the_log_the_timeline_and_the_export_read_across_months(
    engine: AsyncEngine,
) -> None:
    _pg_only(engine)
    floor = await seed(engine)  # two attempts on 24 November 2026
    await _attempt(engine, "october", floor.loan_id, _at(2026, 10, 30))
    async with engine.begin() as conn:
        await partitions.upkeep(conn, dt.date(2026, 11, 24), months_ahead=0)
        # A correction of October's attempt stays in October (a revision keeps its time).
        revised = await log.supersede(
            conn,
            Attempt.attempt_ref == "october",
            lambda row: {"disposition": "rpc"},
            recorded_by="t",
        )
    assert revised is not None
    assert await _where(engine, "october") == ["attempts_p202610", "attempts_p202610"]
    assert await rows(
        engine, "SELECT attempt_ref, disposition FROM contact_log ORDER BY occurred_at LIMIT 1"
    ) == [("october", "rpc")]
    async with engine.connect() as conn:
        page = await timeline(conn, true(), "L-1", limit=10)
    attempts = [item["ref"] for item in page["items"] if item["kind"] == "attempt"]
    assert len(attempts) == 3
    assert attempts[-1] == "october"
    lines = [
        line
        async for chunk in attempt_rows(
            engine, dt.date(2026, 10, 29), dt.date(2026, 11, 25), "Asia/Shanghai"
        )
        for line in chunk.splitlines()
    ]
    assert len(lines) == 4
    assert lines[1].startswith("october,")


async def test_upkeep_never_waits_holding_the_table_a_request_holding_loans_needs(
    engine: AsyncEngine,
) -> None:
    """A request that updated a loan and then reads the log, beside the upkeep: the upkeep
    gives way at once (making a partition clones the foreign key into loans, which that request
    holds), and the request's read is not left waiting behind a table lock the upkeep holds."""
    _pg_only(engine)
    floor = await seed(engine)
    async with engine.connect() as request:
        transaction = await request.begin()
        await request.execute(
            text("UPDATE loans SET updated_at = updated_at WHERE id = :id"), {"id": floor.loan_id}
        )
        started = asyncio.get_running_loop().time()
        done = await partitions.upkeep_in_own_transaction(engine, dt.date(2032, 1, 10))
        assert "attempts" not in done, done
        assert done["skipped"], done
        # Gave way: a few short tries per table, then the next night (never a hang).
        assert asyncio.get_running_loop().time() - started < 3 * sum(range(partitions.TRIES)) + 5
        await request.execute(text("SET LOCAL lock_timeout = '1s'"))
        assert await request.scalar(text("SELECT count(*) FROM attempts")) is not None
        await transaction.rollback()
    async with engine.begin() as conn:  # with the loan free again, the months are made
        made = await partitions.upkeep(conn, dt.date(2032, 1, 10))
    assert "attempts_p203201" in made["attempts"]
