"""Route × role: every documented operation, asked by nobody, by a collector about an account of
another queue, and by staff. Nobody gets past the login; the collector never sees, nor changes,
what is not theirs — every operation that works on their own account answers 403 or 404 on the
other queue's, and nothing of that account shows in any answer."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient
from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from service.db.models import (
    Borrower,
    Loan,
    PhoneNumber,
    Queue,
    QueueMember,
    Role,
    Task,
    WriteOff,
)
from service.devtools.demo import write_demo_portfolio
from service.domain.casework import TaskStatus
from service.ingest.pipeline import ImportOptions, import_directory
from service.treatment.plans import active_plans, install_default_plan
from tests.conftest import login, make_user
from tests.test_openapi import sample

Client = TestClient[Any, Any]
AS_OF = dt.date(2026, 11, 24)
PUBLIC = {("GET", "/healthz"), ("POST", "/api/session"), ("GET", "/api/openapi.json")}
# Ending the session would end the token the sweep goes on with: asked last, on its own.
LAST = ("DELETE", "/api/session")
AGENCY = "AG-SWEEP"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


class Account:
    """One borrower's refs, as the sweep writes them into paths, queries and bodies."""

    def __init__(self, borrower: str, loan: str, phone: str, name: str, task: int) -> None:
        self.borrower, self.loan, self.phone, self.name, self.task = (
            borrower, loan, phone, name, task,
        )  # fmt: skip
        self.hold = f"H-{borrower}"
        self.inspection = 0  # a post-loan inspection task on the loan

    def markers(self) -> list[str]:
        """What must not appear in an answer to someone who may not see this account."""
        return [self.borrower, self.loan, self.phone, self.phone[-8:], self.name, self.hold]


