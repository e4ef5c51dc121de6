"""``borrowers.csv`` and ``contacts.csv``: borrowers with their numbers and zones, and third
parties (guarantors, emergency contacts)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from service.domain.compliance import debtor_zone
from service.domain.phones import region_country, zones_for
from service.ingest import fields as f
from service.ingest.contract import (
    FileSpec,
    Parent,
    ParseContext,
    RowRejected,
    StagedRows,
    Upsert,
    parse_columns,
)

BORROWER_COLUMNS = (
    "borrower_ref",
    "name",
    "phone",
    "alt_phones",
    "timezone",
    "locale",
    "region",
    "address",
    "sms_consent",
    "timezone_confirmed",  # optional: true when the debtor confirmed the zone
)
_LOCALE = re.compile(r"^[a-z]{2,3}(-[A-Z][a-z]{3})?(-[A-Z]{2})?$")


def _parse_borrower(raw: Sequence[str], ctx: ParseContext, line: int) -> StagedRows:
    row = dict(zip(BORROWER_COLUMNS, raw, strict=True))
    problems: list[tuple[str, str]] = []
    values: dict[str, Any] = {}
    try:
        values = parse_columns(
            row,
            {
                "borrower_ref": f.ref,
                "name": f.required_text(200),
                "timezone": f.timezone,
                "region": f.text(16),
                "address": f.text(2000),
                "sms_consent": f.boolean,
                "locale": f.text(16),
                "timezone_confirmed": f.boolean,
            },
        )
    except RowRejected as exc:
        problems.extend(exc.problems)
    country = region_country(row.get("region", ""), ctx.default_region)
    phone_parser = f.phone_with_type(country)
    phones: list[tuple[str, str, str]] = []  # (e164, kind, line type)
    primary_raw = row.get("phone", "").strip()
    if primary_raw:
        try:
            number, line_type = phone_parser(primary_raw)
            phones.append((number, "primary", line_type))
        except f.FieldError as exc:
            problems.append(("phone", str(exc)))
    for raw in row.get("alt_phones", "").split(";"):
        if raw.strip():
            try:
                number, line_type = phone_parser(raw)
            except f.FieldError as exc:
                problems.append(("alt_phones", f"{exc} in {raw.strip()!r}"))
                continue
            if all(number != known for known, _, _ in phones):
                phones.append((number, "alt", line_type))
    locale = values.get("locale") or ("zh-CN" if country == "CN" else "en")
    if "locale" in values and not _LOCALE.match(locale):
        problems.append(("locale", f"expected a locale such as zh-CN or en, got {locale!r}"))
    if problems:
        raise RowRejected(problems)

    if values["timezone_confirmed"] and not values["timezone"]:
        raise RowRejected([("timezone_confirmed", "a confirmed zone needs the timezone")])
    # The file's zone is evidence, as is the primary number's area code (DESIGN.md §3).
    evidence = debtor_zone(
        values["timezone"],
        values["timezone_confirmed"],
        zones_for(phones[0][0]).candidates if phones else (),
    )
    ref = values["borrower_ref"]
    return {
        "stage_borrowers": [
            (
                line,
                ref,
                values["name"],
                locale,
                values["region"].upper(),
                values["address"],
                evidence.zone,
                ";".join(evidence.candidates),
                evidence.source.value,
                values["sms_consent"],
            )
        ],
        "stage_borrower_phones": [(line, ref, *phone) for phone in phones],
    }


BORROWERS = FileSpec(
    file="borrowers.csv",
    columns=BORROWER_COLUMNS,
    required_columns=frozenset({"borrower_ref", "name", "phone"}),
    key=("borrower_ref",),
    stage={
        "stage_borrowers": (
            ("borrower_ref", "text"),
            ("name", "text"),
            ("locale", "text"),
            ("region", "text"),
            ("address", "text"),
            ("timezone", "text"),
            ("timezone_candidates", "text"),
            ("timezone_source", "text"),
            ("sms_consent", "bool"),
        ),
        "stage_borrower_phones": (
            ("borrower_ref", "text"),
            ("e164", "text"),
            ("kind", "text"),
            ("line_type", "text"),
        ),
    },
    parse=_parse_borrower,
    stage_indexes={"stage_borrower_phones": ("borrower_ref", "e164")},
    upsert=Upsert(
        target="borrowers",
        conflict=("borrower_ref",),
        values={
            "borrower_ref": "s.borrower_ref",
            "name": "s.name",
            "locale": "s.locale",
            "region": "s.region",
            "address": "s.address",
            "timezone": "s.timezone",
            "timezone_candidates": "s.timezone_candidates",
            "timezone_source": "s.timezone_source",
            "sms_consent": "s.sms_consent",
            "created_at": ":now",
            "updated_at": ":now",
        },
        # A zone the debtor confirmed (through the API) outranks any file but a confirming one.
        keep={
            column: "t.timezone_source = 'confirmed' AND v.timezone_source <> 'confirmed'"
            for column in ("timezone", "timezone_candidates", "timezone_source")
        },
    ),
    after=(
        # Numbers of rejected (duplicate) rows were staged too; keep only the accepted lines'.
        """DELETE FROM stage_borrower_phones
           WHERE line NOT IN (SELECT line FROM stage_borrowers)""",
        """INSERT INTO phone_numbers
             (borrower_id, e164, kind, line_type, verified, status, created_at, updated_at)
           SELECT b.id, p.e164, p.kind, p.line_type, false, 'active', :now, :now
           FROM stage_borrower_phones p JOIN borrowers b ON b.borrower_ref = p.borrower_ref
           WHERE true
           ON CONFLICT (borrower_id, e164) DO UPDATE
             SET kind = excluded.kind, line_type = excluded.line_type,
                 updated_at = excluded.updated_at
             WHERE phone_numbers.kind IS DISTINCT FROM excluded.kind
                OR phone_numbers.line_type IS DISTINCT FROM excluded.line_type""",
        # A number the lender no longer lists stays on file as 'former' (the contact log
        # refers to it), but is never dialled as the borrower's current number.
        """UPDATE phone_numbers SET kind = 'former', updated_at = :now
           WHERE kind <> 'former'
             AND borrower_id IN (
               SELECT b.id FROM stage_borrowers s JOIN borrowers b
                 ON b.borrower_ref = s.borrower_ref)
             AND NOT EXISTS (
               SELECT 1 FROM stage_borrower_phones p JOIN borrowers b
                 ON b.borrower_ref = p.borrower_ref
               WHERE b.id = phone_numbers.borrower_id AND p.e164 = phone_numbers.e164)""",
    ),
)


_CONTACT_COLUMNS = ("borrower_ref", "contact_ref", "name", "relation", "phone", "debt_related")


def _parse_contact(raw: Sequence[str], ctx: ParseContext, line: int) -> StagedRows:
    values = parse_columns(
        dict(zip(_CONTACT_COLUMNS, raw, strict=True)),
        {
            "borrower_ref": f.ref,
            "contact_ref": f.ref,
            "name": f.required_text(200),
            "relation": f.text(64),
            "phone": f.phone(ctx.default_region),
            "debt_related": f.boolean,
        },
    )
    return {
        "stage_contacts": [
            (
                line,
                values["contact_ref"],
                values["borrower_ref"],
                values["name"],
                values["relation"],
                values["phone"],
                values["debt_related"],
            )
        ]
    }


CONTACTS = FileSpec(
    file="contacts.csv",
    columns=_CONTACT_COLUMNS,
    required_columns=frozenset({"borrower_ref", "contact_ref", "name", "phone", "debt_related"}),
    key=("contact_ref",),
    stage={
        "stage_contacts": (
            ("contact_ref", "text"),
            ("borrower_ref", "text"),
            ("name", "text"),
            ("relation", "text"),
            ("phone", "text"),
            ("debt_related", "bool"),
        )
    },
    parse=_parse_contact,
    parents=(Parent("borrower_ref", "borrowers", "borrower_ref"),),
    upsert=Upsert(
        target="contacts",
        conflict=("contact_ref",),
        joins="JOIN borrowers b ON b.borrower_ref = s.borrower_ref",
        values={
            "contact_ref": "s.contact_ref",
            "borrower_id": "b.id",
            "name": "s.name",
            "relation": "s.relation",
            "phone": "s.phone",
            "debt_related": "s.debt_related",
            "created_at": ":now",
            "updated_at": ":now",
        },
    ),
)
