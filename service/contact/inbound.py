"""What Twilio tells us, in the database: status callbacks on our attempts, and texts debtors
send — opt-out, opt-in and help keywords answered per the lender's compliance profile, every
other reply put on the account's timeline (and, when it reads as one, a proposed promise).

Every write goes through :mod:`service.contact.log` (the contact log's one writer); replies are
rendered from ``templates/sms/LOCALE/`` (:data:`REPLY_TEMPLATES`), without the footer: they
answer a keyword, and are not dunning.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import unicodedata
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog
from sqlalchemy import case, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from service import audit
from service.contact import log
from service.contact.promises import ACTOR, propose_from_reply
from service.db.models import Attempt, Borrower, Loan, LoanStatus, PhoneNumber, ProviderReport
from service.db.models.contact import current
from service.domain.compliance import Profile
from service.domain.contact import AttemptResult, Channel, Direction, OptOutSource, locale_for
from service.domain.promises import parse_promise
from service.settings import Settings
from service.treatment.facts import profile_for
from service.treatment.messages import render_sms

logger = structlog.get_logger(__name__)

# Replies to keywords: every one exists in every locale (tests/test_templates.py).
REPLY_TEMPLATES = ("opt_out_confirmation", "opt_in_confirmation", "help")
# A text's START lifts what a keyword or the provider's block made; a written or verbal
# opt-out is a deliberate act recorded by a person, and only the lender lifts it (the API).
LIFTED_BY_KEYWORD = (OptOutSource.keyword, OptOutSource.provider)
# Trimmed from a keyword text's ends besides spaces: "STOP." and "退订！" are still keywords.
_KEYWORD_PUNCTUATION = " \t\r\n.!。！"


# --- status callbacks ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class StatusReport:
    sid: str
    status: str
    error_code: str | None = None
    answered_by: str | None = None


async def apply_status(conn: AsyncConnection, report: StatusReport, at: dt.datetime) -> str:
    """One status callback: ``unknown`` (not our attempt), ``applied`` or ``unchanged`` (a
    repeat or a late arrival). What the error code says of the number holds either way."""
    attempt = (
        await conn.execute(
            select(Attempt.id, Attempt.phone, Attempt.loan_id).where(
                Attempt.provider_ref == report.sid, current()
            )
        )
    ).one_or_none()
    if attempt is None:
        # Maybe ours, its send's outcome not yet stored (a batch stores after its sends): held
        # until the attempt is written (:func:`apply_held`).
        await conn.execute(
            insert(ProviderReport).values(
                provider_ref=report.sid,
                status=report.status,
                error_code=report.error_code,
                answered_by=report.answered_by,
                received_at=at,
            )
        )
        return "held"
    changed = await log.report_status(
        conn,
        provider_ref=report.sid,
        status=report.status,
        error_code=report.error_code,
        answered_by=report.answered_by,
    )
    if report.error_code in log.INVALID_NUMBER_CODES:
        await log.mark_numbers_invalid(conn, [attempt.phone])
    if report.error_code in log.OPTED_OUT_CODES:
        # 21610: the recipient replied STOP to the carrier or Twilio; texts are what it blocks.
        opted = await log.opt_out_numbers(
            conn, [(attempt.phone, Channel.sms)], at, OptOutSource.provider
        )
        if opted:
            await _audit_opt(conn, "opt_out.provider", attempt.phone, opted, at, None)
    return "applied" if changed else "unchanged"


async def apply_held(conn: AsyncConnection, refs: Sequence[str], at: dt.datetime) -> int:
    """Apply the reports held for these provider ids (their attempts now stored), in the order
    they came, and forget them. Returns how many were applied."""
    held = (
        await conn.execute(
            select(ProviderReport)
            .where(ProviderReport.provider_ref.in_(list(refs)))
            .order_by(ProviderReport.id)
        )
    ).all()
    if not held:
        return 0
    for row in held:
        await apply_status(
            conn, StatusReport(row.provider_ref, row.status, row.error_code, row.answered_by), at
        )
    await conn.execute(delete(ProviderReport).where(ProviderReport.id.in_([r.id for r in held])))
    return len(held)


async def apply_ready_held(conn: AsyncConnection, at: dt.datetime) -> int:
    """Held reports whose attempts exist by now (a callback that came while its batch was
    being stored): applied by the sweeper, so none waits longer than a tick."""
    ready = (
        await conn.scalars(
            select(ProviderReport.provider_ref)
            .join(Attempt, Attempt.provider_ref == ProviderReport.provider_ref)
            .distinct()
        )
    ).all()
    return await apply_held(conn, list(ready), at) if ready else 0


# --- inbound texts ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class InboundText:
    sid: str
    sender: str
    to: str
    body: str


@dataclasses.dataclass(frozen=True, slots=True)
class Answer:
    """What became of a text: its kind and the one message to answer with (None: nothing)."""

    kind: str  # opt_out | opt_in | help | reply | promise | repeat | unknown_sender
    message: str | None = None


def keyword_of(body: str) -> str:
    """A text as a keyword is matched: the whole message, trimmed, any width, any case."""
    return unicodedata.normalize("NFKC", body).strip(_KEYWORD_PUNCTUATION).casefold()


def classify(body: str, profile: Profile) -> str:
    """opt_out | opt_in | help | reply, from the profile's keyword lists."""
    word = keyword_of(body)
    for kind, words in (
        ("opt_out", profile.opt_out_keywords),
        ("opt_in", profile.opt_in_keywords),
        ("help", profile.help_keywords),
    ):
        if word in {keyword.casefold() for keyword in words}:
            return kind
    return "reply"


