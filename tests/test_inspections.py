"""Post-loan inspections (贷后检查): China's working days, the schedule the nightly SQL keeps
(agreeing with the pure rules), the officer from loans.csv, and recording one over the API."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, insert, select, true, update
from sqlalchemy.ext.asyncio import AsyncEngine

from service.casework.inspections import list_inspections, record_inspection, schedule_inspections
from service.casework.tasks import close_task
from service.cli import main
from service.cob.nightly import Planning, run_cob
from service.db.models import (
    AuditEvent,
    Borrower,
    Hold,
    Loan,
    Promise,
    Queue,
    QueueMember,
    Role,
    Task,
    User,
)
from service.domain.inspections import (
    InspectionPolicy,
    RiskSignal,
    ScheduleCalendar,
    next_inspection,
)
from service.domain.workdays import WorkingDays, add_working_days
from service.errors import ValidationFailed
from service.ingest.pipeline import ImportOptions, import_directory
from service.settings import Settings
from strategies.registry import load_registry
from tests.conftest import login, make_user

Client = TestClient[Any, Any]
D = dt.date
# A loan disbursed the Friday before 2024's National Day week (Oct 1-7 off; Sep 29, a Sunday,
# and Oct 12, a Saturday, worked): its 15th working day is Oct 23.
DISBURSED = D(2024, 9, 27)
FIRST_DUE = D(2024, 10, 23)
MATURITY = D(2025, 9, 27)  # a year's loan
POLICY = InspectionPolicy()


# --- working days -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (D(2024, 9, 27), 1, D(2024, 9, 29)),  # the make-up Sunday before National Day
        (D(2024, 9, 30), 1, D(2024, 10, 8)),  # the holiday week counts for nothing
        (D(2024, 10, 11), 1, D(2024, 10, 12)),  # the make-up Saturday after it
        (D(2024, 9, 27), 15, D(2024, 10, 23)),
        (D(2025, 9, 26), 1, D(2025, 9, 28)),  # 2025: Sep 28 (Sun) worked, Oct 1-8 off
        (D(2025, 9, 30), 1, D(2025, 10, 9)),
        (D(2025, 9, 26), 15, D(2025, 10, 23)),
        (D(2026, 2, 13), 1, D(2026, 2, 14)),  # 2026 Spring Festival: Feb 14 (Sat) worked
        (D(2026, 2, 14), 1, D(2026, 2, 24)),  # Feb 15-23 off
        (D(2026, 9, 30), 1, D(2026, 10, 8)),  # 2026 National Day: Oct 1-7 off
        (D(2026, 10, 9), 1, D(2026, 10, 10)),  # … Oct 10 (Sat) worked
        (D(2026, 11, 27), 1, D(2026, 11, 30)),  # an ordinary weekend
        (D(2026, 11, 27), 0, D(2026, 11, 27)),
    ],
)
def test_working_days_skip_holidays_and_count_the_make_up_days(
    start: dt.date, days: int, expected: dt.date
) -> None:
    assert add_working_days(start, days) == expected


def test_a_national_day_holiday_is_no_working_day_and_a_make_up_sunday_is() -> None:
    calendar = WorkingDays(range(2024, 2027))
    assert not calendar.is_working_day(D(2025, 10, 3))  # a Friday, National Day
    assert calendar.is_working_day(D(2025, 9, 28))  # a Sunday, worked
    assert not calendar.is_working_day(D(2025, 10, 4))  # a Saturday, not worked
    with pytest.raises(ValueError, match="not negative"):
        calendar.add(D(2025, 1, 1), -1)


def _due(
    last: dt.date | None,
    as_of: dt.date,
    signals: tuple[RiskSignal, ...] = (),
    maturity_on: dt.date = MATURITY,
) -> tuple[str, dt.date] | None:
    calendar = ScheduleCalendar(D(2024, 1, 1), D(2025, 12, 31), POLICY)
    due = next_inspection(
        disbursed_on=DISBURSED,
        maturity_on=maturity_on,
        last_inspected_on=last,
        signals=signals,
        as_of=as_of,
        calendar=calendar,
    )
    return None if due is None else (due.kind, due.due_on)


def test_the_rules_first_quarterly_sooner_after_a_signal_and_short_loans_exempt() -> None:
    visit = D(2024, 10, 15)
    assert _due(None, DISBURSED) == ("first", FIRST_DUE)
    assert _due(None, D(2024, 9, 26)) is None  # not disbursed yet
    assert _due(visit, D(2024, 10, 16)) == ("periodic", D(2025, 1, 15))
    assert _due(visit, D(2024, 10, 16), (RiskSignal.overdue,)) == ("risk", D(2024, 11, 15))
    # The month since the visit is over when the signal comes: at once.
    assert _due(visit, D(2024, 12, 20), (RiskSignal.hold,)) == ("risk", D(2024, 12, 20))
    assert _due(None, DISBURSED, maturity_on=D(2024, 10, 27)) is None  # a month: exempt
    assert _due(None, DISBURSED, maturity_on=D(2024, 10, 28)) == ("first", FIRST_DUE)
    # A quarter from 2024-12-31 is 2025-03-31, a Monday; a month from 2025-01-31 that month's
    # last day (2025-02-28); a due date in the National Day week moves past it.
    calendar = ScheduleCalendar(D(2024, 12, 1), D(2025, 9, 30), POLICY)
    assert calendar.dates(D(2024, 12, 31)).periodic_due == D(2025, 3, 31)
    assert calendar.dates(D(2025, 1, 31)).risk_due == D(2025, 2, 28)
    assert calendar.dates(D(2025, 9, 1)).risk_due == D(2025, 10, 9)


def test_a_policy_that_cannot_work_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="later than a periodic"):
        InspectionPolicy(risk_months=4)
    with pytest.raises(Exception, match="ARREARS_INSPECTION_"):
        Settings.from_env({"ARREARS_INSPECTION_FIRST_WORKING_DAYS": "0"})


# --- the nightly schedule -----------------------------------------------------------------------


BORROWERS = "borrower_ref,name,phone\nB1,张三,13800138000\nB2,李四,13900139000\n"


def _loans_csv(rows: list[tuple[str, str, dt.date, dt.date, str]]) -> str:
    header = "loan_ref,borrower_ref,currency,principal,annual_rate,disbursed_on,maturity_on"
    lines = [f"{header},officer"]
    lines += [
        f"{ref},{borrower},CNY,10000,0.12,{disbursed},{maturity},{officer}"
        for ref, borrower, disbursed, maturity, officer in rows
    ]
    return "\n".join(lines) + "\n"


async def _book(
    engine: AsyncEngine,
    tmp_path: Path,
    loans: list[tuple[str, str, dt.date, dt.date, str]],
    installments: Sequence[tuple[str, dt.date]] = (),
) -> Any:
    """Import borrowers, loans (with officers) and a schedule; the import's report."""
    drop = tmp_path / "drop"
    drop.mkdir(exist_ok=True)
    (drop / "borrowers.csv").write_text(BORROWERS)
    (drop / "loans.csv").write_text(_loans_csv(loans))
    schedule = list(installments) or [(ref, maturity) for ref, _, _, maturity, _ in loans]
    (drop / "installments.csv").write_text(
        "loan_ref,seq,due_on,principal_due,interest_due\n"
        + "".join(f"{ref},{n},{due},10000,100\n" for n, (ref, due) in enumerate(schedule, 1))
    )
    return await import_directory(engine, drop, ImportOptions())