async def _floor(engine: AsyncEngine, tmp_path: Path) -> tuple[Account, Account]:
    """Two queues, a collector in the first; (an account of theirs, one of the other queue)."""
    write_demo_portfolio(tmp_path / "demo", borrowers=30, as_of=AS_OF)
    await import_directory(engine, tmp_path / "demo", ImportOptions())
    collector = await make_user(engine, "col", Role.collector)
    accounts = []
    async with engine.begin() as conn:
        await install_default_plan(conn)
        plan = (await active_plans(conn))[0]
        borrowers = list((await conn.scalars(select(Borrower.id).order_by(Borrower.id))).all())
        for index, name in enumerate(("own", "other")):
            queue = await conn.scalar(
                insert(Queue).values(name=f"Q {name}", routing={}).returning(Queue.id)
            )
            if index == 0:
                await conn.execute(insert(QueueMember).values(queue_id=queue, user_id=collector))
            half = (
                borrowers[: len(borrowers) // 2] if index == 0 else borrowers[len(borrowers) // 2 :]
            )
            await conn.execute(
                update(Loan).where(Loan.borrower_id.in_(half)).values(queue_id=queue)
            )
            row = (
                await conn.execute(
                    select(
                        Borrower.id, Borrower.borrower_ref, Borrower.name, Loan.id, Loan.loan_ref
                    )
                    .join(Loan, Loan.borrower_id == Borrower.id)
                    .where(Borrower.id == half[0])
                    .order_by(Loan.id)
                    .limit(1)
                )
            ).one()
            phone = await conn.scalar(
                select(PhoneNumber.e164).where(PhoneNumber.borrower_id == row[0]).limit(1)
            )
            task = await conn.scalar(
                insert(Task)
                .values(
                    idempotency_key=f"sweep:{row[3]}",
                    loan_id=row[3],
                    plan_id=plan.id,
                    kind="field_visit",
                    status=TaskStatus.open,
                    due_on=AS_OF,
                )
                .returning(Task.id)
            )
            accounts.append(Account(row[1], row[4], str(phone), row[2], int(task or 0)))
            accounts[-1].inspection = int(
                await conn.scalar(
                    insert(Task)
                    .values(
                        idempotency_key=f"sweep-inspection:{row[3]}",
                        loan_id=row[3],
                        kind="inspection",
                        status=TaskStatus.open,
                        due_on=AS_OF,
                        details={"inspection": "first", "signals": ""},
                    )
                    .returning(Task.id)
                )
                or 0
            )
    return accounts[0], accounts[1]


def _path(path: str, account: Account, ids: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "ref":
            if path.startswith("/api/agencies/"):
                return AGENCY
            if path.startswith("/api/borrowers/"):
                return account.borrower
            if path.startswith("/api/holds/"):
                return account.hold
            return account.loan
        if name == "id" and path.startswith("/api/tasks/"):
            return str(account.task)
        if name == "id" and path.startswith("/api/inspections/"):
            return str(account.inspection)
        if name == "kind":
            return "overdue_notice"
        return ids.get(f"{path.split('/')[2]}:{name}", "1")

    return re.sub(r"{(\w+)}", value, path)


def _about(value: Any, account: Account) -> Any:
    """A sample value with every reference to an account pointing at ``account``."""
    if isinstance(value, dict):
        refs = {
            "loan_ref": account.loan,
            "borrower_ref": account.borrower,
            "phone": account.phone,
            "party": "debtor",
            "hold_ref": f"{account.hold}-new",
            "agency_ref": AGENCY,
        }
        return {key: refs.get(key, _about(item, account)) for key, item in value.items()}
    if isinstance(value, list):
        return [_about(item, account) for item in value]
    return value


def _query(operation: dict[str, Any], account: Account) -> dict[str, str]:
    names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
    wanted = {"loan_ref": account.loan, "borrower_ref": account.borrower, "phone": account.phone}
    query = {name: value for name, value in wanted.items() if name in names}
    if "limit" in names:
        query["limit"] = "200"
    return query


async def _ask(
    client: Client,
    method: str,
    path: str,
    operation: dict[str, Any],
    document: dict[str, Any],
    account: Account,
    ids: dict[str, str],
    headers: dict[str, str],
) -> tuple[int, str]:
    body = None
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        body = _about(sample(content["application/json"]["schema"], document), account)
    response = await client.request(
        method,
        _path(path, account, ids),
        params=_query(operation, account),
        json=body,
        headers=headers,
    )
    return response.status, (await response.read()).decode("utf-8", "replace")  # photos are bytes


async def test_no_route_lets_anyone_past_their_role_or_a_collector_past_their_queues(
    client: Client, engine: AsyncEngine, tmp_path: Path
) -> None:
    own, other = await _floor(engine, tmp_path)
    sup = await make_user(engine, "sup", Role.supervisor)
    staff = {"Authorization": f"Bearer {await login(client, 'sup')}"}
    # What staff set up on both accounts: holds, a payment, an opt-out, a write-off proposal,
    # an import, a job.
    write_offs: dict[str, str] = {}
    for account in (own, other):
        hold = {"hold_ref": account.hold, "borrower_ref": account.borrower, "kind": "complaint",
                "starts_on": "2026-11-01"}  # fmt: skip
        assert (await client.post("/api/holds", json=hold, headers=staff)).status == 201
        payment = {"payment_ref": f"P-{account.loan}", "loan_ref": account.loan,
                   "paid_on": "2026-11-20", "amount": "10.00"}  # fmt: skip
        assert (await client.post("/api/payments", json=payment, headers=staff)).status == 201
        opt_out = {"phone": account.phone, "channel": "sms", "source": "written"}
        assert (await client.post("/api/opt-outs", json=opt_out, headers=staff)).status == 201
        photo = aiohttp.FormData()
        photo.add_field("photo", PNG + account.loan.encode(), filename="door.png")
        url = f"/api/tasks/{account.task}/photos"
        assert (await client.post(url, data=photo, headers=staff)).status == 201
        async with engine.begin() as conn:  # (the demo loan may be paid off: no API proposal)
            write_offs[account.loan] = str(
                await conn.scalar(
                    insert(WriteOff)
                    .values(
                        loan_id=select(Loan.id).where(Loan.loan_ref == account.loan)
                        .scalar_subquery(),
                        status="proposed", principal=0, interest=0, penalty=0,
                        days_past_due=0, risk_class="loss", reason="sweep", proposed_by=sup,
                    )
                    .returning(WriteOff.id)
                )
            )  # fmt: skip
    agency = {"agency_ref": AGENCY, "name": "Sweep agency", "commission_rate": "0.1"}
    assert (await client.post("/api/agencies", json=agency, headers=staff)).status == 201
    job = await (
        await client.post("/api/plans/dry-run", json={"for": "2026-11-24"}, headers=staff)
    ).json()
    runs = await (await client.get("/api/imports", headers=staff)).json()
    ids = {
        "jobs:id": str(job["id"]),
        "imports:id": str(runs["items"][0]["id"]),
        "write-offs:id": write_offs[other.loan],
    }
    document = await (await client.get("/api/openapi.json")).json()
    operations = [
        (method.upper(), path, operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
        if (method.upper(), path) != LAST
    ]

    async def foreign_rows() -> str:
        async with engine.connect() as conn:
            found = []
            for sql in (
                "SELECT h.hold_ref, h.ends_on FROM holds h JOIN borrowers b ON b.id = h.borrower_id"
                " WHERE b.borrower_ref = :b ORDER BY h.id",
                "SELECT p.payment_ref, p.amount FROM payments p JOIN loans l ON l.id = p.loan_id"
                " WHERE l.loan_ref = :l ORDER BY p.id",
                "SELECT opted_out_at, opted_in_at FROM opt_outs WHERE phone = :p ORDER BY id",
                "SELECT queue_id, collector_id, status, lost_contact_on FROM loans"
                " WHERE loan_ref = :l",
                "SELECT i.seq, i.due_on, i.principal_due FROM installments i"
                " JOIN loans l ON l.id = i.loan_id WHERE l.loan_ref = :l ORDER BY i.seq",
                "SELECT status, result FROM tasks WHERE id = :t",
                "SELECT status, outcome, done_on FROM tasks WHERE id = :i",
                "SELECT w.status, w.decided_by FROM write_offs w JOIN loans l ON l.id = w.loan_id"
                " WHERE l.loan_ref = :l",
                "SELECT timezone, timezone_source FROM borrowers WHERE borrower_ref = :b",
                "SELECT count(*) FROM task_attachments WHERE task_id = :t",
                "SELECT p.recall_on, p.recalled_on FROM placements p"
                " JOIN loans l ON l.id = p.loan_id WHERE l.loan_ref = :l",
            ):
                params = {"b": other.borrower, "l": other.loan, "p": other.phone, "t": other.task,
                          "i": other.inspection}  # fmt: skip
                found.append([list(map(str, row)) for row in await conn.execute(text(sql), params)])
            return json.dumps(found)

    before = await foreign_rows()
    collector = {"Authorization": f"Bearer {await login(client, 'col')}"}
    client.session.cookie_jar.clear()  # bearer tokens only: "nobody" carries no cookie
    asked, leaks, worked = 0, [], 0
    for method, path, operation in operations:
        # Nobody logged in: only the public operations answer.
        status, _ = await _ask(client, method, path, operation, document, other, ids, {})
        asked += 1
        if (method, path) not in PUBLIC and status != 401:
            leaks.append(f"anonymous {method} {path}: {status}")
        # The collector, about their own account and about the other queue's.
        mine, _ = await _ask(client, method, path, operation, document, own, ids, collector)
        theirs, answer = await _ask(
            client, method, path, operation, document, other, ids, collector
        )
        asked += 2
        if 200 <= mine < 300:
            worked += 1
        touches = "{" in path or "requestBody" in operation
        if touches and 200 <= mine < 300 and theirs not in (403, 404):
            leaks.append(f"collector {method} {path}: {theirs} on the other queue's account")
        if 200 <= theirs < 300:
            shown = [marker for marker in other.markers() if marker in answer]
            if shown:
                leaks.append(f"collector {method} {path}: shows {shown}")
    assert await foreign_rows() == before  # nothing of the other queue's account changed
    for method, path, operation in operations:
        # Staff reach both queues' accounts, and no operation fails on the server.
        status, _ = await _ask(client, method, path, operation, document, other, ids, staff)
        asked += 1
        if status >= 500:
            leaks.append(f"supervisor {method} {path}: {status}")
    assert (await client.delete("/api/session", headers=collector)).status in (200, 204)
    assert (await client.get("/api/me", headers=collector)).status == 401
    print(f"route x role sweep: {len(operations) + 1} operations, {asked + 2} requests, "
          f"{len(leaks)} leaks")  # fmt: skip
    assert leaks == [], "\n".join(leaks)
    assert worked >= 15  # the collector's own account is served: the refusals mean something
