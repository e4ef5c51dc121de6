"""The supervisors' task pages over HTTP, on both databases: a write-off proposed from its task
by one supervisor and decided by another (the proposer sees no decision, and one they force is
refused with the rule's words); agencies added, an account placed from its task and recalled,
the agencies' results and their CSV, safe in a spreadsheet; collectors refused."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from service.clock import FixedClock
from service.settings import Settings
from service.web.app import create_app
from tests.task_floor import Floor, build_floor, moment, origin


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


async def page(floor: Floor, who: str, path: str, status: int = 200) -> str:
    answer = await floor[who].get(path)
    html = await answer.text()
    assert answer.status == status, html
    return html


async def test_a_write_off_proposed_by_one_supervisor_is_decided_only_by_another(
    floor: Floor,
) -> None:
    proposal = await floor.task("L-LOSS", "write_off_proposal")
    html = await page(floor, "sup1", f"/tasks/{proposal}")
    assert f'action="/tasks/{proposal}/write-off"' in html
    assert '<label for="reason">' in html
    refused = await floor.post("sup1", f"/tasks/{proposal}/write-off", {"reason": "   "})
    assert refused.status == 422
    assert "Give the reason" in await refused.text()

    # A collector of the account's queue sees the task, not the form; posting it is refused.
    html = await page(floor, "legal", f"/tasks/{proposal}")
    assert "/write-off" not in html
    forced = await floor.post("legal", f"/tasks/{proposal}/write-off", {"reason": "x"})
    assert forced.status == 403

    proposed = await floor.post(
        "sup1", f"/tasks/{proposal}/write-off", {"reason": "borrower deceased, no estate"}
    )
    assert proposed.status == 303, await proposed.text()
    location = proposed.headers["Location"]
    found = re.fullmatch(r"/write-offs/([0-9]+)\?flash=proposed", location)
    assert found is not None
    write_off = int(found.group(1))
    assert await floor.rows("SELECT status, outcome FROM tasks WHERE id = :id", id=proposal) == [
        ("done", "proposed")
    ]

    # The proposer: the proposal, no decision to take.
    html = await page(floor, "sup1", location)
    assert "The write-off is proposed." in html
    assert 'data-testid="own-proposal"' in html
    assert 'data-testid="approve"' not in html
    assert 'data-testid="reject"' not in html
    (amounts,) = await floor.rows("SELECT principal, interest, penalty FROM write_offs")
    principal, interest, penalty = (Decimal(str(a)) for a in amounts)
    assert (principal, interest) == (Decimal("10000.00"), Decimal("200.00"))
    assert f"{principal + interest + penalty:,.2f}" in html  # written off in all
    # Forced, the decision is refused with the rule's words; nothing is decided.
    for decision in ("approve", "reject"):
        forced = await floor.post(
            "sup1", f"/write-offs/{write_off}/{decision}", {"note": "I am sure"}
        )
        html = await forced.text()
        assert forced.status == 409, html
        assert "Maker-checker: the proposer of a write-off cannot approve or reject it." in html
        assert "maker-checker: the proposer of a write-off cannot approve" in html  # the rule's
    assert await floor.rows("SELECT status FROM write_offs") == [("proposed",)]

    # The approval queue, for supervisors: the proposal waits there.
    html = await page(floor, "sup2", "/write-offs")
    assert f'<tr data-write-off="{write_off}">' in html
    assert "borrower deceased, no estate" in html
    assert 'data-testid="awaiting">1<' in await page(floor, "sup2", "/tasks")
    assert "No write-offs in this state." in await page(
        floor, "sup2", "/write-offs?status=approved"
    )

    # Another supervisor decides: a rejection needs its reason; the approval writes it off.
    html = await page(floor, "sup2", f"/write-offs/{write_off}")
    assert 'data-testid="approve"' in html
    refused = await floor.post("sup2", f"/write-offs/{write_off}/reject", {"note": ""})
    assert refused.status == 422
    approved = await floor.post("sup2", f"/write-offs/{write_off}/approve", {"note": "checked"})
    assert approved.status == 303, await approved.text()
    assert approved.headers["Location"] == f"/write-offs/{write_off}?flash=approved"
    (decided,) = await floor.rows(
        "SELECT w.status, u.username, w.decision_note FROM write_offs w "
        "JOIN users u ON u.id = w.decided_by"
    )
    assert decided == ("approved", "sup2", "checked")
    assert await floor.rows("SELECT status FROM loans WHERE loan_ref = 'L-LOSS'") == [
        ("written_off",)
    ]
    html = await page(floor, "sup1", approved.headers["Location"])
    assert 'data-testid="write-off-status">Approved' in html
    # Decided: decided once.
    again = await floor.post("sup2", f"/write-offs/{write_off}/reject", {"note": "no"})
    assert again.status == 409


async def test_a_proposal_is_withdrawn_and_collectors_see_no_write_off(floor: Floor) -> None:
    proposal = await floor.task("L-LOSS", "write_off_proposal")
    proposed = await floor.post("sup1", f"/tasks/{proposal}/write-off", {"reason": "uncollectable"})
    write_off = proposed.headers["Location"].split("?")[0]
    withdrawn = await floor.post("sup1", f"{write_off}/withdraw", {"note": "more to try"})
    assert withdrawn.status == 303
    assert "The proposal is withdrawn." in await page(floor, "sup1", withdrawn.headers["Location"])
    assert await floor.rows("SELECT status FROM write_offs") == [("withdrawn",)]
    for path in ("/write-offs", write_off):
        assert (await floor["legal"].get(path)).status == 403
    assert (await floor.post("legal", f"{write_off}/approve", {"note": ""})).status == 403
    assert (await floor["sup1"].get("/write-offs/99999")).status == 404


async def _agency_task(floor: Floor) -> int:
    """Two visits that found nobody: the next close of business plans the agency placement."""
    for day in (26, 27):
        visit = await floor.task("L-LOST", "field_visit")
        done = await floor.upload(
            "field", f"/tasks/{visit}/visit", [("outcome", "not_at_home"), ("note", "")]
        )
        assert done.status == 303
        await floor.cob(day)
    return await floor.task("L-LOST", "agency_placement")


async def test_an_account_is_placed_from_its_task_and_recalled_and_the_results_download(
    floor: Floor,
) -> None:
    task = await _agency_task(floor)
    html = await page(floor, "sup1", f"/tasks/{task}")
    assert "No active agency." in html

    # An agency added from its form; a commission out of bounds is refused, the form kept.
    form = {"agency_ref": "AG-1", "name": '=HYPERLINK("http://x","华东")', "contact_notes": ""}
    refused = await floor.post("sup1", "/agencies", {**form, "commission_percent": "150"})
    html = await refused.text()
    assert refused.status == 422, html
    assert "The commission is a percentage above 0 and below 100." in html
    assert 'value="AG-1"' in html
    added = await floor.post("sup1", "/agencies", {**form, "commission_percent": "15"})
    assert (added.status, added.headers["Location"]) == (303, "/agencies/AG-1?flash=created")
    (agency,) = await floor.rows("SELECT agency_ref, commission_rate FROM agencies")
    assert (agency[0], Decimal(str(agency[1]))) == ("AG-1", Decimal("0.15"))

    # The field collector sees the task but places nothing.
    html = await page(floor, "field", f"/tasks/{task}")
    assert "A supervisor places the account with an agency." in html
    assert (await floor.post("field", f"/tasks/{task}/place", {"agency_ref": "AG-1"})).status == 403

    html = await page(floor, "sup1", f"/tasks/{task}")
    assert '<option value="AG-1"' in html
    refused = await floor.post(
        "sup1", f"/tasks/{task}/place", {"agency_ref": "AG-1", "recall_on": "2026-11-01"}
    )
    assert refused.status == 422
    assert "The recall date is after today." in await refused.text()
    placed = await floor.post(
        "sup1", f"/tasks/{task}/place", {"agency_ref": "AG-1", "recall_on": "", "note": "委外"}
    )
    assert (placed.status, placed.headers["Location"]) == (303, f"/tasks/{task}?flash=placed")
    (placement,) = await floor.rows(
        "SELECT p.id, p.placed_on, p.recall_on, p.placed_by FROM placements p"
    )
    assert (str(placement[1]), str(placement[2]), placement[3]) == (
        "2026-11-27",
        "2027-02-25",  # ARREARS_AGENCY_RECALL_DAYS (90) later
        "sup1",
    )
    assert await floor.rows("SELECT status, outcome FROM tasks WHERE id = :id", id=task) == [
        ("done", "placed")
    ]
    html = await page(floor, "sup1", placed.headers["Location"])
    assert "The account is placed with the agency." in html
    assert f'data-testid="recall-{placement[0]}"' in html
    again = await floor.post("sup1", f"/tasks/{task}/place", {"agency_ref": "AG-1"})
    assert again.status == 409

    # The agency collects 1,000.00 while it holds the account.
    client = floor["sup1"]
    payment = {"payment_ref": "P-1", "loan_ref": "L-LOST", "paid_on": "2026-11-27",
               "amount": "1000.00"}  # fmt: skip
    paid = await client.post("/api/payments", json=payment, headers=origin(client))
    assert paid.status == 201, await paid.text()

    html = await page(floor, "sup1", "/agencies/AG-1")
    assert f'<tr data-placement="{placement[0]}">' in html
    assert re.search(r'data-testid="commission">[^<]*150\.00<', html)
    recalled = await floor.post(
        "sup1",
        f"/placements/{placement[0]}/recall",
        {"next": "/agencies/AG-1?all=1", "note": "contract ended"},
    )
    assert (recalled.status, recalled.headers["Location"]) == (
        303,
        "/agencies/AG-1?flash=recalled",
    )
    assert await floor.rows("SELECT recall_reason, recalled_by FROM placements") == [
        ("manual", "sup1")
    ]
    html = await page(floor, "sup1", recalled.headers["Location"])
    assert "The account is recalled from the agency." in html
    assert "None." in html  # nothing placed now
    twice = await floor.post("sup1", f"/placements/{placement[0]}/recall", {"note": ""})
    assert twice.status == 409

    html = await page(floor, "sup1", "/agencies")
    row = re.search(r'<tr data-agency="AG-1">.*?</tr>', html, re.S)
    assert row is not None
    assert re.search(r'data-testid="collected">[^<]*1,000\.00<', row.group(0))
    assert 'href="/agencies/results.csv"' in html

    # The results as CSV: the exports' writer, a formula in a name neutralised.
    answer = await client.get("/agencies/results.csv")
    assert answer.status == 200
    assert answer.content_type == "text/csv"
    assert "attachment" in answer.headers["Content-Disposition"]
    (result,) = list(csv.DictReader(io.StringIO(await answer.text())))
    assert result["name"] == '\'=HYPERLINK("http://x","华东")'
    assert (result["placed"], result["active"], result["recalled_manual"]) == ("1", "0", "1")
    assert (result["collected"], result["commission"]) == ("1000.00", "150.00")
    # Over a period with no placement: nothing placed, nothing collected.
    answer = await client.get("/agencies/results.csv?from=2026-12-01")
    (result,) = list(csv.DictReader(io.StringIO(await answer.text())))
    assert (result["placed"], result["collected"]) == ("0", "0.00")
    assert (await client.get("/agencies/results.csv?from=someday")).status == 422


async def test_collectors_reach_none_of_the_agency_pages(floor: Floor) -> None:
    for path in ("/agencies", "/agencies/AG-1", "/agencies/results.csv"):
        assert (await floor["field"].get(path)).status == 403, path
    assert (await floor.post("field", "/agencies", {"agency_ref": "X"})).status == 403
    assert (await floor.post("field", "/placements/1/recall", {"note": ""})).status == 403
    assert (await floor["sup1"].get("/agencies/AG-404")).status == 404
    assert await floor.rows("SELECT id FROM agencies") == []
