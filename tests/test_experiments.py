"""Champion/challenger results read exactly their experiment's arms, whatever its key holds
(``_`` and ``%`` are wildcards to LIKE), on both databases."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from service.assignment import experiments
from service.assignment.run import strategies_for
from service.db.models import Borrower, Loan, LoanSnapshot
from service.settings import Settings

START, END = dt.date(2026, 11, 1), dt.date(2026, 11, 30)
# Experiment key → (champion accounts, challenger accounts); the keys LIKE would confuse.
ARMS = {"a_b": (1, 2), "axb": (3, 4), "a%": (5, 6), "ab": (7, 8)}


async def _experiments_with_accounts(engine: AsyncEngine, settings: Settings) -> None:
    registry = strategies_for(settings)
    async with engine.begin() as conn:
        for key in ARMS:
            await experiments.create_experiment(
                conn, registry, key=key, segment={}, challenger="round_robin",
                share=Decimal("0.5"), actor="test",
            )  # fmt: skip
        borrower = (
            await conn.execute(
                insert(Borrower)
                .values(borrower_ref="B1", name="张三", timezone_source="unknown")
                .returning(Borrower.id)
            )
        ).scalar_one()
        snapshots = []
        for key, counts in ARMS.items():
            for side, count in zip(("champion", "challenger"), counts, strict=True):
                for n in range(count):
                    loan_id = (
                        await conn.execute(
                            insert(Loan)
                            .values(
                                loan_ref=f"L-{key}-{side}-{n}", borrower_id=borrower,
                                currency="CNY", principal=Decimal(1000),
                                annual_rate=Decimal("0.1"), disbursed_on=dt.date(2026, 1, 1),
                                maturity_on=dt.date(2027, 1, 1), status="open",
                                strategy_arm=f"{key}:{side}",
                            )
                            .returning(Loan.id)
                        )
                    ).scalar_one()  # fmt: skip
                    for as_of, bucket in ((START, "M1"), (END, "M0")):
                        snapshots.append(
                            {
                                "as_of": as_of, "loan_id": loan_id, "days_past_due": 10,
                                "bucket": bucket, "amount_tier": "S", "risk_class": "normal",
                                "overdue_amount": Decimal(100), "outstanding": Decimal(1000),
                                "penalty_accrued": Decimal(0), "strategy_arm": f"{key}:{side}",
                            }
                        )  # fmt: skip
        await conn.execute(insert(LoanSnapshot), snapshots)


async def test_results_of_an_experiment_never_include_another_experiments_accounts(
    engine: AsyncEngine, settings: Settings
) -> None:
    await _experiments_with_accounts(engine, settings)
    labels = settings.cob_config().buckets.labels

    for key, (champion, challenger) in ARMS.items():
        async with engine.connect() as conn:
            results = await experiments.experiment_results(conn, key, START, END, labels)
        assert {row["arm"]: row["accounts"] for row in results} == {
            "champion": champion,
            "challenger": challenger,
        }, key
        assert len(results) == 2, key
        by_arm = {row["arm"]: row for row in results}
        assert by_arm["champion"]["overdue_amount"] == Decimal(100 * champion)
        assert by_arm["challenger"]["cure_rate"] == Decimal(1)
