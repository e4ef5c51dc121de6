"""A small portfolio with figures worked out by hand, for the dashboard's tests
(tests/test_dashboard.py, tests/test_dashboard_browser.py).

Four loans, no interest, no penalty, closes of business on 31 Oct, 29 Nov and 30 Nov 2026:

=====  =====================  ===========================  =========  =========  ==========
loan   schedule               31 Oct            30 Nov      queue      collector  arm
=====  =====================  ===========================  =========  =========  ==========
A      1000 on 20 Oct + 1000  M1, out 2000, due 1000        M2         Q1         c1  champion
B      500 on 25 Oct + 500    M1, out 1000, due 500 (paid   M0         Q1         c1  challenger
                              500 on 10 Nov)
C      800 on 15 Dec          M0, out 800                   M0         "=Q2"      c2  champion
D      300 on 15 Sep          M2, out 300, due 300          M3         "=Q2"      c2  challenger
=====  =====================  ===========================  =========  =========  ==========

Calls: A no answer 29 Nov 23:30 (Shanghai); A an RPC and a no answer on 30 Nov; D a
conversation with a wrong party on 30 Nov; D an SMS (not a call). Promises: A 400 due 20 Nov
broken; B 500 due 10 Nov kept; D 300 due 25 Nov partly kept (100); A 200 made 30 Nov, due
5 Dec; C a mere proposal.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from pathlib import Path

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from service.cob.nightly import run_cob
from service.db.models import Promise, PromiseStatus, Queue, Role
from service.ingest.pipeline import ImportOptions, import_directory
from tests.conftest import make_user

NIGHTS = (dt.date(2026, 10, 31), dt.date(2026, 11, 29), dt.date(2026, 11, 30))
EVIL_QUEUE = "=Q2+HYPERLINK(1)"
ARMS = ("exp:champion", "exp:challenger")

FILES = {
    "borrowers.csv": """\
borrower_ref,name,phone,alt_phones,timezone,locale,address,sms_consent
B-A,甲,13800138001,,Asia/Shanghai,zh-CN,北京,true
B-B,乙,13800138002,,Asia/Shanghai,zh-CN,北京,true
B-C,丙,13800138003,,Asia/Shanghai,zh-CN,北京,true
B-D,丁,13800138004,,Asia/Shanghai,zh-CN,北京,true
""",
    "loans.csv": """\
loan_ref,borrower_ref,currency,principal,annual_rate,penalty_rate_daily,disbursed_on,maturity_on
A,B-A,CNY,2000.00,0.00,0,2026-01-01,2027-06-01
B,B-B,CNY,1000.00,0.00,0,2026-01-01,2027-06-01
C,B-C,CNY,800.00,0.00,0,2026-01-01,2026-12-15
D,B-D,CNY,300.00,0.00,0,2026-01-01,2026-09-15
""",
    "installments.csv": """\
loan_ref,seq,due_on,principal_due,interest_due
A,1,2026-10-20,1000.00,0.00
A,2,2027-06-01,1000.00,0.00
B,1,2026-10-25,500.00,0.00
B,2,2027-06-01,500.00,0.00
C,1,2026-12-15,800.00,0.00
D,1,2026-09-15,300.00,0.00
""",
    "payments.csv": """\
payment_ref,loan_ref,paid_on,amount
P-B1,B,2026-11-10,500.00
P-C1,C,2026-11-20,100.00
""",
    "attempts.csv": """\
attempt_ref,loan_ref,party,phone,channel,direction,occurred_at,result,disposition
X1,A,debtor,13800138001,call,outbound,2026-11-29T23:30:00+08:00,no_answer,
X2,A,debtor,13800138001,call,outbound,2026-11-30T10:00:00+08:00,conversation,rpc
X3,A,debtor,13800138001,call,outbound,2026-11-30T11:00:00+08:00,no_answer,
X4,D,debtor,13800138004,call,outbound,2026-11-30T12:00:00+08:00,conversation,wrong_party
X5,D,debtor,13800138004,sms,outbound,2026-11-30T12:05:00+08:00,delivered,
""",
}


@dataclasses.dataclass(frozen=True)
class Floor:
    loans: dict[str, int]
    queues: dict[str, int]
    users: dict[str, int]


async def build(engine: AsyncEngine, drop: Path) -> Floor:
    """The portfolio imported, owned, promised and closed on the three nights."""
    drop.mkdir(parents=True, exist_ok=True)
    for name, body in FILES.items():
        (drop / name).write_text(body, encoding="utf-8")
    report = await import_directory(engine, drop, ImportOptions())
    assert report.error_count == 0, report.errors
    users = {
        name: await make_user(engine, name, role)
        for name, role in (
            ("c1", Role.collector),
            ("c2", Role.collector),
            ("sup", Role.supervisor),
        )
    }
    async with engine.begin() as conn:
        queues = {
            name: (
                await conn.execute(insert(Queue).values(name=name).returning(Queue.id))
            ).scalar_one()
            for name in ("Q1", EVIL_QUEUE)
        }
        loans = {
            ref: int(i) for ref, i in await conn.execute(text("SELECT loan_ref, id FROM loans"))
        }
        owners = {
            "A": ("Q1", "c1", ARMS[0]),
            "B": ("Q1", "c1", ARMS[1]),
            "C": (EVIL_QUEUE, "c2", ARMS[0]),
            "D": (EVIL_QUEUE, "c2", ARMS[1]),
        }
        for ref, (queue, collector, arm) in owners.items():
            await conn.execute(
                text(
                    "UPDATE loans SET queue_id = :q, collector_id = :c, strategy_arm = :arm "
                    "WHERE id = :id"
                ),
                {"q": queues[queue], "c": users[collector], "arm": arm, "id": loans[ref]},
            )
        promises = (
            ("A", "400.00", (11, 20), (11, 15), PromiseStatus.broken, "0.00", (11, 23)),
            ("B", "500.00", (11, 10), (11, 5), PromiseStatus.kept, "500.00", (11, 10)),
            ("D", "300.00", (11, 25), (11, 20), PromiseStatus.partially_kept, "100.00", (11, 28)),
            ("A", "200.00", (12, 5), (11, 30), PromiseStatus.pending, "0.00", None),
            ("C", "800.00", (11, 20), (11, 18), PromiseStatus.proposed, "0.00", None),
        )
        for ref, amount, due, made, status, paid, settled in promises:
            await conn.execute(
                insert(Promise).values(
                    loan_id=loans[ref],
                    amount=Decimal(amount),
                    promised_on=dt.date(2026, *due),
                    made_on=dt.date(2026, *made),
                    status=status,
                    paid_amount=Decimal(paid),
                    settled_on=dt.date(2026, *settled) if settled else None,
                    created_by="test",
                )
            )
    for night in NIGHTS:
        await run_cob(engine, night)
    return Floor(loans, queues, users)
