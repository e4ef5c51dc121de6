"""``attempts.csv``: the contact history of a previous system (results and dispositions from
the closed lists of :mod:`service.domain.contact`), with the effects a disposition has when a
collector logs it: a third party's refusal, and the holds of a dispute, a death, a bankruptcy or
a cease request (DESIGN.md §5)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from zoneinfo import ZoneInfo

from service.domain.contact import (
    DISPOSITION_HOLDS,
    PHONE_CHANNELS,
    AttemptResult,
    Direction,
    Disposition,
)
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


def _quoted(values: Iterable[str]) -> str:
    return ", ".join(f"'{value}'" for value in values)


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
            "channel": f.choice(*PHONE_CHANNELS),
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
    # The lender's date of the contact: a hold that a disposition puts starts that day.
    occurred_on = values["occurred_at"].astimezone(ZoneInfo(ctx.lender_zone)).date()
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
                occurred_on,
            )
        ]
    }


# DESIGN.md §5: an import never silently rewrites what Arrears itself recorded.
_RECORDED_HERE = """
    SELECT s.line, 'attempt_ref ''' || s.attempt_ref || ''' was recorded by Arrears ('
                   || a.source || ') with other values; an import may not change it' AS reason
    FROM stage_attempts s
    JOIN attempts a ON a.attempt_ref = s.attempt_ref
    JOIN loans l ON l.id = a.loan_id
    WHERE a.source <> 'import'
      AND NOT EXISTS (SELECT 1 FROM attempts n WHERE n.supersedes_id = a.id)
      AND (l.loan_ref <> s.loan_ref OR a.phone <> s.phone OR a.channel <> s.channel
           OR a.direction <> s.direction OR a.occurred_at <> s.occurred_at
           OR a.result <> s.result OR COALESCE(a.disposition, '') <> COALESCE(s.disposition, ''))
"""
_NOT_A_CONTACT = """
    SELECT s.line, 'contact_ref ''' || s.party
                   || ''' is not a contact of the loan''s borrower' AS reason
    FROM stage_attempts s
    JOIN loans l ON l.loan_ref = s.loan_ref
    WHERE s.party <> 'debtor' AND NOT EXISTS (
      SELECT 1 FROM contacts c WHERE c.contact_ref = s.party AND c.borrower_id = l.borrower_id)
"""
# A third party who refused is refused for good: the first refusal stands.
_REFUSALS = """
    UPDATE contacts SET refused_at = r.refused_at, updated_at = :now
    FROM (SELECT c.id, MIN(s.occurred_at) AS refused_at
          FROM stage_attempts s
          JOIN loans l ON l.loan_ref = s.loan_ref
          JOIN contacts c ON c.contact_ref = s.party AND c.borrower_id = l.borrower_id
          WHERE s.party <> 'debtor' AND s.disposition = 'refused'
          GROUP BY c.id) r
    WHERE contacts.id = r.id AND contacts.refused_at IS NULL
"""
_ONE_DEBT = _quoted(d for d, (_, every_loan) in DISPOSITION_HOLDS.items() if not every_loan)
_KIND = " ".join(f"WHEN '{d}' THEN '{kind}'" for d, (kind, _) in DISPOSITION_HOLDS.items())
# Dispositions that imply holds create them, once per attempt (re-importing it changes nothing,
# and nothing here ever lifts a hold): on the debt for a dispute, on the debtor otherwise.
_HOLDS = f"""
    INSERT INTO holds (hold_ref, borrower_id, loan_id, code, started_on, ends_on, note,
                       created_by, created_at, source)
    SELECT 'attempt:' || s.attempt_ref, l.borrower_id,
           CASE WHEN s.disposition IN ({_ONE_DEBT}) THEN l.id END,
           CASE s.disposition {_KIND} END,
           s.occurred_on, NULL, 'disposition ' || s.disposition || ' in attempt ' || s.attempt_ref,
           'import', :now, 'import'
    FROM stage_attempts s JOIN loans l ON l.loan_ref = s.loan_ref
    WHERE s.disposition IN ({_quoted(DISPOSITION_HOLDS)})
    ON CONFLICT (hold_ref) DO NOTHING
"""


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
            ("occurred_on", "date"),
        )
    },
    parse=_parse_attempt,
    parents=(Parent("loan_ref", "loans", "loan_ref"),),
    checks=(
        Check(column="party", sql=_NOT_A_CONTACT),
        Check(column="attempt_ref", sql=_RECORDED_HERE),
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
        append_only=True,
    ),
    after=(_REFUSALS, _HOLDS),
)
