"""``loans.csv``, ``installments.csv`` and ``payments.csv``: loans, their schedules and what
was paid (the files that move positions)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from service.ingest import fields as f
from service.ingest.contract import (
    Check,
    FileSpec,
    Parent,
    ParseContext,
    RowRejected,
    StagedRows,
    Upsert,
    parse_values,
)


def _officer(value: str) -> str | None:
    # Optional: a username of Arrears (checked against users in SQL); empty is no officer.
    return f.text(64)(value) or None


_LOAN_PARSERS: dict[str, f.Parser] = {
    "loan_ref": f.ref,
    "borrower_ref": f.ref,
    "product": f.text(64),
    "currency": f.currency,
    "principal": f.money(positive=True),
    # Annual rates above 1000 % are typos (a percentage written as a fraction's place).
    "annual_rate": f.rate(upper=Decimal("10")),
    "penalty_rate_daily": f.rate(upper=Decimal("0.1"), optional=True),
    "disbursed_on": f.date,
    "maturity_on": f.date,
    # The loan officer (客户经理) who owns its post-loan inspections (docs/inspections.md).
    "officer": _officer,
}


_LOAN_ITEMS = tuple(_LOAN_PARSERS.items())


def _parse_loan(raw: Sequence[str], ctx: ParseContext, line: int) -> StagedRows:
    values = parse_values(raw, _LOAN_ITEMS, line)
    if values[9] < values[8]:  # maturity_on before disbursed_on
        raise RowRejected([("maturity_on", "maturity date is before the disbursement date")])
    return {"stage_loans": [values]}


# An officer must be a user of Arrears, and one who still works here.
_OFFICER_KNOWN = """
    SELECT s.line, CASE WHEN u.id IS NULL THEN 'unknown officer ''' || s.officer || ''''
                        ELSE 'officer ''' || s.officer || ''' is deactivated' END AS reason
    FROM stage_loans s
    LEFT JOIN users u ON u.username = s.officer
    WHERE s.officer IS NOT NULL AND (u.id IS NULL OR NOT u.active)
"""

LOANS = FileSpec(
    file="loans.csv",
    columns=tuple(_LOAN_PARSERS),
    required_columns=frozenset(_LOAN_PARSERS) - {"product", "penalty_rate_daily", "officer"},
    key=("loan_ref",),
    stage={
        "stage_loans": (
            ("loan_ref", "text"),
            ("borrower_ref", "text"),
            ("product", "text"),
            ("currency", "text"),
            ("principal", "money"),
            ("annual_rate", "rate"),
            ("penalty_rate_daily", "rate"),
            ("disbursed_on", "date"),
            ("maturity_on", "date"),
            ("officer", "text"),
        )
    },
    parse=_parse_loan,
    parents=(Parent("borrower_ref", "borrowers", "borrower_ref"),),
    checks=(Check(column="officer", sql=_OFFICER_KNOWN),),
    upsert=Upsert(
        target="loans",
        conflict=("loan_ref",),
        joins="JOIN borrowers b ON b.borrower_ref = s.borrower_ref",
        values={
            "loan_ref": "s.loan_ref",
            "borrower_id": "b.id",
            "product": "s.product",
            "currency": "s.currency",
            "principal": "s.principal",
            "annual_rate": "s.annual_rate",
            "penalty_rate_daily": "s.penalty_rate_daily",
            "disbursed_on": "s.disbursed_on",
            "maturity_on": "s.maturity_on",
            # A lookup, not a join: rows keep the file's order (loan ids follow it).
            "officer_id": "(SELECT u.id FROM users u WHERE u.username = s.officer)",
            "status": "'open'",
            "created_at": ":now",
            "updated_at": ":now",
        },
        # Whether a loan is open is the engine's to decide from payments, not the file's.
        insert_only=("created_at", "status"),
        # A file without officers (the column absent or the cell empty) keeps the one on file.
        keep={"officer_id": "v.officer_id IS NULL"},
    ),
)


_INSTALLMENT_PARSERS: dict[str, f.Parser] = {
    "loan_ref": f.ref,
    "seq": f.positive_int,
    "due_on": f.date,
    "principal_due": f.money(),
    "interest_due": f.money(),
}


_INSTALLMENT_ITEMS = tuple(_INSTALLMENT_PARSERS.items())


def _parse_installment(raw: Sequence[str], ctx: ParseContext, line: int) -> StagedRows:
    return {"stage_installments": [parse_values(raw, _INSTALLMENT_ITEMS, line)]}


INSTALLMENTS = FileSpec(
    file="installments.csv",
    columns=tuple(_INSTALLMENT_PARSERS),
    required_columns=frozenset(_INSTALLMENT_PARSERS),
    key=("loan_ref", "seq"),
    stage={
        "stage_installments": (
            ("loan_ref", "text"),
            ("seq", "int"),
            ("due_on", "date"),
            ("principal_due", "money"),
            ("interest_due", "money"),
        )
    },
    parse=_parse_installment,
    moves_positions=True,
    parents=(Parent("loan_ref", "loans", "loan_ref"),),
    upsert=Upsert(
        target="installments",
        conflict=("loan_id", "seq"),
        joins="JOIN loans l ON l.loan_ref = s.loan_ref",
        values={
            "loan_id": "l.id",
            "seq": "s.seq",
            "due_on": "s.due_on",
            "principal_due": "s.principal_due",
            "interest_due": "s.interest_due",
            "updated_at": ":now",
        },
        insert_only=(),
    ),
)


_PAYMENT_PARSERS: dict[str, f.Parser] = {
    "payment_ref": f.ref,
    "loan_ref": f.ref,
    "paid_on": f.date,
    "amount": f.money(positive=True),
}


_PAYMENT_ITEMS = tuple(_PAYMENT_PARSERS.items())


def _parse_payment(raw: Sequence[str], ctx: ParseContext, line: int) -> StagedRows:
    return {"stage_payments": [parse_values(raw, _PAYMENT_ITEMS, line)]}


# DESIGN.md §5: a payment recorded through the API is not rewritten by an import (re-sending the
# identical row is fine); the lender's core system corrects it at the source.
_RECORDED_HERE = """
    SELECT s.line, 'payment_ref ''' || s.payment_ref || ''' was recorded through the '
                   || p.source || ' with other values (' || l.loan_ref || ', '
                   || CAST(p.paid_on AS VARCHAR(10)) || ', ' || CAST(p.amount AS VARCHAR(20))
                   || '); an import may not change it' AS reason
    FROM stage_payments s
    JOIN payments p ON p.payment_ref = s.payment_ref
    JOIN loans l ON l.id = p.loan_id
    WHERE p.source <> 'import'
      AND (l.loan_ref <> s.loan_ref OR p.paid_on <> s.paid_on OR p.amount <> s.amount)
"""


PAYMENTS = FileSpec(
    file="payments.csv",
    columns=tuple(_PAYMENT_PARSERS),
    required_columns=frozenset(_PAYMENT_PARSERS),
    key=("payment_ref",),
    stage={
        "stage_payments": (
            ("payment_ref", "text"),
            ("loan_ref", "text"),
            ("paid_on", "date"),
            ("amount", "money"),
        )
    },
    parse=_parse_payment,
    moves_positions=True,
    parents=(Parent("loan_ref", "loans", "loan_ref"),),
    checks=(Check(column="payment_ref", sql=_RECORDED_HERE),),
    upsert=Upsert(
        target="payments",
        conflict=("payment_ref",),
        joins="JOIN loans l ON l.loan_ref = s.loan_ref",
        values={
            "payment_ref": "s.payment_ref",
            "loan_id": "l.id",
            "paid_on": "s.paid_on",
            "amount": "s.amount",
            "source": "'import'",
            "created_at": ":now",
            "updated_at": ":now",
        },
        insert_only=("created_at", "source"),
    ),
)
