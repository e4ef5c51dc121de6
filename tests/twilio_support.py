"""What the webhook tests share: a lender with one borrower, a loan, an SMS and a call Arrears
sent (outbox rows and their attempts, as the dispatcher writes them), and requests signed the
way Twilio signs them (the SDK's RequestValidator, over the public URL)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import xml.etree.ElementTree as ET
from decimal import Decimal
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from twilio.request_validator import RequestValidator

from service.clock import FixedClock
from service.contact import log
from service.db.models import (
    Attempt,
    Borrower,
    Loan,
    LoanStatus,
    OutboxMessage,
    OutboxStatus,
    PhoneKind,
    PhoneNumber,
    TreatmentPlan,
)
from service.db.models.contact import current
from service.domain.compliance import TimezoneSource
from service.settings import Settings
from service.web.app import create_app

TOKEN = "test-auth-token-0123456789abcdef"
BASE = "https://arrears.example.com"
DEBTOR = "+8613800138000"
OUR_NUMBER = "+8610950000"
COLLECTOR = "+8610955555"
# Tuesday 24 November 2026, 10:00 in Shanghai.
NOW = dt.datetime(2026, 11, 24, 2, 0, tzinfo=dt.UTC)
SMS_SID = "SM" + "a" * 32
CALL_SID = "CA" + "b" * 32

Client = TestClient[Any, Any]


@dataclasses.dataclass(frozen=True)
class Floor:
    loan_id: int
    loan_ref: str
    sms_outbox: int
    call_outbox: int
    call_attempt: int


def twilio_settings(settings: Settings, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "twilio_auth_token": TOKEN,
        "public_base_url": BASE,
        "collector_number": COLLECTOR,
    }
    values.update(changes)
    return dataclasses.replace(settings, **values)


async def twilio_client(aiohttp_client: Any, settings: Settings, **changes: Any) -> Client:
    """The app as Twilio reaches it: signing token, public URL, the clock at NOW."""
    app = create_app(twilio_settings(settings, **changes), FixedClock(NOW))
    client: Client = await aiohttp_client(app)
    return client


def signature(url: str, form: dict[str, str], token: str = TOKEN) -> str:
    return str(RequestValidator(token).compute_signature(url, form))


async def post(
    client: Client,
    path_qs: str,
    form: dict[str, str],
    *,
    signed_url: str | None = None,
    signed_form: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> ClientResponse:
    """POST ``form`` as Twilio would, signed for BASE + ``path_qs`` (or what the test says)."""
    sig = signature(signed_url or BASE + path_qs, form if signed_form is None else signed_form)
    return await client.post(
        path_qs, data=form, headers={"X-Twilio-Signature": sig, **(headers or {})}
    )


def parse_twiml(twiml: str | bytes) -> ET.Element:
    # Our own app's answer, in a test: not untrusted input.
    return ET.fromstring(twiml.encode() if isinstance(twiml, str) else twiml)  # noqa: S314


def gather_of(twiml: str) -> ET.Element | None:
    return parse_twiml(twiml).find("Gather")


def said(twiml: str) -> str:
    return " ".join(node.text or "" for node in parse_twiml(twiml).iter("Say"))


async def seed(engine: AsyncEngine, *, locale: str = "en", region: str = "") -> Floor:
    """One borrower (DEBTOR), one open loan owing 5,230.00, a sent SMS and an answered call."""
    now = NOW
    async with engine.begin() as conn:
        borrower_id = (
            await conn.execute(
                insert(Borrower)
                .values(
                    borrower_ref="B-1",
                    name="Maria Lopez" if locale == "en" else "王芳",
                    locale=locale,
                    region=region,
                    timezone="Asia/Shanghai",
                    timezone_candidates="Asia/Shanghai",
                    timezone_source=TimezoneSource.file,
                    sms_consent=True,
                )
                .returning(Borrower.id)
            )
        ).scalar_one()
        await conn.execute(
            insert(PhoneNumber).values(
                borrower_id=borrower_id, e164=DEBTOR, kind=PhoneKind.primary, line_type="mobile"
            )
        )
        loan_id = (
            await conn.execute(
                insert(Loan)
                .values(
                    loan_ref="L-1",
                    borrower_id=borrower_id,
                    currency="CNY",
                    principal=Decimal("10000.00"),
                    annual_rate=Decimal("0.12"),
                    disbursed_on=dt.date(2026, 1, 5),
                    maturity_on=dt.date(2027, 1, 5),
                    status=LoanStatus.open,
                    days_past_due=12,
                    overdue_amount=Decimal("1200.50"),
                    outstanding=Decimal("5230.00"),
                )
                .returning(Loan.id)
            )
        ).scalar_one()
        plan_id = (
            await conn.execute(
                insert(TreatmentPlan)
                .values(
                    name="p",
                    version=1,
                    strategy="plan_steps",
                    definition="{}",
                    created_by="t",
                    active=False,  # only a parent for the outbox rows
                )
                .returning(TreatmentPlan.id)
            )
        ).scalar_one()
        context = {
            "name": "Maria Lopez" if locale == "en" else "王芳",
            "lender": "Arrears Demo Lender",
            "loan_tail": "L-1",
            "dpd": 12,
            "currency": "CNY",
            "overdue_amount": "1,200.50",
        }
        ids = []
        for channel, template in (("sms", "overdue"), ("call", "reminder")):
            ids.append(
                (
                    await conn.execute(
                        insert(OutboxMessage)
                        .values(
                            idempotency_key=f"L-1:{channel}:2026-11-24",
                            loan_id=loan_id,
                            plan_id=plan_id,
                            step=f"{channel}-step",
                            channel=channel,
                            phone=DEBTOR,
                            template=template,
                            locale=locale,
                            planned_for=now.date(),
                            not_before=now,
                            status=OutboxStatus.sent,
                            context=json.dumps(context),
                            sent_at=now,
                        )
                        .returning(OutboxMessage.id)
                    )
                ).scalar_one()
            )
        sms_outbox, call_outbox = ids
        call_attempt = None
        # As the dispatcher writes a send that succeeded.
        for outbox_id, channel, sid, template in (
            (sms_outbox, "sms", SMS_SID, "overdue"),
            (call_outbox, "call", CALL_SID, "reminder"),
        ):
            call_attempt = await log.insert_attempt(
                conn,
                log.attempt_row(
                    attempt_ref=log.outbound_ref(outbox_id),
                    loan_id=loan_id,
                    phone=DEBTOR,
                    channel=channel,
                    direction="outbound",
                    occurred_at=now,
                    result="pending",
                    source="dispatch",
                    outbox_id=outbox_id,
                    template=template,
                    provider_ref=sid,
                    provider_status="queued",
                ),
            )
    assert call_attempt is not None
    return Floor(loan_id, "L-1", sms_outbox, call_outbox, call_attempt)


async def attempt(engine: AsyncEngine, **where: Any) -> Any:
    async with engine.connect() as conn:
        # The attempt as it stands: its newest revision (an id names any revision of it).
        query = select(Attempt).where(current())
        if "id" in where:
            ref = select(Attempt.attempt_ref).where(Attempt.id == where.pop("id"))
            query = query.where(Attempt.attempt_ref == ref.scalar_subquery())
        for name, value in where.items():
            query = query.where(getattr(Attempt, name) == value)
        return (await conn.execute(query)).one_or_none()


async def rows(engine: AsyncEngine, sql: str) -> list[tuple[Any, ...]]:
    async with engine.connect() as conn:
        return [tuple(row) for row in (await conn.execute(text(sql))).all()]