def reply_context(profile: Profile, settings: Settings) -> dict[str, Any]:
    """The variables of every reply template."""
    return {
        "lender": settings.lender_name,
        "opt_out_keyword": (profile.opt_out_keywords or ("STOP",))[0],
        "opt_in_keyword": (profile.opt_in_keywords or ("START",))[0],
        "contact_number": settings.collector_number or "",
        "office_hours": settings.office_hours,
    }


def local_today(zone: str | None, lender_zone: str, now: dt.datetime) -> dt.date:
    """The date where the debtor is (their zone on file, else the lender's)."""
    for name in (zone, lender_zone):
        if name:
            try:
                return now.astimezone(ZoneInfo(name)).date()
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return now.date()


async def account_of_number(conn: AsyncConnection, phone: str) -> Any:
    """The most relevant loan of whoever has this number: open before closed, most overdue
    first (days, then amount) — where the reply lands on the timeline."""
    return (
        await conn.execute(
            select(
                Loan.id,
                Loan.loan_ref,
                Loan.currency,
                Borrower.locale,
                Borrower.region,
                Borrower.timezone,
            )
            .join(Borrower, Borrower.id == Loan.borrower_id)
            .join(PhoneNumber, PhoneNumber.borrower_id == Borrower.id)
            .where(PhoneNumber.e164 == phone)
            .order_by(
                case((Loan.status == LoanStatus.open, 0), else_=1),
                Loan.days_past_due.desc(),
                Loan.overdue_amount.desc(),
                Loan.id,
            )
            .limit(1)
        )
    ).one_or_none()


async def receive_text(
    conn: AsyncConnection, settings: Settings, text: InboundText, at: dt.datetime
) -> Answer:
    """One inbound text, in the caller's transaction. A text delivered twice (the same sid)
    is answered once."""
    loan = await account_of_number(conn, text.sender)
    profile = profile_for(settings.compliance_profile, loan.region if loan else "")
    kind = classify(text.body, profile)
    attempt_id: int | None = None
    if loan is not None:
        attempt_id = await log.insert_attempt(
            conn,
            log.attempt_row(
                attempt_ref=f"tw-{text.sid}",
                loan_id=loan.id,
                phone=text.sender,
                channel=Channel.sms,
                direction=Direction.inbound,
                occurred_at=at,
                result=AttemptResult.delivered,
                source="inbound",
                # The sid is in attempt_ref; provider_ref is for what we sent (status callbacks).
                provider_status="received",
                note=text.body,
            ),
        )
        if attempt_id is None:
            return Answer("repeat")
    elif kind == "reply":
        return Answer("unknown_sender")
    # Keywords are honoured from anyone: an opt-out is the number's, whoever holds it.
    media = [(text.sender, Channel(medium)) for medium in profile.keyword_opt_out_covers]
    template: str | None = None
    if kind == "opt_out":
        opted = await log.opt_out_numbers(
            conn, media, at, OptOutSource.keyword, keyword=keyword_of(text.body)[:32]
        )
        if opted:
            await _audit_opt(conn, "opt_out.keyword", text.sender, opted, at, keyword_of(text.body))
            template = "opt_out_confirmation"
    elif kind == "opt_in":
        lifted = await log.opt_in_numbers(conn, media, at, LIFTED_BY_KEYWORD)
        if lifted:
            await _audit_opt(conn, "opt_out.lifted", text.sender, lifted, at, keyword_of(text.body))
            template = "opt_in_confirmation"
    elif kind == "help":
        template = "help"
    elif loan is not None and attempt_id is not None:
        today = local_today(loan.timezone, settings.lender_timezone, at)
        promise = parse_promise(text.body, today, day_first=profile.name == "uk")
        if promise is not None:
            await propose_from_reply(
                conn,
                loan_id=loan.id,
                attempt_id=attempt_id,
                amount=promise.amount,
                promised_on=promise.promised_on,
                made_on=today,
                note=text.body,
                now=at,
            )
            kind = "promise"
    if template is None:
        return Answer(kind)
    locale = locale_for(loan.locale if loan else ("zh" if profile.name == "cn" else "en"))
    message = render_sms(template, locale, reply_context(profile, settings)).strip()
    if loan is not None:
        await log.write_attempts(
            conn,
            [
                log.attempt_row(
                    attempt_ref=f"tw-{text.sid}-reply",
                    loan_id=loan.id,
                    phone=text.sender,
                    channel=Channel.sms,
                    direction=Direction.outbound,
                    occurred_at=at,
                    # A TwiML reply's delivery is never reported back to us.
                    result=AttemptResult.pending,
                    source="reply",
                    template=template,
                    note=message,
                )
            ],
        )
    return Answer(kind, message)


async def _audit_opt(
    conn: AsyncConnection,
    action: str,
    phone: str,
    media: list[tuple[str, Channel]],
    at: dt.datetime,
    keyword: str | None,
) -> None:
    await audit.record(
        conn,
        actor=ACTOR,
        action=action,
        entity_type="phone",
        entity_ref=phone,
        details={
            "channels": sorted(str(medium) for _, medium in media),
            "at": at.isoformat(),
            "keyword": keyword,
        },
    )
