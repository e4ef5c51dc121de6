"""Field visits and agency placement, end to end on both databases: lost contact → field visits
with outcomes and photos → two failed visits → an agency_placement task → placed with an agency
→ the agency's file → a payment cures the account → close of business recalls it → the
agency's results; and the ways each step refuses what it must."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from service.assignment.queues import add_member, install_default_queues
from service.casework.visits import clean_filename
from service.cli import main
from service.clock import FixedClock
from service.cob.nightly import Planning, run_cob
from service.db.models import Role
from service.domain.agencies import RecallReason, commission, recall_reason
from service.domain.attachments import ImageType, sniff_image
from service.domain.casework import TaskStatus, VisitOutcome, visit_status
from service.ingest.pipeline import ImportOptions, import_directory
from service.settings import Settings
from service.web.app import create_app
from strategies.registry import load_registry
from tests.conftest import Db, login, make_user

Client = TestClient[Any, Any]
ZONE = dt.timezone(dt.timedelta(hours=8))
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
JPEG = b"\xff\xd8\xff\xe0" + b"\x10JFIF" + bytes(200)
PHOTO_LIMIT = 8 * 1024

BORROWERS = """\
borrower_ref,name,phone,alt_phones,timezone,locale,address,sms_consent
B-LOST,张八,13800138008,13800138018,Asia/Shanghai,zh-CN,北京市海淀区中关村大街1号,true
B-EARLY,张九,13800138009,,Asia/Shanghai,zh-CN,上海市,true
"""
CONTACTS = """\
borrower_ref,contact_ref,name,relation,phone,debt_related
B-LOST,C-EMERGENCY,李紧急,spouse,13900139000,false
"""
LOANS = """\
loan_ref,borrower_ref,currency,principal,annual_rate,disbursed_on,maturity_on
L-LOST,B-LOST,CNY,20000.00,0.00,2026-06-01,2027-06-01
L-EARLY,B-EARLY,CNY,3000.00,0.00,2026-06-01,2027-06-01
"""
INSTALLMENTS = """\
loan_ref,seq,due_on,principal_due,interest_due
L-LOST,1,2026-11-15,10000.00,0.00
L-LOST,2,2027-06-01,10000.00,0.00
L-EARLY,1,2026-11-15,1500.00,0.00
L-EARLY,2,2027-06-01,1500.00,0.00
"""
# Two days of unanswered calls, on both numbers: at the close of the 25th the debtor is lost.
ATTEMPTS = """\
attempt_ref,loan_ref,party,phone,channel,direction,occurred_at,result
X1,L-LOST,debtor,13800138008,call,outbound,2026-11-23T10:00:00+08:00,no_answer
X2,L-LOST,debtor,13800138008,call,outbound,2026-11-24T10:00:00+08:00,busy
X3,L-LOST,debtor,13800138018,call,outbound,2026-11-24T10:05:00+08:00,no_answer
"""


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, photo_max_bytes=PHOTO_LIMIT)


def _moment(day: int, month: int = 11) -> dt.datetime:
    return dt.datetime(2026, month, day, 10, 0, tzinfo=ZONE)


class Floor:
    """A lender's floor: the portfolio, queues, a field collector (the lost account's queue),
    an early collector (another queue), a supervisor, a clock and close of business."""

    def __init__(self, client: Client, engine: AsyncEngine, settings: Settings, clock: FixedClock):
        self.client, self.engine, self.settings, self.clock = client, engine, settings, clock
        self.headers: dict[str, dict[str, str]] = {}

    async def cob(self, day: int) -> None:
        planning = Planning(load_registry(), self.settings)
        await run_cob(
            self.engine, dt.date(2026, 11, day), self.settings.cob_config(), planning=planning
        )

    def at(self, day: int) -> None:
        self.clock.moment = _moment(day)

    async def call(self, method: str, url: str, who: str, **kwargs: Any) -> tuple[int, Any]:
        response = await self.client.request(method, url, headers=self.headers[who], **kwargs)
        body = await response.read()
        if response.content_type == "application/json":
            return response.status, json.loads(body)
        return response.status, body

    async def rows(self, sql: str) -> list[tuple[Any, ...]]:
        async with self.engine.connect() as conn:
            return [tuple(row) for row in await conn.execute(text(sql))]

    async def open_tasks(self, who: str = "sup") -> list[dict[str, Any]]:
        status, page = await self.call("GET", "/api/tasks", who)
        assert status == 200
        return list(page["items"])

    async def photo(self, task: int, who: str, data: bytes, name: str = "door.png") -> Any:
        form = aiohttp.FormData()
        form.add_field("photo", data, filename=name, content_type="image/png")
        return await self.call("POST", f"/api/tasks/{task}/photos", who, data=form)


def write_portfolio(folder: Path) -> Path:
    folder.mkdir()
    for name, content in (
        ("borrowers.csv", BORROWERS),
        ("contacts.csv", CONTACTS),
        ("loans.csv", LOANS),
        ("installments.csv", INSTALLMENTS),
        ("attempts.csv", ATTEMPTS),
    ):
        (folder / name).write_text(content, encoding="utf-8")
    return folder


@pytest.fixture
async def floor(
    aiohttp_client: Any, engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> Floor:
    folder = write_portfolio(tmp_path / "drop")
    report = await import_directory(engine, folder, ImportOptions())
    assert report.error_count == 0
    await make_user(engine, "field", Role.collector)
    await make_user(engine, "early", Role.collector)
    await make_user(engine, "sup", Role.supervisor)
    async with engine.begin() as conn:
        await install_default_queues(conn)
        await add_member(conn, "Field visits", "field")
        await add_member(conn, "M1 early", "early")
    clock = FixedClock(_moment(25))
    client: Client = await aiohttp_client(create_app(settings, clock))
    floor = Floor(client, engine, settings, clock)
    for who in ("field", "early", "sup"):
        floor.headers[who] = {"Authorization": f"Bearer {await login(client, who)}"}
    return floor


async def test_failed_visits_send_the_account_to_an_agency_until_a_payment_cures_it(
    floor: Floor, engine: AsyncEngine
) -> None:
    await floor.cob(25)
    (visit,) = await floor.open_tasks("field")
    assert (visit["kind"], visit["loan_ref"]) == ("field_visit", "L-LOST")
    assert await floor.open_tasks("early") == []  # another queue's account: not theirs

    # The field collector visits, finds nobody, photographs the door.
    status, photo = await floor.photo(visit["id"], "field", PNG)
    assert status == 201, photo
    shown = (photo["content_type"], photo["size"], photo["filename"])
    assert shown == ("image/png", len(PNG), "door.png")
    status, again = await floor.photo(visit["id"], "field", PNG)
    assert (status, again["id"]) == (200, photo["id"])  # the same picture once
    status, listed = await floor.call("GET", f"/api/tasks/{visit['id']}/photos", "sup")
    assert [p["id"] for p in listed["items"]] == [photo["id"]]
    status, data = await floor.call(
        "GET", f"/api/tasks/{visit['id']}/photos/{photo['id']}", "field"
    )
    assert (status, data) == (200, PNG)
    url = f"/api/tasks/{visit['id']}/close"
    status, closed = await floor.call(
        "POST", url, "field", json={"outcome": "not_at_home", "note": "门锁着, 邻居说很久没人"}
    )
    assert status == 200, closed
    assert (closed["status"], closed["outcome"]) == ("failed", "not_at_home")

    await floor.cob(26)
    (second,) = await floor.open_tasks("field")
    assert second["kind"] == "field_visit"
    assert second["id"] != visit["id"]
    url = f"/api/tasks/{second['id']}/close"
    status, closed = await floor.call("POST", url, "field", json={"outcome": "address_wrong"})
    assert (status, closed["status"]) == (200, "failed")
    status, taken = await floor.call("POST", "/api/work/next", "field")
    assert taken["account"]["loan_ref"] == "L-LOST"  # worked in-house until placed
    await floor.call("POST", "/api/work/release", "field")

    # Two failed visits: the next close of business plans the agency placement.
    await floor.cob(27)
    (task,) = await floor.open_tasks("sup")
    assert (task["kind"], task["loan_ref"]) == ("agency_placement", "L-LOST")

    floor.at(28)
    agency = {"agency_ref": "AG-1", "name": "华东催收", "commission_rate": "0.15",
              "contact_notes": "王经理 021-5555"}  # fmt: skip
    status, created = await floor.call("POST", "/api/agencies", "sup", json=agency)
    assert (status, created["commission_rate"]) == (201, "0.15")
    status, placed = await floor.call(
        "POST", f"/api/tasks/{task['id']}/place", "sup", json={"agency_ref": "AG-1"}
    )
    assert status == 201, placed
    assert (placed["placed_on"], placed["recall_on"]) == ("2026-11-28", "2027-02-26")
    assert placed["dpd_at_placement"] == 12
    assert placed["task_id"] == task["id"]
    assert await floor.open_tasks("sup") == []  # the task is closed as placed
    status, done = await floor.call("GET", "/api/tasks?all=true", "sup")
    (closed_task,) = [t for t in done["items"] if t["id"] == task["id"]]
    assert (closed_task["status"], closed_task["outcome"]) == ("done", "placed")

    # The agency's file: the debtor and the debt, never the emergency contact.
    status, handed = await floor.call("GET", "/api/agencies/AG-1/placement-file", "sup")
    assert status == 200
    lines = handed.decode("utf-8").splitlines()
    assert lines[0] == (
        "loan_ref,borrower_name,phone,alt_phones,address,currency,"
        "balance_at_placement,outstanding,overdue_amount,dpd,placed_on,recall_on"
    )
    (row,) = lines[1:]
    # Numbers are E.164; the CSV-safe writer quotes a cell that starts with "+" (it shows as
    # text in a spreadsheet, the quote hidden).
    assert row.startswith(
        "L-LOST,张八,+8613800138008,'+8613800138018,北京市海淀区中关村大街1号,CNY,"
    )
    assert row.endswith(",10000.00,12,2026-11-28,2027-02-26")
    assert "李紧急" not in handed.decode()
    assert "13900139000" not in handed.decode()

    # Placed: off the field collector's list, tonight too.
    status, taken = await floor.call("POST", "/api/work/next", "field")
    assert (status, taken["account"]) == (200, None)
    await floor.cob(28)
    status, taken = await floor.call("POST", "/api/work/next", "field")
    assert taken["account"] is None
    status, placements = await floor.call("GET", "/api/loans/L-LOST/placements", "field")
    assert [p["agency_ref"] for p in placements["items"]] == ["AG-1"]

    # The debtor pays the overdue: the next close of business recalls the account, cured.
    floor.at(29)
    payment = {"payment_ref": "P-1", "loan_ref": "L-LOST", "paid_on": "2026-11-29",
               "amount": "10200.00"}  # fmt: skip
    status, _ = await floor.call("POST", "/api/payments", "sup", json=payment)
    assert status == 201
    await floor.cob(29)
    status, history = await floor.call("GET", "/api/loans/L-LOST/placements", "sup")
    (ended,) = history["items"]
    assert (ended["recalled_on"], ended["recall_reason"]) == ("2026-11-29", "cured")
    status, results = await floor.call("GET", "/api/agencies/AG-1/results", "sup")
    assert status == 200
    assert results["placed"] == 1
    assert results["active"] == 0
    assert (results["collected"], results["commission"]) == ("10200.00", "1530.00")
    assert results["recalled"] == {"manual": 0, "recall_date": 0, "cured": 1, "loan_closed": 0}
    status, handed = await floor.call("GET", "/api/agencies/AG-1/placement-file", "sup")
    assert handed.decode().count("\n") == 1  # nothing placed any more: the header only

    async with engine.connect() as conn:
        actions = [
            (action, details)
            for action, details in await conn.execute(
                text(
                    "SELECT action, details FROM audit_log WHERE entity_ref = 'L-LOST' "
                    "AND action LIKE 'placement.%' ORDER BY id"
                )
            )
        ]
    assert [a for a, _ in actions] == ["placement.created", "placement.recalled"]
    created_details = (
        actions[0][1] if isinstance(actions[0][1], dict) else json.loads(actions[0][1])
    )
    assert created_details["before"] == {"placed": False}
    assert created_details["after"]["agency_ref"] == "AG-1"


async def test_a_visit_closes_only_with_an_outcome_from_the_list_and_a_promise_with_its_terms(
    floor: Floor,
) -> None:
    await floor.cob(25)
    (visit,) = await floor.open_tasks("field")
    url = f"/api/tasks/{visit['id']}/close"
    status, refused = await floor.call("POST", url, "field", json={"status": "failed"})
    assert status == 422
    assert refused["error"]["details"][0]["field"] == "outcome"
    status, refused = await floor.call("POST", url, "field", json={"outcome": "vanished"})
    assert status == 422
    assert refused["error"]["details"][0]["field"] == "outcome"
    status, refused = await floor.call("POST", url, "field", json={"outcome": "promise"})
    assert status == 422
    assert refused["error"]["details"][0]["field"] == "promise"
    late = {"outcome": "promise", "promise": {"amount": "500.00", "promised_on": "2026-11-01"}}
    status, refused = await floor.call("POST", url, "field", json=late)
    assert status == 422
    assert refused["error"]["details"][0]["field"] == "promise.promised_on"
    mixed = {"outcome": "not_at_home", "status": "done"}
    status, refused = await floor.call("POST", url, "field", json=mixed)
    assert status == 422
    assert refused["error"]["details"][0]["field"] == "status"
    stray = {"outcome": "met_debtor", "promise": {"amount": "5.00", "promised_on": "2026-12-01"}}
    assert (await floor.call("POST", url, "field", json=stray))[0] == 422
    assert [t["status"] for t in await floor.open_tasks("field")] == ["open"]  # none of it stuck

    kept = {"outcome": "promise", "note": "答应月底还",
            "promise": {"amount": "5000.00", "promised_on": "2026-11-30"}}  # fmt: skip
    status, closed = await floor.call("POST", url, "field", json=kept)
    assert status == 200, closed
    assert (closed["status"], closed["outcome"]) == ("done", "promise")
    assert closed["promise"] == {"amount": "5000.00", "promised_on": "2026-11-30"}
    status, every = await floor.call("GET", "/api/tasks?all=true", "field")
    (stored,) = every["items"]
    assert (stored["outcome"], stored["notes"]) == ("promise", "答应月底还")
    # The visit is in the contact log, a right-party contact, and its promise is stored.
    found = await floor.rows(
        "SELECT channel, result, disposition FROM contact_log "
        f"WHERE attempt_ref = 'visit-{visit['id']}'"
    )
    assert found == [("visit", "conversation", "promise_to_pay")]
    promised = await floor.rows("SELECT amount, promised_on, status, source FROM promises")
    assert [(str(p[1]), p[2], p[3]) for p in promised] == [("2026-11-30", "pending", "visit")]
    # Meeting the debtor clears 失联 at the next close of business: no further visit.
    await floor.cob(26)
    assert await floor.open_tasks("field") == []
    cleared = await floor.rows(
        "SELECT action FROM audit_log WHERE action LIKE 'loan.%contact%' ORDER BY id"
    )
    assert [a for (a,) in cleared] == ["loan.lost_contact", "loan.contact_regained"]


async def test_photos_are_images_within_the_limit_and_only_for_who_sees_the_task(
    floor: Floor, settings: Settings
) -> None:
    await floor.cob(25)
    (visit,) = await floor.open_tasks("field")
    photos = f"/api/tasks/{visit['id']}/photos"
    status, refused = await floor.photo(visit["id"], "field", b"%PDF-1.4 not a picture")
    assert status == 422
    assert "image" in refused["error"]["message"]
    status, refused = await floor.photo(visit["id"], "field", PNG[:8] + bytes(PHOTO_LIMIT))
    assert status == 413, refused
    status, refused = await floor.call("POST", photos, "field", json={"photo": "x"})
    assert status == 400
    form = aiohttp.FormData()
    form.add_field("picture", PNG, filename="a.png")
    assert (await floor.call("POST", photos, "field", data=form))[0] == 422
    status, stored = await floor.photo(visit["id"], "field", JPEG, name="../../etc/passwd")
    assert status == 201
    assert stored["content_type"] == "image/jpeg"
    assert "/" not in stored["filename"]  # a label, never a path
    # Content addressed under the var directory; nothing of the refused uploads left behind.
    kept = [p for p in (settings.var_dir / "attachments").rglob("*") if p.is_file()]
    assert [p.name for p in kept] == [stored["sha256"]]

    # A collector of another queue sees neither the task nor its photos, nor can add one.
    url = f"{photos}/{stored['id']}"
    assert (await floor.call("GET", photos, "early"))[0] == 404
    assert (await floor.call("GET", url, "early"))[0] == 404
    assert (await floor.photo(visit["id"], "early", PNG))[0] == 404
    assert (await floor.call("GET", url, "field"))[1] == JPEG
    assert (await floor.call("GET", f"{photos}/999", "field"))[0] == 404


async def test_placements_refuse_unknown_agencies_double_placement_and_collectors(
    floor: Floor,
) -> None:
    await floor.cob(25)
    place = {"loan_ref": "L-EARLY", "agency_ref": "AG-NONE"}
    status, refused = await floor.call("POST", "/api/placements", "sup", json=place)
    assert status == 404
    assert "AG-NONE" in refused["error"]["message"]
    agency = {"agency_ref": "AG-2", "name": "Agency Two", "commission_rate": "0.2"}
    assert (await floor.call("POST", "/api/agencies", "sup", json=agency))[0] == 201
    assert (await floor.call("POST", "/api/agencies", "sup", json=agency))[0] == 409
    bad_rate = {**agency, "agency_ref": "AG-3", "commission_rate": "1.5"}
    assert (await floor.call("POST", "/api/agencies", "sup", json=bad_rate))[0] == 422
    assert (await floor.call("POST", "/api/agencies", "early", json=agency))[0] == 403

    place["agency_ref"] = "AG-2"
    assert (await floor.call("POST", "/api/placements", "early", json=place))[0] == 403
    status, placed = await floor.call(
        "POST", "/api/placements", "sup", json={**place, "recall_on": "2026-12-31"}
    )
    assert (status, placed["recall_on"], placed["task_id"]) == (201, "2026-12-31", None)
    status, refused = await floor.call("POST", "/api/placements", "sup", json=place)
    assert status == 409
    assert "already placed" in refused["error"]["message"]

    # The database keeps one active placement per loan, whoever writes.
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError):
        async with floor.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO placements (loan_id, agency_id, placed_on, placed_at, placed_by,"
                    " balance_at_placement, overdue_at_placement, dpd_at_placement, recall_on,"
                    " note) SELECT loan_id, agency_id, placed_on, placed_at, 'x',"
                    " balance_at_placement, overdue_at_placement, 0, recall_on, ''"
                    " FROM placements"
                )
            )

    # Deactivated, the agency takes nothing new; recalled by hand, the account may go again.
    change = {"active": False}
    status, changed = await floor.call("POST", "/api/agencies/AG-2", "sup", json=change)
    assert (status, changed["active"]) == (200, False)
    status, recalled = await floor.call(
        "POST", f"/api/placements/{placed['id']}/recall", "sup", json={"note": "contract ended"}
    )
    assert (status, recalled["reason"]) == (200, "manual")
    again = await floor.call("POST", f"/api/placements/{placed['id']}/recall", "sup", json={})
    assert again[0] == 409
    status, refused = await floor.call("POST", "/api/placements", "sup", json=place)
    assert status == 409
    assert "not active" in refused["error"]["message"]
    status, listed = await floor.call("GET", "/api/agencies", "sup")
    assert listed["items"] == []  # inactive ones only with all=true
    status, listed = await floor.call("GET", "/api/agencies?all=true", "sup")
    assert [a["agency_ref"] for a in listed["items"]] == ["AG-2"]
    status, _history = await floor.call("GET", "/api/loans/L-EARLY/placements", "field")
    assert status == 404  # not the field collector's account


async def test_close_of_business_recalls_on_the_recall_date(floor: Floor) -> None:
    await floor.cob(25)
    agency = {"agency_ref": "AG-4", "name": "Agency Four", "commission_rate": "0.1"}
    await floor.call("POST", "/api/agencies", "sup", json=agency)
    place = {"loan_ref": "L-EARLY", "agency_ref": "AG-4", "recall_on": "2026-11-26"}
    assert (await floor.call("POST", "/api/placements", "sup", json=place))[0] == 201
    await floor.cob(26)
    _, history = await floor.call("GET", "/api/loans/L-EARLY/placements", "sup")
    assert history["items"][0]["recall_reason"] == "recall_date"
    _, results = await floor.call("GET", "/api/agencies/AG-4/results", "sup")
    assert (results["collected"], results["recalled"]["recall_date"]) == ("0.00", 1)


def test_the_command_line_keeps_agencies_places_hands_out_and_reports(
    db: Db, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_URL", db.settings.database_url)
    monkeypatch.setenv("ARREARS_VAR_DIR", str(db.settings.var_dir))
    monkeypatch.setenv("ARREARS_LENDER_TIMEZONE", "Asia/Shanghai")
    assert main(["import", str(write_portfolio(tmp_path / "drop")), "--as-of", "2026-11-24"]) == 0
    assert main(["agencies", "add", "AG-CLI", "--name", "命令行", "--rate", "0.125"]) == 0
    assert main(["agencies", "add", "AG-BAD", "--name", "x", "--rate", "2"]) == 2
    assert main(["placements", "add", "L-EARLY", "--agency", "AG-CLI"]) == 0
    assert main(["placements", "add", "L-EARLY", "--agency", "AG-CLI"]) == 2
    assert "already placed" in capsys.readouterr().err
    out = tmp_path / "file.csv"
    assert main(["agencies", "file", "AG-CLI", "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8").splitlines()[1].startswith("L-EARLY,张九,")
    capsys.readouterr()
    assert main(["agencies", "results", "AG-CLI", "--json"]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert (result["placed"], result["active"], result["commission_rate"]) == (1, 1, "0.125")
    assert main(["agencies", "set", "AG-CLI", "--inactive"]) == 0
    assert main(["placements", "recall", "L-EARLY", "--note", "by hand"]) == 0
    assert main(["placements", "list", "--all"]) == 0
    assert "recalled" in capsys.readouterr().out

    # Field visits from the command line: an outcome, a photo.
    image = tmp_path / "door.png"
    image.write_bytes(PNG)
    assert main(["cob", "--as-of", "2026-11-25"]) == 0
    ((task_id,),) = db.rows("SELECT id FROM tasks WHERE kind = 'field_visit'")
    assert main(["tasks", "photo-add", str(task_id), str(image)]) == 0
    assert main(["tasks", "photos", str(task_id)]) == 0
    assert "door.png" in capsys.readouterr().out
    assert main(["tasks", "close", str(task_id), "--status", "failed"]) == 2
    assert "outcome" in capsys.readouterr().err
    assert main(["tasks", "close", str(task_id), "--outcome", "moved", "--note", "搬走了"]) == 0
    assert db.rows(f"SELECT status, outcome, notes FROM tasks WHERE id = {task_id}") == [
        ("failed", "moved", "搬走了")
    ]


def test_the_rules_read_as_the_policies_do() -> None:
    assert {o for o in VisitOutcome if visit_status(o) is TaskStatus.failed} == {
        VisitOutcome.not_at_home, VisitOutcome.address_wrong, VisitOutcome.moved,
    }  # fmt: skip
    day, zero, owed = dt.date(2026, 12, 1), Decimal("0.00"), Decimal("1.00")
    terms: dict[str, Any] = {"paid_since_placement": True, "recall_on": day, "as_of": day}
    assert recall_reason(loan_open=False, overdue=owed, **terms) is RecallReason.loan_closed
    assert recall_reason(loan_open=True, overdue=zero, **terms) is RecallReason.cured
    later = {**terms, "recall_on": day + dt.timedelta(days=1)}
    assert recall_reason(loan_open=True, overdue=owed, **later) is None
    unpaid = {**later, "paid_since_placement": False}
    assert recall_reason(loan_open=True, overdue=zero, **unpaid) is None  # cured, not by a payment
    assert recall_reason(loan_open=True, overdue=owed, **terms) is RecallReason.recall_date
    assert commission(Decimal("10200.00"), Decimal("0.15")) == Decimal("1530.00")
    assert commission(Decimal("0.05"), Decimal("0.1")) == Decimal("0.01")  # half up
    assert sniff_image(PNG) is ImageType.png
    assert sniff_image(JPEG) is ImageType.jpeg
    assert sniff_image(b"RIFF\x00\x00\x00\x00WEBPVP8 ") is ImageType.webp
    assert sniff_image(b"GIF89a") is None
    assert sniff_image(b"") is None
    assert clean_filename("../../etc/passwd") == "passwd"
    assert clean_filename("C:\\照片\\门口.jpg") == "门口.jpg"
    assert clean_filename("a\x00b\n.png") == "ab.png"
    assert clean_filename(None) == ""