async def _night(engine: AsyncEngine, as_of: dt.date) -> None:
    """Positions as of ``as_of``, then the inspection schedule (what COB does, minus planning)."""
    await run_cob(engine, as_of)
    async with engine.begin() as conn:
        await schedule_inspections(conn, as_of, POLICY)


async def _inspections(engine: AsyncEngine, **filters: Any) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        return await list_inspections(conn, true(), open_only=False, **filters)


async def _record(
    engine: AsyncEngine, task_id: int, on: dt.date, findings: tuple[str, ...] = ()
) -> dict[str, Any]:
    async with engine.begin() as conn:
        return await record_inspection(
            conn,
            task_id,
            method="on_site",
            findings=findings,
            notes="visited the shop",
            inspected_on=on,
            today=on + dt.timedelta(days=1),
            actor="officer1",
            visible=true(),
        )


async def test_the_first_inspection_falls_within_15_working_days_across_national_day(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    officer = await make_user(engine, "officer1", Role.collector)
    report = await _book(engine, tmp_path, [("L1", "B1", DISBURSED, D(2025, 9, 27), "officer1")])
    assert report.error_count == 0
    await _night(engine, D(2024, 9, 30))

    (only,) = await _inspections(engine)
    assert (only["kind"], only["due_on"], only["status"]) == ("first", FIRST_DUE, "open")
    assert only["owner"] == "officer1"
    async with engine.connect() as conn:
        task = (await conn.execute(select(Task).where(Task.id == only["id"]))).one()
        events = (
            await conn.execute(
                select(AuditEvent.details).where(AuditEvent.action == "inspection.scheduled")
            )
        ).scalars()
        (scheduled,) = list(events)
    assert (task.owner_id, task.plan_id, task.kind) == (officer, None, "inspection")
    assert scheduled["before"] is None
    assert scheduled["after"]["due_on"] == FIRST_DUE.isoformat()
    assert scheduled["after"]["inspection"] == "first"


async def test_running_close_of_business_twice_opens_one_inspection(
    engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    await make_user(engine, "officer1", Role.collector)
    await _book(engine, tmp_path, [("L1", "B1", DISBURSED, D(2025, 9, 27), "officer1")])
    planning = Planning(load_registry(), settings)
    for _ in range(2):
        await run_cob(engine, D(2024, 9, 30), settings.cob_config(), planning=planning)
    await run_cob(engine, D(2024, 10, 1), settings.cob_config(), planning=planning)
    async with engine.connect() as conn:
        count = await conn.scalar(select(func.count(Task.id)).where(Task.kind == "inspection"))
        scheduled = await conn.scalar(
            select(func.count(AuditEvent.id)).where(AuditEvent.action == "inspection.scheduled")
        )
    assert (count, scheduled) == (1, 1)


async def test_after_a_completed_inspection_the_next_is_quarterly(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    await make_user(engine, "officer1", Role.collector)
    await _book(engine, tmp_path, [("L1", "B1", DISBURSED, D(2025, 9, 27), "officer1")])
    await _night(engine, D(2024, 9, 30))
    (first,) = await _inspections(engine)
    recorded = await _record(engine, first["id"], D(2024, 10, 15))
    assert (recorded["status"], recorded["outcome"], recorded["method"]) == (
        "done",
        "normal",
        "on_site",
    )
    assert recorded["inspected_on"] == D(2024, 10, 15)

    await _night(engine, D(2024, 10, 16))
    assert len(await _inspections(engine)) == 1  # the next is months away: not opened yet
    await _night(engine, D(2024, 12, 20))  # within the 30 days' lead of 2025-01-15
    await _night(engine, D(2024, 12, 21))
    done, periodic = await _inspections(engine)
    assert done["id"] == first["id"]
    assert (periodic["kind"], periodic["due_on"], periodic["signals"]) == (
        "periodic",
        D(2025, 1, 15),
        [],
    )
    assert _due(D(2024, 10, 15), D(2024, 12, 20)) == (periodic["kind"], periodic["due_on"])


@pytest.mark.parametrize("signal", ["overdue", "broken_promise", "hold", "risk_finding"])
async def test_a_risk_signal_brings_the_next_inspection_sooner(
    engine: AsyncEngine, tmp_path: Path, signal: str
) -> None:
    await make_user(engine, "officer1", Role.collector)
    # L1 carries the signal, L2 (the same dates, no signal) is the comparison.
    loans = [
        ("L1", "B1", DISBURSED, D(2025, 9, 27), "officer1"),
        ("L2", "B2", DISBURSED, D(2025, 9, 27), "officer1"),
    ]
    first_due = D(2024, 11, 15) if signal == "overdue" else D(2025, 9, 27)
    await _book(engine, tmp_path, loans, [("L1", first_due), ("L2", D(2025, 9, 27))])
    await _night(engine, D(2024, 9, 30))
    for inspection in await _inspections(engine):
        finding = ("funds_misused",) if signal == "risk_finding" else ()
        if inspection["loan_ref"] == "L2":
            finding = ()
        await _record(engine, inspection["id"], D(2024, 10, 15), finding)
    async with engine.begin() as conn:
        loan = (
            await conn.execute(select(Loan.id, Loan.borrower_id).where(Loan.loan_ref == "L1"))
        ).one()
        if signal == "broken_promise":
            await conn.execute(
                insert(Promise).values(
                    loan_id=loan.id, amount=500, promised_on=D(2024, 11, 10), status="broken"
                )
            )
        if signal == "hold":
            await conn.execute(
                insert(Hold).values(
                    borrower_id=loan.borrower_id,
                    loan_id=loan.id,
                    code="dispute",
                    started_on=D(2024, 11, 1),
                    created_by="test",
                )
            )
    await _night(engine, D(2024, 11, 20))

    opened = [i for i in await _inspections(engine) if i["status"] == "open"]
    assert [(i["loan_ref"], i["kind"], i["due_on"]) for i in opened] == [
        # A month after the last (2024-11-15) is past: at once. L2 waits for its quarter.
        ("L1", "risk", D(2024, 11, 20))
    ]
    assert opened[0]["signals"] == [signal]


async def test_an_open_periodic_inspection_comes_forward_when_a_hold_starts(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    await make_user(engine, "officer1", Role.collector)
    await _book(engine, tmp_path, [("L1", "B1", DISBURSED, D(2025, 9, 27), "officer1")])
    await _night(engine, D(2024, 9, 30))
    (first,) = await _inspections(engine)
    await _record(engine, first["id"], D(2024, 10, 15))
    await _night(engine, D(2024, 12, 20))
    periodic = (await _inspections(engine, loan_ref="L1"))[-1]
    assert (periodic["kind"], periodic["due_on"]) == ("periodic", D(2025, 1, 15))
    async with engine.begin() as conn:
        borrower = await conn.scalar(select(Borrower.id).where(Borrower.borrower_ref == "B1"))
        await conn.execute(
            insert(Hold).values(
                borrower_id=borrower, code="bankruptcy", started_on=D(2024, 12, 22), created_by="t"
            )
        )
    await _night(engine, D(2024, 12, 23))
    await _night(engine, D(2024, 12, 24))  # again: the date stays, nothing more is audited
    sooner = (await _inspections(engine, loan_ref="L1"))[-1]
    assert sooner["id"] == periodic["id"]
    assert (sooner["kind"], sooner["due_on"]) == ("risk", D(2024, 12, 23))
    assert sooner["signals"] == ["hold"]
    async with engine.connect() as conn:
        (event,) = (
            await conn.execute(
                select(AuditEvent.details).where(AuditEvent.action == "inspection.sooner")
            )
        ).scalars()
    assert event["before"]["due_on"] == "2025-01-15"
    assert event["after"] == {"inspection": "risk", "due_on": "2024-12-23", "signals": "hold"}


async def test_a_loan_of_one_month_is_exempt_and_a_repaid_loan_stops_being_inspected(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    await make_user(engine, "officer1", Role.collector)
    loans = [
        ("L30", "B1", DISBURSED, D(2024, 10, 27), "officer1"),  # 30 days: exempt
        ("L31", "B2", DISBURSED, D(2024, 10, 28), "officer1"),  # a day over a month
    ]
    await _book(engine, tmp_path, loans)
    await _night(engine, D(2024, 9, 30))
    (only,) = await _inspections(engine)
    assert only["loan_ref"] == "L31"
    async with engine.begin() as conn:
        await conn.execute(update(Loan).where(Loan.loan_ref == "L31").values(status="closed"))
        report = await schedule_inspections(conn, D(2024, 10, 2), POLICY)
    assert report.cancelled == 1
    (cancelled,) = await _inspections(engine)
    assert cancelled["status"] == "cancelled"


async def test_the_officer_comes_from_loans_csv_and_an_unknown_one_is_a_bad_row(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    officer = await make_user(engine, "officer1", Role.collector)
    await make_user(engine, "gone", Role.collector)
    async with engine.begin() as conn:
        await conn.execute(update(User).where(User.username == "gone").values(active=False))
    loans = [
        ("L1", "B1", DISBURSED, D(2025, 9, 27), "officer1"),
        ("L2", "B2", DISBURSED, D(2025, 9, 27), "nobody"),
        ("L3", "B2", DISBURSED, D(2025, 9, 27), ""),
        ("L4", "B2", DISBURSED, D(2025, 9, 27), "gone"),
    ]
    report = await _book(engine, tmp_path, loans)
    errors = {(e.line, e.column, e.reason) for e in report.errors if e.file == "loans.csv"}
    assert errors == {
        (3, "officer", "unknown officer 'nobody'"),
        (5, "officer", "officer 'gone' is deactivated"),
    }
    async with engine.connect() as conn:
        stored = dict((await conn.execute(select(Loan.loan_ref, Loan.officer_id))).all())
    assert stored == {"L1": officer, "L3": None}
    # A file without the column keeps the officer on file.
    drop = tmp_path / "again"
    drop.mkdir()
    (drop / "loans.csv").write_text(
        "loan_ref,borrower_ref,currency,principal,annual_rate,disbursed_on,maturity_on\n"
        f"L1,B1,CNY,10000,0.12,{DISBURSED},2025-09-27\n"
    )
    await import_directory(engine, drop, ImportOptions())
    async with engine.connect() as conn:
        assert await conn.scalar(select(Loan.officer_id).where(Loan.loan_ref == "L1")) == officer
    await _night(engine, D(2024, 9, 30))
    owners = {i["loan_ref"]: i["owner"] for i in await _inspections(engine)}
    assert owners == {"L1": "officer1", "L3": None}
    # The lender names officers: the open inspections follow the next night.
    await make_user(engine, "officer2", Role.collector)
    (drop / "loans.csv").write_text(
        _loans_csv(
            [
                ("L1", "B1", DISBURSED, MATURITY, "officer2"),
                ("L3", "B2", DISBURSED, MATURITY, "officer2"),
            ]
        )
    )
    await import_directory(engine, drop, ImportOptions())
    await _night(engine, D(2024, 10, 1))
    owners = {i["loan_ref"]: i["owner"] for i in await _inspections(engine)}
    assert owners == {"L1": "officer2", "L3": "officer2"}
    async with engine.connect() as conn:
        moved = (
            await conn.execute(
                select(AuditEvent.entity_ref, AuditEvent.details)
                .where(AuditEvent.action == "inspection.reassigned")
                .order_by(AuditEvent.entity_ref)
            )
        ).all()
    assert [(ref, d["before"]["owner_id"]) for ref, d in moved] == [("L1", officer), ("L3", None)]


async def test_recording_refuses_what_cannot_be_and_closing_as_a_task_is_refused(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    await make_user(engine, "officer1", Role.collector)
    await _book(engine, tmp_path, [("L1", "B1", DISBURSED, D(2025, 9, 27), "officer1")])
    await _night(engine, D(2024, 9, 30))
    (first,) = await _inspections(engine)
    with pytest.raises(ValidationFailed, match="disbursed"):
        await _record(engine, first["id"], D(2024, 9, 1))
    with pytest.raises(ValidationFailed) as refused:
        await _record(engine, first["id"], D(2024, 10, 15), ("lost_keys",))
    assert refused.value.details[0]["field"] == "findings"

    async with engine.begin() as conn:
        with pytest.raises(ValidationFailed, match="is an inspection"):
            await close_task(conn, first["id"], "done", "", "sup", true())


# --- over the API and the command line ----------------------------------------------------------


async def test_the_officer_lists_and_records_and_a_collector_of_another_queue_cannot(
    client: Client, engine: AsyncEngine, tmp_path: Path
) -> None:
    await make_user(engine, "officer1", Role.collector)
    stranger = await make_user(engine, "stranger", Role.collector)
    await make_user(engine, "sup", Role.supervisor)
    await _book(engine, tmp_path, [("L1", "B1", DISBURSED, D(2025, 9, 27), "officer1")])
    await _night(engine, D(2024, 9, 30))
    async with engine.begin() as conn:
        # The stranger works a queue; the loan is in another one.
        queues = [
            await conn.scalar(insert(Queue).values(name=n, routing={}).returning(Queue.id))
            for n in ("Q mine", "Q theirs")
        ]
        await conn.execute(insert(QueueMember).values(queue_id=queues[0], user_id=stranger))
        await conn.execute(update(Loan).values(queue_id=queues[1]))
    officer = {"Authorization": f"Bearer {await login(client, 'officer1')}"}
    other = {"Authorization": f"Bearer {await login(client, 'stranger')}"}
    staff = {"Authorization": f"Bearer {await login(client, 'sup')}"}

    mine = await (await client.get("/api/inspections?mine=true", headers=officer)).json()
    assert [(i["loan_ref"], i["kind"], i["due_on"]) for i in mine["items"]] == [
        ("L1", "first", "2024-10-23")
    ]
    task = mine["items"][0]["id"]
    assert (await (await client.get("/api/inspections", headers=other)).json())["total"] == 0
    body = {"method": "off_site", "findings": ["collateral_impaired"], "inspected_on": "2024-10-15"}
    refused = await client.post(f"/api/inspections/{task}/outcome", json=body, headers=other)
    assert refused.status == 404
    seen = await (await client.get("/api/inspections?loan_ref=L1", headers=staff)).json()
    assert seen["total"] == 1

    bad = await client.post(
        f"/api/inspections/{task}/outcome", json={**body, "method": "telepathy"}, headers=officer
    )
    assert bad.status == 422
    answer = await client.post(f"/api/inspections/{task}/outcome", json=body, headers=officer)
    assert answer.status == 200, await answer.text()
    recorded = await answer.json()
    assert (recorded["status"], recorded["outcome"], recorded["findings"]) == (
        "done",
        "risk_found",
        ["collateral_impaired"],
    )
    assert recorded["recorded_late"] is True  # 2024's visit, recorded today
    again = await client.post(f"/api/inspections/{task}/outcome", json=body, headers=officer)
    assert again.status == 409
    async with engine.connect() as conn:
        actions = list(
            (
                await conn.execute(
                    select(AuditEvent.action)
                    .where(AuditEvent.entity_ref == "L1", AuditEvent.action.like("inspection.%"))
                    .order_by(AuditEvent.id)
                )
            ).scalars()
        )
    assert actions == ["inspection.scheduled", "inspection.recorded", "inspection.risk_found"]
    # The finding brings the next one forward: a risk inspection a month after the visit.
    await _night(engine, D(2024, 10, 16))
    nxt = await (await client.get("/api/inspections?mine=true", headers=officer)).json()
    assert [(i["kind"], i["due_on"], i["signals"]) for i in nxt["items"]] == [
        ("risk", "2024-11-15", ["risk_finding"])
    ]


def test_the_command_line_lists_and_records(
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    db: Any,
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("ARREARS_VAR_DIR", str(tmp_path / "var"))

    async def setup(engine: AsyncEngine) -> None:
        await make_user(engine, "officer1", Role.collector)
        await _book(engine, tmp_path, [("L1", "B1", DISBURSED, D(2025, 9, 27), "officer1")])
        await _night(engine, D(2024, 9, 30))

    db.run(setup)
    assert main(["inspections", "list", "--owner", "officer1"]) == 0
    listed = capsys.readouterr().out
    (line,) = [line for line in listed.splitlines() if " L1 " in line]  # logs go there too
    assert line.split()[1:4] == ["first", "open", "L1"]
    assert "due 2024-10-23" in line
    assert "officer1" in line
    task = int(line.split()[0])
    argv = ["inspections", "record", str(task), "--method", "on_site", "--on", "2024-10-15"]
    assert main([*argv, "--finding", "litigation", "--notes", "sued by a supplier"]) == 0
    assert "risk_found on 2024-10-15 — litigation" in capsys.readouterr().out
    assert main(argv) == 2  # recorded once
    assert "already done" in capsys.readouterr().err
    assert main(["inspections", "list", "--all", "--loan", "L1"]) == 0
    assert "risk_found" in capsys.readouterr().out
