"""``holds.csv`` and ``opt_outs.csv``: what stops contact, as the lender knows it (DESIGN.md §5).

A hold (a dispute, a bankruptcy, breathing space …) is on one loan or, with ``loan_ref`` empty,
on every loan of the borrower, from a date and maybe to one: re-importing it with ``ends_on``
lifts it. An opt-out is per number and medium (``all``: both); re-importing it with
``opted_in_at`` lifts it. Rows recorded by Arrears itself (through the API, a reply, the
provider) are never rewritten by an import: a differing row is rejected with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence

from service.domain.compliance import HoldKind
from service.domain.contact import PHONE_CHANNELS, OptOutChannel, OptOutSource
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

_HOLD_COLUMNS = ("hold_ref", "borrower_ref", "loan_ref", "kind", "starts_on", "ends_on", "note")


def _optional(parser: f.Parser) -> f.Parser:
    def parse(value: str) -> object:
        return parser(value) if value.strip() else None

    return parse


def _parse_hold(raw: Sequence[str], ctx: ParseContext, line: int) -> StagedRows:
    values = parse_columns(
        dict(zip(_HOLD_COLUMNS, raw, strict=True)),
        {
            "hold_ref": f.ref,
            "borrower_ref": f.ref,
            "loan_ref": _optional(f.ref),
            "kind": f.choice(*HoldKind),
            "starts_on": f.date,
            "ends_on": _optional(f.date),
            "note": f.text(2000),
        },
    )
    if values["ends_on"] is not None and values["ends_on"] < values["starts_on"]:
        raise RowRejected([("ends_on", "the hold ends before it starts")])
    return {"stage_holds": [(line, *(values[column] for column in _HOLD_COLUMNS))]}


_LOAN_OF_BORROWER = """
    SELECT s.line, CASE WHEN l.id IS NULL THEN 'unknown loan_ref ''' || s.loan_ref || ''''
                        ELSE 'loan ' || s.loan_ref || ' is not a loan of borrower '
                             || s.borrower_ref END AS reason
    FROM stage_holds s
    LEFT JOIN loans l ON l.loan_ref = s.loan_ref
    LEFT JOIN borrowers b ON b.borrower_ref = s.borrower_ref
    WHERE s.loan_ref IS NOT NULL AND (l.id IS NULL OR l.borrower_id <> b.id)
"""
_HOLD_RECORDED_HERE = """
    SELECT s.line, 'hold_ref ''' || s.hold_ref || ''' was recorded by Arrears (' || h.source
                   || ') with other values; an import may not change it' AS reason
    FROM stage_holds s
    JOIN holds h ON h.hold_ref = s.hold_ref
    JOIN borrowers b ON b.id = h.borrower_id
    LEFT JOIN loans l ON l.id = h.loan_id
    WHERE h.source <> 'import'
      AND (b.borrower_ref <> s.borrower_ref OR l.loan_ref IS DISTINCT FROM s.loan_ref
           OR h.code <> s.kind OR h.started_on <> s.starts_on
           OR h.ends_on IS DISTINCT FROM s.ends_on OR h.note <> s.note)
"""

HOLDS = FileSpec(
    file="holds.csv",
    columns=_HOLD_COLUMNS,
    required_columns=frozenset(_HOLD_COLUMNS) - {"loan_ref", "ends_on", "note"},
    key=("hold_ref",),
    stage={
        "stage_holds": (
            ("hold_ref", "text"),
            ("borrower_ref", "text"),
            ("loan_ref", "text"),
            ("kind", "text"),
            ("starts_on", "date"),
            ("ends_on", "date"),
            ("note", "text"),
        )
    },
    parse=_parse_hold,
    parents=(Parent("borrower_ref", "borrowers", "borrower_ref"),),
    checks=(
        Check(column="loan_ref", sql=_LOAN_OF_BORROWER),
        Check(column="hold_ref", sql=_HOLD_RECORDED_HERE),
    ),
    upsert=Upsert(
        target="holds",
        conflict=("hold_ref",),
        joins="""JOIN borrowers b ON b.borrower_ref = s.borrower_ref
                 LEFT JOIN loans l ON l.loan_ref = s.loan_ref""",
        values={
            "hold_ref": "s.hold_ref",
            "borrower_id": "b.id",
            "loan_id": "l.id",
            "code": "s.kind",
            "started_on": "s.starts_on",
            "ends_on": "s.ends_on",
            "note": "s.note",
            "created_by": "'import'",
            "source": "'import'",
            "created_at": ":now",
        },
        insert_only=("created_at", "created_by", "source"),
    ),
)


_OPT_OUT_COLUMNS = ("phone", "channel", "opted_out_at", "opted_in_at", "source")


def _parse_opt_out(raw: Sequence[str], ctx: ParseContext, line: int) -> StagedRows:
    values = parse_columns(
        dict(zip(_OPT_OUT_COLUMNS, raw, strict=True)),
        {
            "phone": f.phone(ctx.default_region),
            "channel": f.choice(*OptOutChannel),
            "opted_out_at": f.timestamp,
            "opted_in_at": _optional(f.timestamp),
            "source": f.choice(*OptOutSource),
        },
    )
    problems = [
        (column, "time is in the future")
        for column in ("opted_out_at", "opted_in_at")
        if values[column] is not None and values[column] > ctx.now
    ]
    if values["opted_in_at"] is not None and values["opted_in_at"] < values["opted_out_at"]:
        problems.append(("opted_in_at", "opted in before opting out"))
    if problems:
        raise RowRejected(problems)
    # One stored row per medium: "all" is the number's calls and texts.
    media = list(PHONE_CHANNELS) if values["channel"] == OptOutChannel.all else [values["channel"]]
    return {
        "stage_opt_outs": [
            (
                line,
                values["phone"],
                str(medium),
                values["opted_out_at"],
                values["opted_in_at"],
                values["source"],
            )
            for medium in media
        ]
    }


_OPT_OUT_RECORDED_HERE = """
    SELECT s.line, 'the opt-out of ' || s.phone || ' from ' || s.channel
                   || ' was recorded by Arrears (' || o.recorded_by || ', ' || o.source
                   || ') with other values; an import may not change it' AS reason
    FROM stage_opt_outs s
    JOIN opt_outs o ON o.phone = s.phone AND o.channel = s.channel
    WHERE o.recorded_by <> 'import'
      AND (o.opted_out_at <> s.opted_out_at OR o.source <> s.source
           OR o.opted_in_at IS DISTINCT FROM s.opted_in_at)
"""

OPT_OUTS = FileSpec(
    file="opt_outs.csv",
    columns=_OPT_OUT_COLUMNS,
    required_columns=frozenset(_OPT_OUT_COLUMNS) - {"opted_in_at"},
    key=("phone", "channel"),
    stage={
        "stage_opt_outs": (
            ("phone", "text"),
            ("channel", "text"),
            ("opted_out_at", "timestamp"),
            ("opted_in_at", "timestamp"),
            ("source", "text"),
        )
    },
    parse=_parse_opt_out,
    checks=(Check(column="phone", sql=_OPT_OUT_RECORDED_HERE),),
    upsert=Upsert(
        target="opt_outs",
        conflict=("phone", "channel"),
        values={
            "phone": "s.phone",
            "channel": "s.channel",
            "opted_out_at": "s.opted_out_at",
            "opted_in_at": "s.opted_in_at",
            "source": "s.source",
            "keyword": "NULL",
            "recorded_by": "'import'",
        },
        insert_only=("recorded_by",),
    ),
)
