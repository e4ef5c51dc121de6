"""The demo lender looks like a real portfolio: mostly current, a thinning tail to M7+."""

from __future__ import annotations

import csv
import datetime as dt
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

import phonenumbers

from service.devtools.demo import write_demo_portfolio
from service.domain.delinquency import BucketScheme, Installment, Payment, loan_position

AS_OF = dt.date(2026, 11, 24)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_delinquency_spreads_over_every_bucket_with_most_loans_current(tmp_path: Path) -> None:
    counts = write_demo_portfolio(tmp_path, borrowers=3000, as_of=AS_OF)
    schedules: dict[str, list[Installment]] = defaultdict(list)
    payments: dict[str, list[Payment]] = defaultdict(list)
    for row in _rows(tmp_path / "installments.csv"):
        schedules[row["loan_ref"]].append(
            Installment(
                int(row["seq"]),
                dt.date.fromisoformat(row["due_on"]),
                Decimal(row["principal_due"]),
                Decimal(row["interest_due"]),
            )
        )
    for row in _rows(tmp_path / "payments.csv"):
        payments[row["loan_ref"]].append(
            Payment(dt.date.fromisoformat(row["paid_on"]), Decimal(row["amount"]))
        )
    buckets = Counter(
        BucketScheme().bucket(
            loan_position(
                schedule, payments[ref], AS_OF, daily_penalty_rate=Decimal(0)
            ).days_past_due
        )
        for ref, schedule in schedules.items()
    )

    assert sum(buckets.values()) == counts.loans
    assert 0.75 < buckets["M0"] / counts.loans < 0.95
    assert all(buckets[label] > 0 for label in BucketScheme().labels)
    assert buckets["M1"] > buckets["M3"] > buckets["M6"]


def test_people_are_plausible_in_both_countries(tmp_path: Path) -> None:
    write_demo_portfolio(tmp_path, borrowers=500, as_of=AS_OF)
    borrowers = _rows(tmp_path / "borrowers.csv")
    locales = Counter(row["locale"] for row in borrowers)
    assert locales["zh-CN"] > locales["en"] > 0
    for row in borrowers:
        region = row["region"][:2]
        assert phonenumbers.is_valid_number(phonenumbers.parse(row["phone"], region))
    assert any(row["alt_phones"] for row in borrowers)
    contacts = _rows(tmp_path / "contacts.csv")
    assert {row["debt_related"] for row in contacts} == {"true", "false"}
