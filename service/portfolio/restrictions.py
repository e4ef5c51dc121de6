"""What restricts contact, recorded through the API: holds (a dispute, a bankruptcy, breathing
space …), opt-outs per number and medium, and the zone a debtor confirmed.

The same facts arrive by import (``holds.csv``, ``opt_outs.csv``, ``borrowers.csv``); what is
recorded here is Arrears' own and an import never rewrites it. Every change is audited; lifting
an opt-out or ending a hold is always an explicit act, never a side effect of another record.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from service import audit
from service.auth import CurrentUser
from service.clock import utcnow
from service.db.models import Borrower, Hold, Loan, OptOut
from service.domain.compliance import HoldKind, TimezoneSource
from service.domain.contact import PHONE_CHANNELS, Channel, OptOutChannel, OptOutSource
from service.errors import Conflict, NotFound, ValidationFailed
from service.portfolio.visibility import borrower_visible


@dataclasses.dataclass(frozen=True, slots=True)
class NewHold:
    borrower_ref: str
    kind: HoldKind
    starts_on: dt.date
    loan_ref: str | None = None  # None: every loan of the borrower
    ends_on: dt.date | None = None
    note: str = ""
    hold_ref: str | None = None  # None: one of ours


def hold_view(row: Any) -> dict[str, Any]:
    return {
        "hold_ref": row.hold_ref,
        "borrower_ref": row.borrower_ref,
        "loan_ref": row.loan_ref,
        "kind": row.code,
        "starts_on": row.started_on,
        "ends_on": row.ends_on,
        "note": row.note,
        "source": row.source,
        "created_by": row.created_by,
    }


def _holds() -> Any:
    # The hold's own loan under another name: the visibility condition's EXISTS over loans must
    # correlate to the borrower only.
    held = aliased(Loan)
    return (
        select(
            Hold.hold_ref,
            Borrower.borrower_ref,
            held.loan_ref,
            Hold.code,
            Hold.started_on,
            Hold.ends_on,
            Hold.note,
            Hold.source,
            Hold.created_by,
        )
        .join(Borrower, Borrower.id == Hold.borrower_id)
        .outerjoin(held, held.id == Hold.loan_id)
    )


async def list_holds(
    conn: AsyncConnection,
    user: CurrentUser,
    *,
    borrower_ref: str | None,
    in_force_on: dt.date | None,
    limit: int,
    offset: int,
) -> tuple[int, list[dict[str, Any]]]:
    """The holds on the borrowers ``user`` may see: (how many in all, a page of them)."""
    query = _holds().where(borrower_visible(user))
    if borrower_ref:
        query = query.where(Borrower.borrower_ref == borrower_ref)
    if in_force_on is not None:
        query = query.where(
            Hold.started_on <= in_force_on,
            or_(Hold.ends_on.is_(None), Hold.ends_on >= in_force_on),
        )
    total = await conn.scalar(
        query.with_only_columns(func.count(Hold.id), maintain_column_froms=True)
    )
    rows = await conn.execute(query.order_by(Hold.id).limit(limit).offset(offset))
    return int(total or 0), [hold_view(row) for row in rows]


async def record_hold(conn: AsyncConnection, user: CurrentUser, hold: NewHold) -> dict[str, Any]:
    if hold.ends_on is not None and hold.ends_on < hold.starts_on:
        raise ValidationFailed("the hold ends before it starts", details=[{"field": "ends_on"}])
    borrower_id = await conn.scalar(
        select(Borrower.id).where(Borrower.borrower_ref == hold.borrower_ref)
    )
    if borrower_id is None:
        raise NotFound(f"borrower {hold.borrower_ref!r} not found")
    loan_id = None
    if hold.loan_ref is not None:
        loan_id = await conn.scalar(
            select(Loan.id).where(Loan.loan_ref == hold.loan_ref, Loan.borrower_id == borrower_id)
        )
        if loan_id is None:
            raise ValidationFailed(
                f"{hold.loan_ref} is not a loan of borrower {hold.borrower_ref}",
                details=[{"field": "loan_ref"}],
            )
    ref = hold.hold_ref or f"arrears-{secrets.token_hex(8)}"
    if await conn.scalar(select(Hold.id).where(Hold.hold_ref == ref)) is not None:
        raise Conflict(f"hold {ref!r} exists already")
    await conn.execute(
        insert(Hold).values(
            hold_ref=ref,
            borrower_id=borrower_id,
            loan_id=loan_id,
            code=hold.kind.value,
            started_on=hold.starts_on,
            ends_on=hold.ends_on,
            note=hold.note,
            created_by=user.username,
            created_at=utcnow(),
            source="api",
        )
    )
    view = await _hold(conn, ref)
    await audit.record(
        conn,
        actor=user.username,
        actor_id=user.id,
        action="hold.recorded",
        entity_type="borrower",
        entity_ref=hold.borrower_ref,
        details={k: str(v) if v is not None else None for k, v in view.items()},
    )
    return view


async def end_hold(
    conn: AsyncConnection, user: CurrentUser, hold_ref: str, ends_on: dt.date, note: str
) -> dict[str, Any]:
    """Lift a hold from a date on (the day it ends is its last)."""
    found = await _hold(conn, hold_ref)
    if ends_on < found["starts_on"]:
        raise ValidationFailed("the hold ends before it starts", details=[{"field": "ends_on"}])
    await conn.execute(update(Hold).where(Hold.hold_ref == hold_ref).values(ends_on=ends_on))
    await audit.record(
        conn,
        actor=user.username,
        actor_id=user.id,
        action="hold.ended",
        entity_type="borrower",
        entity_ref=found["borrower_ref"],
        details={
            "hold_ref": hold_ref,
            "ends_on": ends_on.isoformat(),
            "was": str(found["ends_on"]),
            "note": note,
        },
    )
    return await _hold(conn, hold_ref)


async def _hold(conn: AsyncConnection, hold_ref: str) -> dict[str, Any]:
    row = (await conn.execute(_holds().where(Hold.hold_ref == hold_ref))).one_or_none()
    if row is None:
        raise NotFound(f"hold {hold_ref!r} not found")
    return hold_view(row)


# --- opt-outs ------------------------------------------------------------------------------------


def _media(channel: OptOutChannel) -> list[Channel]:
    return list(PHONE_CHANNELS) if channel is OptOutChannel.all else [Channel(channel.value)]


def opt_out_view(row: Any) -> dict[str, Any]:
    return {
        "phone": row.phone,
        "channel": row.channel,
        "opted_out_at": row.opted_out_at,
        "opted_in_at": row.opted_in_at,
        "source": row.source,
        "recorded_by": row.recorded_by,
    }


async def list_opt_outs(conn: AsyncConnection, phone: str) -> list[dict[str, Any]]:
    rows = await conn.execute(select(OptOut).where(OptOut.phone == phone).order_by(OptOut.id))
    return [opt_out_view(row) for row in rows]


async def opt_outs_of(conn: AsyncConnection, phones: Sequence[str]) -> list[dict[str, Any]]:
    """The opt-outs of several numbers (a borrower's and their contacts') in one read."""
    wanted = sorted({phone for phone in phones if phone})
    if not wanted:
        return []
    rows = await conn.execute(
        select(OptOut).where(OptOut.phone.in_(wanted)).order_by(OptOut.phone, OptOut.id)
    )
    return [opt_out_view(row) for row in rows]


async def record_opt_out(
    conn: AsyncConnection,
    user: CurrentUser,
    *,
    phone: str,
    channel: OptOutChannel,
    source: OptOutSource,
    at: dt.datetime,
) -> list[dict[str, Any]]:
    """The number opts out of the medium (both for ``all``) from ``at``: a new opt-out, or one
    lifted before made to hold again."""
    for medium in _media(channel):
        existing = await conn.scalar(
            select(OptOut.id).where(OptOut.phone == phone, OptOut.channel == medium)
        )
        values = {"opted_out_at": at, "opted_in_at": None, "source": source.value}
        if existing is None:
            await conn.execute(
                insert(OptOut).values(
                    phone=phone, channel=medium, keyword=None, recorded_by="arrears", **values
                )
            )
        else:
            await conn.execute(
                update(OptOut).where(OptOut.id == existing).values(recorded_by="arrears", **values)
            )
    await _audit_opt(conn, user, "opt_out.recorded", phone, channel, at, source.value)
    return await list_opt_outs(conn, phone)


async def opt_in(
    conn: AsyncConnection, user: CurrentUser, *, phone: str, channel: OptOutChannel, at: dt.datetime
) -> list[dict[str, Any]]:
    """Lift the number's opt-out of the medium from ``at``: the explicit, audited act that alone
    can (a disposition or a reply recorded later never does)."""
    lifted = await conn.execute(
        update(OptOut)
        .where(
            OptOut.phone == phone,
            OptOut.channel.in_(_media(channel)),
            OptOut.opted_in_at.is_(None),
            OptOut.opted_out_at <= at,
        )
        .values(opted_in_at=at, recorded_by="arrears")
    )
    if not lifted.rowcount:
        raise NotFound(f"{phone} has no opt-out of {channel.value} in force at {at.isoformat()}")
    await _audit_opt(conn, user, "opt_out.lifted", phone, channel, at, None)
    return await list_opt_outs(conn, phone)


async def _audit_opt(
    conn: AsyncConnection,
    user: CurrentUser,
    action: str,
    phone: str,
    channel: OptOutChannel,
    at: dt.datetime,
    source: str | None,
) -> None:
    await audit.record(
        conn,
        actor=user.username,
        actor_id=user.id,
        action=action,
        entity_type="phone",
        entity_ref=phone,
        details={"channel": channel.value, "at": at.isoformat(), "source": source},
    )


# --- the debtor's zone --------------------------------------------------------------------------


async def confirm_timezone(
    conn: AsyncConnection, user: CurrentUser, borrower_ref: str, zone: str
) -> dict[str, Any]:
    """The debtor confirmed where they are: the zone wins over the file and the number."""
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed(
            f"{zone!r} is not an IANA time zone such as Asia/Shanghai",
            details=[{"field": "timezone"}],
        ) from None
    row = (
        await conn.execute(
            select(Borrower.id, Borrower.timezone, Borrower.timezone_candidates).where(
                Borrower.borrower_ref == borrower_ref, borrower_visible(user)
            )
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"borrower {borrower_ref!r} not found")
    await conn.execute(
        update(Borrower)
        .where(and_(Borrower.id == row.id))
        .values(
            timezone=zone,
            timezone_candidates=zone,
            timezone_source=TimezoneSource.confirmed,
            updated_at=utcnow(),
        )
    )
    await audit.record(
        conn,
        actor=user.username,
        actor_id=user.id,
        action="borrower.timezone_confirmed",
        entity_type="borrower",
        entity_ref=borrower_ref,
        details={"timezone": zone, "was": row.timezone or row.timezone_candidates},
    )
    return {"borrower_ref": borrower_ref, "timezone": zone, "timezone_source": "confirmed"}
