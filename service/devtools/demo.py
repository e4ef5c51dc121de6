"""A synthetic lender for demos and benchmarks, written as the import contract's CSV files.

Deterministic for a seed. Most accounts are current; a long tail is overdue across M1-M7+, with
partial payments, late payers who caught up, several phones, guarantors and emergency contacts,
zh-CN and English borrowers in Chinese and US time zones (a few with ambiguous area codes).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import random
from collections.abc import Iterator
from contextlib import ExitStack
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from service.clock import add_months

CENT = Decimal("0.01")

CN_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶"
    "程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺"
    "顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
CN_GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国建华志强海燕红梅玉兰春梅"
    "晓明丹丹慧敏文博子涵浩然欣怡梓萱一鸣思远嘉怡雨桐"
)
CN_PROVINCES = (
    ("CN-BJ", "北京市"),
    ("CN-SH", "上海市"),
    ("CN-GD", "广东省广州市"),
    ("CN-ZJ", "浙江省杭州市"),
    ("CN-JS", "江苏省南京市"),
    ("CN-SC", "四川省成都市"),
    ("CN-HB", "湖北省武汉市"),
    ("CN-HN", "湖南省长沙市"),
    ("CN-SD", "山东省济南市"),
    ("CN-FJ", "福建省福州市"),
    ("CN-HA", "河南省郑州市"),
    ("CN-YN", "云南省昆明市"),
)
CN_MOBILE_PREFIXES = [
    "130",
    "131",
    "132",
    "133",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "155",
    "156",
    "157",
    "158",
    "159",
    "166",
    "176",
    "177",
    "178",
    "180",
    "181",
    "182",
    "183",
    "185",
    "186",
    "187",
    "188",
    "189",
    "191",
    "198",
    "199",
]
CN_RELATIONS = ("配偶", "父母", "子女", "兄弟姐妹", "朋友", "同事")
EN_FIRST = [
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Carlos",
    "Maria",
    "Wei",
    "Mei",
    "Ana",
    "Luis",
    "Aisha",
    "Omar",
]
EN_LAST = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Nguyen",
    "Chen",
    "Patel",
]
EN_RELATIONS = ("spouse", "parent", "sibling", "friend", "coworker")
# US area codes with their state; 907, 208 and 605 span two zones (recorded as ambiguous).
US_AREAS = (
    ("212", "US-NY", "America/New_York"),
    ("305", "US-FL", "America/New_York"),
    ("312", "US-IL", "America/Chicago"),
    ("713", "US-TX", "America/Chicago"),
    ("303", "US-CO", "America/Denver"),
    ("602", "US-AZ", "America/Phoenix"),
    ("415", "US-CA", "America/Los_Angeles"),
    ("206", "US-WA", "America/Los_Angeles"),
    ("808", "US-HI", "Pacific/Honolulu"),
    ("907", "US-AK", "America/Anchorage"),
    ("208", "US-ID", "America/Boise"),
    ("605", "US-SD", "America/Chicago"),
)
US_STREETS = ("Main St", "Oak Ave", "Maple Dr", "Cedar Ln", "Elm St", "Pine Rd", "Lake Blvd")
RATES = (Decimal("0.072"), Decimal("0.12"), Decimal("0.18"), Decimal("0.24"))
TERMS = (3, 6, 6, 6, 9)  # months; about six installments a loan

HEADERS = {
    "borrowers.csv": (
        "borrower_ref", "name", "phone", "alt_phones", "timezone", "locale", "region", "address",
        "sms_consent",
    ),
    "contacts.csv": ("borrower_ref", "contact_ref", "name", "relation", "phone", "debt_related"),
    "loans.csv": (
        "loan_ref", "borrower_ref", "product", "currency", "principal", "annual_rate",
        "penalty_rate_daily", "disbursed_on", "maturity_on",
    ),
    "installments.csv": ("loan_ref", "seq", "due_on", "principal_due", "interest_due"),
    "payments.csv": ("payment_ref", "loan_ref", "paid_on", "amount"),
    "attempts.csv": (
        "attempt_ref", "loan_ref", "party", "phone", "channel", "direction", "occurred_at",
        "result", "disposition",
    ),
}  # fmt: skip


@dataclasses.dataclass(slots=True)
class DemoCounts:
    borrowers: int = 0
    contacts: int = 0
    loans: int = 0
    installments: int = 0
    payments: int = 0
    attempts: int = 0


def _principal(rng: random.Random) -> Decimal:
    """Mostly small loans; tiers S/M/L/XL in roughly 80/12/6/2 proportions."""
    draw = rng.random()
    if draw < 0.80:
        amount = rng.randrange(1_000, 100_000, 500)
    elif draw < 0.92:
        amount = rng.randrange(100_000, 300_000, 1_000)
    elif draw < 0.98:
        amount = rng.randrange(300_000, 1_000_000, 5_000)
    else:
        amount = rng.randrange(1_000_000, 3_000_000, 10_000)
    return Decimal(amount)


def _schedule(principal: Decimal, rate: Decimal, term: int) -> Iterator[tuple[Decimal, Decimal]]:
    """Equal principal instalments with interest on the declining balance (simple, exact)."""
    part = (principal / term).quantize(CENT, ROUND_HALF_UP)
    balance = principal
    for seq in range(1, term + 1):
        principal_due = balance if seq == term else part
        interest_due = (balance * rate / 12).quantize(CENT, ROUND_HALF_UP)
        balance -= principal_due
        yield principal_due, interest_due


def write_demo_portfolio(
    directory: Path,
    *,
    borrowers: int = 5_000,
    as_of: dt.date,
    seed: int = 20261124,
    attempts: bool = True,
) -> DemoCounts:
    """Write the six contract files for ``borrowers`` synthetic borrowers (~1.2 loans each)."""
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    counts = DemoCounts()
    with ExitStack() as stack:
        writers = {}
        for name, header in HEADERS.items():
            if name == "attempts.csv" and not attempts:
                continue
            handle = stack.enter_context((directory / name).open("w", newline="", encoding="utf-8"))
            writer = csv.writer(handle)
            writer.writerow(header)
            writers[name] = writer
        loan_no = 0
        for number in range(1, borrowers + 1):
            borrower_ref = f"B{number:07d}"
            chinese = rng.random() < 0.8
            zone, phone = _write_borrower(writers, rng, borrower_ref, chinese)
            counts.borrowers += 1
            counts.contacts += _write_contacts(writers, rng, borrower_ref, chinese)
            for _ in range(2 if rng.random() < 0.2 else 1):
                loan_no += 1
                _write_loan(
                    writers,
                    rng,
                    counts,
                    f"L{loan_no:08d}",
                    borrower_ref,
                    chinese,
                    (zone, phone),
                    as_of,
                    attempts,
                )
    return counts


def _cn_mobile(rng: random.Random) -> str:
    return rng.choice(CN_MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"


def _us_phone(rng: random.Random, area: str) -> str:
    # 555-0100..0199 are reserved for fiction: no real subscriber is ever reached.
    return f"+1 {area} 555 {rng.randrange(100, 200):04d}"


def _write_borrower(
    writers: dict[str, Any], rng: random.Random, ref: str, chinese: bool
) -> tuple[ZoneInfo, str]:
    if chinese:
        name = rng.choice(CN_SURNAMES) + "".join(
            rng.choice(CN_GIVEN) for _ in range(rng.choice((1, 2)))
        )
        region, city = rng.choice(CN_PROVINCES)
        phone = _cn_mobile(rng)
        alts = [_cn_mobile(rng) for _ in range(rng.choice((0, 0, 0, 1, 1, 2)))]
        street = rng.choice(("人民路", "解放路", "中山路", "建设路"))
        address = f"{city}{rng.choice('东南西北中')}{street}{rng.randrange(1, 999)}号"
        writers["borrowers.csv"].writerow(
            (ref, name, phone, ";".join(alts), "", "zh-CN", region, address, _consent(rng))
        )
        return ZoneInfo("Asia/Shanghai"), phone
    area, region, zone = rng.choice(US_AREAS)
    name = f"{rng.choice(EN_FIRST)} {rng.choice(EN_LAST)}"
    phone = _us_phone(rng, area)
    alts = [_us_phone(rng, area) for _ in range(rng.choice((0, 0, 1)))]
    # A third of US files carry the zone; the rest are inferred from the area code.
    stated = zone if rng.random() < 0.33 else ""
    address = f"{rng.randrange(1, 9999)} {rng.choice(US_STREETS)}, {region[3:]}"
    writers["borrowers.csv"].writerow(
        (ref, name, phone, ";".join(alts), stated, "en", region, address, _consent(rng))
    )
    return ZoneInfo(zone), phone


def _consent(rng: random.Random) -> str:
    return "true" if rng.random() < 0.85 else "false"


def _write_contacts(writers: dict[str, Any], rng: random.Random, ref: str, chinese: bool) -> int:
    if rng.random() >= 0.4:
        return 0
    written = 0
    for index in range(rng.choice((1, 1, 2))):
        guarantor = rng.random() < 0.15
        if chinese:
            name = rng.choice(CN_SURNAMES) + rng.choice(CN_GIVEN)
            relation = "保证人" if guarantor else rng.choice(CN_RELATIONS)
            phone = _cn_mobile(rng)
        else:
            name = f"{rng.choice(EN_FIRST)} {rng.choice(EN_LAST)}"
            relation = "guarantor" if guarantor else rng.choice(EN_RELATIONS)
            phone = _us_phone(rng, rng.choice(US_AREAS)[0])
        writers["contacts.csv"].writerow(
            (ref, f"{ref}-C{index + 1}", name, relation, phone, "true" if guarantor else "false")
        )
        written += 1
    return written


def _write_loan(
    writers: dict[str, Any],
    rng: random.Random,
    counts: DemoCounts,
    loan_ref: str,
    borrower_ref: str,
    chinese: bool,
    debtor: tuple[ZoneInfo, str],
    as_of: dt.date,
    with_attempts: bool,
) -> None:
    principal = _principal(rng)
    rate = rng.choice(RATES)
    term = rng.choice(TERMS)
    disbursed = as_of - dt.timedelta(days=rng.randrange(10, 720))
    maturity = add_months(disbursed, term)
    penalty = "0.0005" if rng.random() < 0.7 else ""
    writers["loans.csv"].writerow(
        (
            loan_ref,
            borrower_ref,
            rng.choice(("cash", "consumer", "card"))
            if chinese
            else rng.choice(("personal", "card")),
            "CNY" if chinese else "USD",
            principal,
            rate,
            penalty,
            disbursed.isoformat(),
            maturity.isoformat(),
        )
    )
    counts.loans += 1
    behaviour = rng.random()
    # 60 % pay on time, 10 % pay late but pay, 30 % stop paying. Those who stop do so at the
    # installment that gives them a target DPD drawn from a decaying distribution (mean about
    # 75 days), so M1 holds the most overdue accounts and the tail thins towards M7+.
    stop_at = term + 1
    if behaviour >= 0.70:
        target = 1 + int(rng.expovariate(1 / 75))
        latest, earliest = as_of - dt.timedelta(days=target), as_of - dt.timedelta(days=target + 31)
        for seq in range(1, term + 1):
            if earliest < add_months(disbursed, seq) <= latest:
                stop_at = seq
                break
    late = 0.60 <= behaviour < 0.70
    overdue = False
    installments = writers["installments.csv"]
    payments = writers["payments.csv"]
    for seq, (principal_due, interest_due) in enumerate(_schedule(principal, rate, term), start=1):
        due = add_months(disbursed, seq)
        installments.writerow((loan_ref, seq, due.isoformat(), principal_due, interest_due))
        counts.installments += 1
        amount = principal_due + interest_due
        if seq < stop_at:
            paid_on = due + dt.timedelta(
                days=rng.randrange(1, 25) if late else -rng.randrange(0, 6)
            )
            if paid_on <= as_of:
                payments.writerow((f"P{loan_ref[1:]}-{seq}", loan_ref, paid_on.isoformat(), amount))
                counts.payments += 1
            elif due < as_of:
                overdue = True
        elif due < as_of:
            overdue = True
            if seq == stop_at and rng.random() < 0.3:
                # A partial payment that does not clear the installment.
                part = (amount * Decimal(rng.choice(("0.2", "0.5")))).quantize(CENT)
                paid_on = min(as_of, due + dt.timedelta(days=rng.randrange(1, 20)))
                payments.writerow((f"P{loan_ref[1:]}-{seq}p", loan_ref, paid_on.isoformat(), part))
                counts.payments += 1
    if overdue and with_attempts:
        _write_attempts(writers["attempts.csv"], rng, counts, loan_ref, debtor, as_of)


def _write_attempts(
    writer: Any,
    rng: random.Random,
    counts: DemoCounts,
    loan_ref: str,
    debtor: tuple[ZoneInfo, str],
    as_of: dt.date,
) -> None:
    zone, phone = debtor
    for index in range(rng.randrange(0, 5)):
        # Two days back at least: the lender's today may still be yesterday in the debtor's zone.
        day = as_of - dt.timedelta(days=rng.randrange(2, 15))
        local = dt.datetime.combine(day, dt.time(rng.randrange(9, 20), rng.randrange(60)), zone)
        channel = rng.choice(("call", "call", "sms"))
        result = (
            "delivered"
            if channel == "sms"
            else rng.choice(("no_answer", "no_answer", "busy", "voicemail", "conversation"))
        )
        disposition = (
            rng.choice(("rpc", "promise_to_pay", "refused")) if result == "conversation" else ""
        )
        writer.writerow(
            (
                f"A{loan_ref[1:]}-{index + 1}",
                loan_ref,
                "debtor",
                phone,
                channel,
                "outbound",
                local.isoformat(timespec="seconds"),
                result,
                disposition,
            )
        )
        counts.attempts += 1
