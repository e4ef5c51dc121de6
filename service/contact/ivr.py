"""The call's keypad menu: what TwiML comes next for which digits, and what each outcome
records on the call's attempt (the attempt of the outbox row the call was made for).

::

    script ─▶ menu ─1─▶ amount ─N#─▶ date ─D#─▶ confirm ─1─▶ promised  (promise_to_pay, pending)
                │          ▲                       └─2─▶ amount (start again)
                ├─2─▶ dial the collector, or the office hours   (callback_requested)
                └─3─▶ paid                                        (claims_paid)

The menu's state travels in the query of each ``<Gather action>`` (step, amount, date, tries),
which Twilio signs with the URL, so no state is kept here. Amounts are whole currency units up
to what the loan owes; the date is keyed as days from today (0 today … :data:`MAX_DAYS_AHEAD`):
fewer keys than a full date, and never a date in the past. Three wrong inputs end the call.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import jinja2
import structlog
from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from service.contact import log
from service.contact.inbound import account_of_number, local_today
from service.contact.promises import record_ivr_promise
from service.db.models import Attempt, Borrower, Loan, OutboxMessage
from service.db.models.contact import current
from service.domain.contact import AttemptResult, Channel, Direction, Disposition, locale_for
from service.settings import Settings
from service.treatment.facts import profile_for
from service.treatment.messages import environment, has_template, voice_context, webhook_url

logger = structlog.get_logger(__name__)

MENU_TEMPLATE = "menu"  # templates/voice/LOCALE/menu.xml: every step's words
MAX_TRIES = 3
MAX_DAYS_AHEAD = 30
STEPS = ("menu", "amount", "date", "confirm")
HANGUP = '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Hangup/></Response>'
_CURRENCY_WORDS = {
    "en": {"CNY": "yuan", "USD": "dollars", "GBP": "pounds", "EUR": "euros"},
    "zh-CN": {"CNY": "元", "USD": "美元", "GBP": "英镑", "EUR": "欧元"},
}
_MONTHS_EN = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


@dataclasses.dataclass(frozen=True, slots=True)
class MenuState:
    """Where the caller is in the menu, as the query of the URL Twilio posted to says."""

    step: str = "menu"
    amount: int | None = None
    on: dt.date | None = None
    tries: int = 0

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> MenuState:
        """Raises ValueError for a query we never wrote."""
        step = query.get("step", "menu")
        if step not in STEPS:
            raise ValueError(f"unknown step {step[:16]!r}")
        amount = _digits(query.get("amount"), 12)
        on_text = query.get("on")
        on = dt.datetime.strptime(on_text, "%Y%m%d").date() if on_text else None  # noqa: DTZ007
        tries = _digits(query.get("tries"), 2) or 0
        return cls(step, amount, on, tries)

    def query(self) -> dict[str, int | str]:
        values: dict[str, int | str] = {"step": self.step, "tries": self.tries}
        if self.amount is not None:
            values["amount"] = self.amount
        if self.on is not None:
            values["on"] = self.on.strftime("%Y%m%d")
        return values


def _digits(text: str | None, most: int) -> int | None:
    if text is None or text == "":
        return None
    if not (text.isascii() and text.isdigit() and len(text) <= most):
        raise ValueError("expected digits")
    return int(text)


@dataclasses.dataclass(frozen=True, slots=True)
class Turn:
    """What the caller hears next (``say``: a step of the menu template), why an input was
    refused, where the next keys go (None: the call ends), and what to record."""

    say: str
    problem: str = ""
    next: MenuState | None = None
    outcome: Disposition | None = None
    amount: int | None = None
    on: dt.date | None = None


def next_turn(
    state: MenuState, digits: str, *, today: dt.date, owed: Decimal, can_dial: bool
) -> Turn:
    """The menu as a pure function of where the caller is and what they keyed."""

    def again(problem: str) -> Turn:
        if state.tries + 1 >= MAX_TRIES:
            return Turn("goodbye", problem, outcome=Disposition.rpc)
        retry = dataclasses.replace(state, tries=state.tries + 1)
        return Turn(state.step, problem, retry, amount=state.amount, on=state.on)

    if state.step == "menu":
        if digits == "1":
            return Turn("amount", next=MenuState("amount"))
        if digits == "2":
            return Turn("dial" if can_dial else "closed", outcome=Disposition.callback_requested)
        if digits == "3":
            return Turn("paid", outcome=Disposition.claims_paid)
        return again("choice")
    if state.step == "amount":
        if not (digits.isascii() and digits.isdigit() and 0 < len(digits) <= 12) or not int(digits):
            return again("amount_invalid")
        if Decimal(int(digits)) > owed:
            return again("amount_too_large")
        amount = int(digits)
        return Turn("date", next=MenuState("date", amount), amount=amount)
    if state.step == "date" and state.amount is not None:
        if not (digits.isascii() and digits.isdigit() and 0 < len(digits) <= 3):
            return again("date_invalid")
        if int(digits) > MAX_DAYS_AHEAD:
            return again("date_too_far")
        on = today + dt.timedelta(days=int(digits))
        return Turn(
            "confirm", next=MenuState("confirm", state.amount, on), amount=state.amount, on=on
        )
    if state.step == "confirm" and state.amount is not None and state.on is not None:
        if digits == "1":
            # Checked again: the read-back may have been heard before midnight.
            if state.on < today or Decimal(state.amount) > owed:
                return Turn(
                    "date", "date_invalid", MenuState("date", state.amount), amount=state.amount
                )
            return Turn(
                "promised", outcome=Disposition.promise_to_pay, amount=state.amount, on=state.on
            )
        if digits == "2":
            return Turn("amount", next=MenuState("amount"))
        return again("choice")
    return Turn("goodbye")  # a step without what it needs: a URL we never wrote


def _is_machine(answered_by: str | None) -> bool:
    return bool(answered_by) and str(answered_by).startswith(("machine", "fax"))


async def _call(conn: AsyncConnection, outbox_id: int) -> Any:
    return (
        await conn.execute(
            select(
                OutboxMessage.template,
                OutboxMessage.locale,
                OutboxMessage.context,
                OutboxMessage.loan_id,
                Loan.outstanding,
                Loan.principal,
                Loan.currency,
                Borrower.region,
                Borrower.timezone,
                Attempt.id.label("attempt_id"),
            )
            .join(Loan, Loan.id == OutboxMessage.loan_id)
            .join(Borrower, Borrower.id == Loan.borrower_id)
            .outerjoin(Attempt, and_(Attempt.outbox_id == OutboxMessage.id, current()))
            .where(OutboxMessage.id == outbox_id, OutboxMessage.channel == "call")
        )
    ).one_or_none()


async def opening(
    conn: AsyncConnection, settings: Settings, outbox_id: int, answered_by: str | None
) -> str:
    """The call's script when it is answered: the outbox row's voice template with its menu —
    a machine gets the script alone (the limited one where the profile says so), a fax none."""
    call = await _call(conn, outbox_id)
    if call is None or (answered_by or "").startswith("fax"):
        return HANGUP
    template = call.template
    menu_url = webhook_url(settings.public_base_url, "voice_menu", outbox=outbox_id)
    if _is_machine(answered_by):
        menu_url = ""  # a voicemail cannot press keys
        profile = profile_for(settings.compliance_profile, call.region)
        limited = f"{template}_limited"
        if profile.voicemail == "limited" and has_template("voice", limited, call.locale):
            template = limited
    try:
        context = json.loads(call.context or "{}")
        if not isinstance(context, dict):
            raise TypeError("the outbox row's context is not an object")
        variables = voice_context(context, settings.public_base_url, outbox_id)
        variables["menu_url"] = menu_url
        name = f"{locale_for(call.locale)}/{template}.xml"
        return environment("voice").get_template(name).render(variables)
    except (ValueError, TypeError, jinja2.TemplateError):
        # A row we cannot render is ended politely, not a 500 Twilio reads out as an error.
        logger.exception("webhook.voice_unrenderable", outbox_id=outbox_id)
        return HANGUP


def _spoken_date(locale: str, day: dt.date | None) -> str:
    if day is None:
        return ""
    if locale == "zh-CN":
        return f"{day.month}月{day.day}日"
    return f"{day.day} {_MONTHS_EN[day.month - 1]}"


async def answer(
    conn: AsyncConnection,
    settings: Settings,
    now: dt.datetime,
    outbox_id: int,
    state: MenuState,
    digits: str,
) -> str:
    """The next TwiML of the menu for ``digits`` keyed at ``state``; the outcome is recorded
    on the call's attempt in the caller's transaction."""
    call = await _call(conn, outbox_id)
    if call is None:
        return HANGUP
    locale = locale_for(call.locale)
    today = local_today(call.timezone, settings.lender_timezone, now)
    owed = call.outstanding if call.outstanding > 0 else call.principal  # before any COB
    turn = next_turn(
        state, digits, today=today, owed=owed, can_dial=bool(settings.collector_number)
    )
    if call.attempt_id is None:
        logger.warning("webhook.ivr_no_attempt", outbox_id=outbox_id, step=turn.say)
    else:
        # Whoever keys in the menu is the person the script greeted by name.
        await log.record_disposition(
            conn, call.attempt_id, Disposition.rpc, on=today, source="ivr", only_if_none=True
        )
    if turn.outcome is Disposition.promise_to_pay and turn.amount and turn.on:
        await record_ivr_promise(
            conn,
            loan_id=call.loan_id,
            attempt_id=call.attempt_id,
            amount=Decimal(turn.amount),
            promised_on=turn.on,
            made_on=today,
            now=now,
        )
    if turn.outcome not in (None, Disposition.rpc) and call.attempt_id is not None:
        await log.record_disposition(conn, call.attempt_id, turn.outcome, on=today, source="ivr")
    action = ""
    if turn.next is not None:
        action = webhook_url(
            settings.public_base_url, "voice_menu", outbox=outbox_id, **turn.next.query()
        )
    variables = {
        "step": turn.say,
        "problem": turn.problem,
        "action": action,
        "amount": "" if turn.amount is None else str(turn.amount),
        "promised_on": _spoken_date(locale, turn.on),
        "currency": _CURRENCY_WORDS[locale].get(call.currency, call.currency),
        "outstanding": f"{owed:,.2f}",
        "days_max": MAX_DAYS_AHEAD,
        "collector_number": settings.collector_number or "",
        "office_hours": settings.office_hours,
        "lender": settings.lender_name,
    }
    return render_menu(locale, variables)


async def receive_call(
    conn: AsyncConnection, settings: Settings, sid: str, caller: str, at: dt.datetime
) -> str:
    """An inbound call, in the caller's transaction: on the account of whoever has the number
    (a debtor calling in is a right-party contact: it clears 失联), logged once per call sid,
    and answered by connecting a collector (``ARREARS_COLLECTOR_NUMBER``) or with the office
    hours. A caller nobody knows is answered the same and logged nowhere."""
    loan = await account_of_number(conn, caller)
    if loan is not None:
        await log.write_attempts(
            conn,
            [
                log.attempt_row(
                    attempt_ref=f"tw-{sid}",
                    loan_id=loan.id,
                    phone=caller,
                    channel=Channel.call,
                    direction=Direction.inbound,
                    occurred_at=at,
                    result=AttemptResult.conversation,
                    source="inbound",
                    provider_status="in-progress",
                )
            ],
        )
    locale = locale_for(
        loan.locale if loan else ("zh" if settings.compliance_profile == "cn" else "en")
    )
    currency = loan.currency if loan else ""
    return render_menu(
        locale,
        {
            "step": "dial" if settings.collector_number else "closed",
            "problem": None,
            "action": "",
            "amount": "",
            "promised_on": "",
            "currency": _CURRENCY_WORDS[locale].get(currency, currency),
            "outstanding": "",
            "days_max": MAX_DAYS_AHEAD,
            "collector_number": settings.collector_number or "",
            "office_hours": settings.office_hours,
            "lender": settings.lender_name,
        },
    )


def render_menu(locale: str, variables: Mapping[str, Any]) -> str:
    name = f"{locale_for(locale)}/{MENU_TEMPLATE}.xml"
    return environment("voice").get_template(name).render(variables)
