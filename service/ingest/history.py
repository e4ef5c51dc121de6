"""``attempts.csv``: the contact history of a previous system (results and dispositions from
the closed lists of :mod:`service.domain.contact`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from service.domain.contact import AttemptResult, Channel, Direction, Disposition
from service.ingest import fields as f
from service.ingest.contract import (
    Check,
    FileSpec,
    Parent,
    ParseContext,
    RowRejected,
    StagedRows,
    Upsert,
    parse_columns,
)

_DISPOSITION = f.choice(*Disposition)


def _optional_disposition(value: str) -> str | None:
    return _DISPOSITION(value) if value.strip() else None


_ATTEMPT_COLUMNS = (
    "attempt_ref",
    "loan_ref",
    "party",
    "phone",
    "channel",
    "direction",
    "occurred_at",
    "result",
    "disposition",
)


def _parse_attempt(raw: Sequence[str], ctx: ParseContext, line: int) -> StagedRows:
    values = parse_columns(
        dict(zip(_ATTEMPT_COLUMNS, raw, strict=True)),
        {
            "attempt_ref": f.ref,
            "loan_ref": f.ref,
            "party": f.ref,
            "phone": f.phone(ctx.default_region),
            "channel": f.choice(*Channel),
            "direction": f.choice(*Direction),
            "occurred_at": f.timestamp,
            "result": f.choice(*AttemptResult),
            "disposition": _optional_disposition,
        },
    )
    if values["occurred_at"] > ctx.now + dt.timedelta(minutes=5):
        raise RowRejected([("occurred_at", "time is in the future")])
    if values["party"].lower() == "debtor":
        values["party"] = "debtor"
    return {
        "stage_attempts": [
            (
                line,
                values["attempt_ref"],
                values["loan_ref"],
                values["party"],
                values["phone"],
                values["channel"],
                values["direction"],
                values["occurred_at"],
                values["result"],
                values["disposition"],
            )
        ]
    }


ATTEMPTS = FileSpec(
    file="attempts.csv",
    columns=_ATTEMPT_COLUMNS,
    required_columns=frozenset(_ATTEMPT_COLUMNS) - {"disposition"},
    key=("attempt_ref",),
    stage={
        "stage_attempts": (
            ("attempt_ref", "text"),
            ("loan_ref", "text"),
            ("party", "text"),
            ("phone", "text"),
            ("channel", "text"),
            ("direction", "text"),
            ("occurred_at", "timestamp"),
            ("result", "text"),
            ("disposition", "text"),
        )
    },
    parse=_parse_attempt,
    parents=(Parent("loan_ref", "loans", "loan_ref"),),
    checks=(
        Check(
            column="party",
            sql="""SELECT s.line, 'contact_ref ''' || s.party
                          || ''' is not a contact of the loan''s borrower' AS reason
                   FROM stage_attempts s
                   JOIN loans l ON l.loan_ref = s.loan_ref
                   WHERE s.party <> 'debtor' AND NOT EXISTS (
                     SELECT 1 FROM contacts c
                     WHERE c.contact_ref = s.party AND c.borrower_id = l.borrower_id)""",
        ),
    ),
    upsert=Upsert(
        target="attempts",
        conflict=("attempt_ref",),
        joins="""JOIN loans l ON l.loan_ref = s.loan_ref
                 LEFT JOIN contacts c ON c.contact_ref = s.party AND s.party <> 'debtor'""",
        values={
            "attempt_ref": "s.attempt_ref",
            "loan_id": "l.id",
            "contact_id": "c.id",
            "phone": "s.phone",
            "channel": "s.channel",
            "direction": "s.direction",
            "occurred_at": "s.occurred_at",
            "result": "s.result",
            "disposition": "s.disposition",
            "source": "'import'",
            "created_at": ":now",
        },
        insert_only=("created_at", "source"),
    ),
)
