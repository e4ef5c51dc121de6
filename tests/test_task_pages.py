"""The task pages over HTTP, on both databases: the lists (a collector's queues only, their own
first, by kind, filtered, paged), a field visit recorded from its form with a photo, the legal
review, the inspection, calling a task off; another queue's collector gets 404 on every page and
form of a task, a form without its token 403. Placements and write-offs:
tests/test_task_pages_staff.py."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from service.clock import FixedClock
from service.settings import Settings
from service.web.app import create_app
from tests.task_floor import PNG, Floor, build_floor, moment

PHOTO_LIMIT = 64 * 1024


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, photo_max_bytes=PHOTO_LIMIT)


@pytest.fixture
async def floor(
    aiohttp_client: Any,
    aiohttp_server: Any,
    engine: AsyncEngine,
    settings: Settings,
    tmp_path: Path,
) -> Floor:
    clock = FixedClock(moment(25))
    built = await build_floor(engine, settings, clock, tmp_path / "drop")
    server = await aiohttp_server(create_app(settings, clock))
    await built.log_in(aiohttp_client, server)
    return built


def listed(html: str) -> list[int]:
    """The task ids a list page shows, in its order."""
    return [int(found) for found in re.findall(r'<tr data-task="([0-9]+)"', html)]


async def page(floor: Floor, who: str, path: str, status: int = 200) -> str:
    answer = await floor[who].get(path)
    html = await answer.text()
    assert answer.status == status, html
    return html


async def test_a_collector_lists_only_their_queues_tasks_by_kind_and_their_own_first(
    floor: Floor,
) -> None:
    visit = await floor.task("L-LOST", "field_visit")
    visit_inspection = await floor.task("L-LOST", "inspection")
    legal = {await floor.task("L-LOSS", "legal_review"), await floor.task("L-M4", "legal_review")}
    every = {task for (task,) in await floor.rows("SELECT id FROM tasks")}

    html = await page(floor, "field", "/tasks")
    assert set(listed(html)) == {visit, visit_inspection}  # the field queue's account only
    assert f'href="/tasks/{visit}"' in html
    assert "张八" in html  # the borrower, by name
    # Past due (the inspection was due in June): flagged.
    overdue = re.search(rf'<tr data-task="{visit_inspection}".*?</tr>', html, re.S)
    assert overdue is not None
    assert 'data-testid="overdue"' in overdue.group(0)
    assert "/write-offs" not in html  # the approval queue is a supervisor's

    assert listed(await page(floor, "early", "/tasks")) == []
    assert 'data-testid="no-tasks"' in await page(floor, "early", "/tasks")
    assert set(listed(await page(floor, "sup1", "/tasks"))) == every

    # By kind; the tab counts are the kind's.
    html = await page(floor, "legal", "/tasks?kind=legal_review")
    assert set(listed(html)) == legal
    tab = re.search(r'data-kind="legal_review"[^>]*>.*?<span class="chip">([0-9]+)</span>', html)
    assert tab is not None
    assert tab.group(1) == "2"
    assert listed(await page(floor, "legal", "/tasks?kind=field_visit")) == []
    # Due: past due only, by today, any; a state.
    assert set(listed(await page(floor, "field", "/tasks?due=overdue"))) == {visit_inspection}
    assert set(listed(await page(floor, "field", "/tasks?due=today"))) == {visit, visit_inspection}
    assert listed(await page(floor, "field", "/tasks?status=done")) == []
    # Unknown filters are the defaults, never an error.
    assert set(listed(await page(floor, "field", "/tasks?kind=x&status=y&due=z&page=-3"))) == {
        visit,
        visit_inspection,
    }

    # Their own first: a task they own leads the list, before older ones due sooner.
    html = await page(floor, "sup1", "/tasks")
    assert listed(html)[0] != visit  # in due order, the inspections due in 2025 come first
    assert 'class="mine"' not in html
    await floor.execute(
        "UPDATE tasks SET owner_id = (SELECT id FROM users WHERE username = 'sup1') "
        "WHERE id = :task",
        task=visit,
    )
    html = await page(floor, "sup1", "/tasks")
    assert listed(html)[0] == visit
    assert re.search(rf'<tr data-task="{visit}" class="mine"', html)


async def test_the_list_pages_through_a_long_list(floor: Floor) -> None:
    from sqlalchemy import text

    async with floor.engine.begin() as conn:
        loan = (await conn.execute(text("SELECT id FROM loans WHERE loan_ref = 'L-M4'"))).scalar()
        for n in range(60):
            await conn.execute(
                text(
                    "INSERT INTO tasks (idempotency_key, loan_id, kind, status, due_on, result, "
                    "created_at, notes) VALUES (:key, :loan, 'legal_review', 'cancelled', :due, "
                    "'', :now, '')"
                ),
                {"key": f"old-{n}", "loan": loan, "due": dt.date(2026, 1, 1), "now": moment(1)},
            )
    first = await page(floor, "legal", "/tasks?status=cancelled")
    assert len(listed(first)) == 50
    assert "1–50" in first
    assert "60" in first
    assert 'href="/tasks?status=cancelled&amp;page=2"' in first
    second = await page(floor, "legal", "/tasks?status=cancelled&page=2")
    assert len(listed(second)) == 10
    assert not set(listed(first)) & set(listed(second))
    beyond = await page(floor, "legal", "/tasks?status=cancelled&page=99")
    assert listed(beyond) == listed(second)  # past the end: the last page


async def test_a_visit_recorded_from_its_form_with_a_photo_stores_what_the_api_would(
    floor: Floor, settings: Settings
) -> None:
    visit = await floor.task("L-LOST", "field_visit")
    html = await page(floor, "field", f"/tasks/{visit}")
    assert 'enctype="multipart/form-data"' in html
    # The token is the form's first field (the upload is streamed, the token checked first).
    form = html[html.index('data-testid="visit-form"') :]
    assert form.index('name="csrf_token"') < form.index('name="outcome"')
    assert 'href="/accounts/L-LOST"' in html
    for outcome in ("met_debtor", "promise", "refused", "not_at_home", "address_wrong", "moved"):
        assert f'value="{outcome}"' in html
    # Every field has its label.
    for field in ("promise-amount", "promise-on", "visit-note", "visit-photos"):
        assert f'<label for="{field}">' in html

    # A promise without its amount: refused, the form shown again with what was typed; the
    # photo sent with it is kept on the visit.
    refused = await floor.upload(
        "field",
        f"/tasks/{visit}/visit",
        [
            ("outcome", "promise"),
            ("promise_amount", ""),
            ("promise_on", ""),
            ("note", "答应月底还"),
            ("photo", ("door.png", PNG)),
        ],
    )
    html = await refused.text()
    assert refused.status == 422, html
    assert 'role="alert"' in html
    assert "答应月底还</textarea>" in html
    assert re.search(r'value="promise" checked', html)
    assert await floor.rows("SELECT status FROM tasks WHERE id = :id", id=visit) == [("open",)]
    (photo,) = await floor.rows("SELECT id, sha256, size FROM task_attachments")
    assert photo[2] == len(PNG)
    assert (settings.var_dir / "attachments" / photo[1][:2] / photo[1]).read_bytes() == PNG

    # Not an image: refused with the photo rule, nothing stored.
    refused = await floor.upload(
        "field",
        f"/tasks/{visit}/visit",
        [("outcome", "refused"), ("note", ""), ("photo", ("scan.pdf", b"%PDF-1.4 no"))],
    )
    assert refused.status == 422
    assert "JPEG, PNG or WebP" in await refused.text()
    assert len(await floor.rows("SELECT id FROM task_attachments")) == 1

    # The visit recorded: a promise, notes, a second photo.
    second = PNG + b"second"
    done = await floor.upload(
        "field",
        f"/tasks/{visit}/visit",
        [
            ("outcome", "promise"),
            ("promise_amount", "5000.00"),
            ("promise_on", "2026-11-30"),
            ("note", "答应月底还"),
            ("photo", ("gate.png", second)),
        ],
    )
    assert done.status == 303, await done.text()
    assert done.headers["Location"] == f"/tasks/{visit}?flash=visit"
    html = await page(floor, "field", done.headers["Location"])
    assert "The visit is recorded." in html
    assert 'data-testid="task-status">Done' in html
    assert "The debtor promised to pay" in html
    assert html.count("<img ") == 2

    # What the API would store: the task closed, the visit in the contact log, the promise.
    assert await floor.rows(
        "SELECT status, outcome, notes, closed_by FROM tasks WHERE id = :id", id=visit
    ) == [("done", "promise", "答应月底还", "field")]  # fmt: skip
    assert await floor.rows(
        f"SELECT channel, result, disposition FROM contact_log WHERE attempt_ref = 'visit-{visit}'"
    ) == [("visit", "conversation", "promise_to_pay")]  # fmt: skip
    promised = await floor.rows("SELECT amount, promised_on, status, source FROM promises")
    assert [(Decimal(str(p[0])), str(p[1]), p[2], p[3]) for p in promised] == [
        (Decimal("5000.00"), "2026-11-30", "pending", "visit")
    ]
    timeline = await (await floor["field"].get("/api/loans/L-LOST/timeline")).json()
    visits = [
        i for i in timeline["items"] if i["kind"] == "attempt" and i["ref"] == f"visit-{visit}"
    ]
    assert [v["details"]["channel"] for v in visits] == ["visit"]
    names = await floor.rows("SELECT filename FROM task_attachments ORDER BY id")
    assert names == [("door.png",), ("gate.png",)]

    # Closed once: a second record is refused as the API refuses it (409), nothing changes.
    again = await floor.upload(
        "field", f"/tasks/{visit}/visit", [("outcome", "refused"), ("note", "")]
    )
    assert again.status == 409
    # Photos may still be added to the closed visit.
    more = await floor.upload(
        "field", f"/tasks/{visit}/photos", [("photo", ("later.png", PNG + b"3"))]
    )
    assert (more.status, more.headers["Location"]) == (303, f"/tasks/{visit}?flash=photos")
    assert len(await floor.rows("SELECT id FROM task_attachments")) == 3


async def test_a_visit_that_found_nobody_fails_and_a_photo_past_the_limit_is_refused(
    floor: Floor, settings: Settings
) -> None:
    visit = await floor.task("L-LOST", "field_visit")
    big = PNG + bytes(settings.photo_max_bytes)
    refused = await floor.upload("field", f"/tasks/{visit}/photos", [("photo", ("huge.png", big))])
    assert refused.status == 413
    assert "MB" in await refused.text()
    assert await floor.rows("SELECT id FROM task_attachments") == []
    done = await floor.upload(
        "field",
        f"/tasks/{visit}/visit",
        [("outcome", "not_at_home"), ("promise_amount", "10.00"), ("note", "门锁着")],
    )
    assert done.status == 303, await done.text()
    # The amount beside another outcome is not a promise (the form ties it to "promise").
    assert await floor.rows("SELECT status, outcome FROM tasks WHERE id = :id", id=visit) == [
        ("failed", "not_at_home")
    ]
    assert await floor.rows("SELECT id FROM promises") == []
    assert await floor.rows(
        f"SELECT result FROM contact_log WHERE attempt_ref = 'visit-{visit}'"
    ) == [("no_answer",)]  # fmt: skip


async def test_a_legal_review_from_its_form_files_suit_and_holds_the_loan(floor: Floor) -> None:
    review = await floor.task("L-LOSS", "legal_review")
    html = await page(floor, "legal", f"/tasks/{review}")
    for outcome in ("file_suit", "negotiate", "not_viable", "refer_write_off"):
        assert f'value="{outcome}"' in html
    refused = await floor.post(
        "legal", f"/tasks/{review}/legal-review", {"outcome": "sue", "note": "x"}
    )
    assert refused.status == 422
    assert "Choose what came of it." in await refused.text()

    done = await floor.post(
        "legal",
        f"/tasks/{review}/legal-review",
        {"outcome": "file_suit", "note": "assets found: a flat in 朝阳区 "},
    )
    assert (done.status, done.headers["Location"]) == (303, f"/tasks/{review}?flash=legal")
    assert await floor.rows(
        "SELECT status, outcome, notes FROM tasks WHERE id = :id", id=review
    ) == [("done", "file_suit", "assets found: a flat in 朝阳区")]
    holds = await floor.rows(
        "SELECT h.code FROM holds h JOIN loans l ON l.id = h.loan_id WHERE l.loan_ref = 'L-LOSS'"
    )
    assert holds == [("legal_action",)]
    html = await page(floor, "legal", f"/tasks/{review}?flash=legal")
    assert "File suit" in html
    assert f'action="/tasks/{review}/legal-review"' not in html  # closed


async def test_an_inspection_from_its_form_records_its_findings(floor: Floor) -> None:
    inspection = await floor.task("L-M4", "inspection")
    html = await page(floor, "legal", f"/tasks/{inspection}")
    assert "First inspection" in html
    assert 'value="on_site"' in html
    assert 'value="collateral_impaired"' in html
    refused = await floor.post(
        "legal",
        f"/tasks/{inspection}/inspection",
        {"method": "on_site", "findings": "litigation", "inspected_on": "2026-12-01"},
    )
    html = await refused.text()
    assert refused.status == 422, html
    assert "not in the future" in html
    assert re.search(r'value="litigation" checked', html)  # what was ticked, shown again

    form = {"method": "on_site", "notes": "仓库一半是空的", "inspected_on": "2026-11-24"}
    data: list[tuple[str, str]] = [*form.items(), ("findings", "collateral_impaired"),
                                   ("findings", "litigation")]  # fmt: skip
    client = floor["legal"]
    from tests.task_floor import origin, token_of

    data.insert(0, ("csrf_token", await token_of(client, "/tasks")))
    done = await client.post(
        f"/tasks/{inspection}/inspection", data=data, headers=origin(client), allow_redirects=False
    )
    assert done.status == 303, await done.text()
    (row,) = await floor.rows(
        "SELECT status, outcome, notes, done_on, details FROM tasks WHERE id = :id", id=inspection
    )
    assert row[:3] == ("done", "risk_found", "仓库一半是空的")
    assert str(row[3]) == "2026-11-24"
    details = row[4] if isinstance(row[4], dict) else __import__("json").loads(row[4])
    assert details["findings"] == ["collateral_impaired", "litigation"]
    html = await page(floor, "legal", f"/tasks/{inspection}")
    assert "Risk found" in html
    assert "Collateral impaired or short of value" in html
    events = await floor.rows(
        "SELECT action FROM audit_log WHERE action LIKE 'inspection.%' AND entity_ref = 'L-M4' "
        "ORDER BY id"
    )
    assert [a for (a,) in events][-2:] == ["inspection.recorded", "inspection.risk_found"]


async def test_a_task_is_called_off_with_a_reason(floor: Floor) -> None:
    review = await floor.task("L-M4", "legal_review")
    done = await floor.post("legal", f"/tasks/{review}/cancel", {"note": "  settled in court "})
    assert done.status == 303
    assert await floor.rows("SELECT status, notes FROM tasks WHERE id = :id", id=review) == [
        ("cancelled", "settled in court")
    ]
    html = await page(floor, "legal", done.headers["Location"])
    assert "The task is called off." in html
    assert (await floor.post("legal", f"/tasks/{review}/cancel", {"note": ""})).status == 409


async def test_another_queues_collector_gets_404_on_every_page_and_form_of_a_task(
    floor: Floor,
) -> None:
    visit = await floor.task("L-LOST", "field_visit")
    review = await floor.task("L-LOSS", "legal_review")
    inspection = await floor.task("L-LOSS", "inspection")
    for task in (visit, review, inspection, 999_999):
        assert (await floor["early"].get(f"/tasks/{task}")).status == 404
    assert (
        await floor.post("early", f"/tasks/{review}/legal-review", {"outcome": "negotiate"})
    ).status == 404
    assert (await floor.post("early", f"/tasks/{review}/cancel", {"note": "x"})).status == 404
    assert (
        await floor.post("early", f"/tasks/{inspection}/inspection", {"method": "off_site"})
    ).status == 404
    for form in ("visit", "photos"):
        answer = await floor.upload(
            "early", f"/tasks/{visit}/{form}", [("outcome", "moved"), ("photo", ("a.png", PNG))]
        )
        assert answer.status == 404, form
    # The supervisors' forms: refused by role before anything is looked up.
    assert (await floor.post("early", f"/tasks/{visit}/place", {"agency_ref": "A"})).status == 403
    assert (await floor.post("early", f"/tasks/{visit}/write-off", {"reason": "x"})).status == 403
    # Nothing was touched; no photo was stored.
    open_tasks = await floor.rows(
        "SELECT count(*) FROM tasks WHERE id IN (:a, :b, :c) AND status = 'open'",
        a=visit,
        b=review,
        c=inspection,
    )
    assert open_tasks == [(3,)]
    assert await floor.rows("SELECT id FROM task_attachments") == []
    # And the field collector, whose queue it is, sees the visit but not the legal queue's.
    assert (await floor["field"].get(f"/tasks/{visit}")).status == 200
    assert (await floor["field"].get(f"/tasks/{review}")).status == 404


async def test_a_form_without_its_token_is_refused(floor: Floor) -> None:
    visit = await floor.task("L-LOST", "field_visit")
    review = await floor.task("L-LOSS", "legal_review")
    answer = await floor.post(
        "legal", f"/tasks/{review}/legal-review", {"outcome": "negotiate"}, token=False
    )
    assert answer.status == 403
    answer = await floor.upload(
        "field", f"/tasks/{visit}/visit", [("outcome", "moved")], token=False
    )
    assert answer.status == 403
    assert await floor.rows(
        "SELECT count(*) FROM tasks WHERE id IN (:a, :b) AND status = 'open'", a=visit, b=review
    ) == [(2,)]  # fmt: skip


async def test_the_task_pages_in_chinese_show_no_english_outside_the_data(floor: Floor) -> None:
    from tests.task_floor import latin_words

    visit = await floor.task("L-LOST", "field_visit")
    review = await floor.task("L-LOSS", "legal_review")
    inspection = await floor.task("L-LOSS", "inspection")
    proposal = await floor.task("L-LOSS", "write_off_proposal")
    client = floor["sup1"]
    assert "Tasks" in latin_words(await (await client.get("/tasks")).text())  # the check sees
    await floor.post("sup1", "/me/language", {"locale": "zh-CN", "next": "/tasks"})
    for path in ("/tasks", f"/tasks/{visit}", f"/tasks/{review}", f"/tasks/{inspection}",
                 f"/tasks/{proposal}", "/tasks?kind=inspection&status=any"):  # fmt: skip
        html = await (await client.get(path)).text()
        assert 'lang="zh-CN"' in html
        assert latin_words(html) == [], path
    assert "外访" in await (await client.get(f"/tasks/{visit}")).text()
