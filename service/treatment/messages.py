"""What we send, rendered: SMS text, call scripts (TwiML) and letters (HTML, and PDF from it).

Templates ship with the package (``templates/{sms,voice,letters}/LOCALE/``, in every locale of
:data:`service.domain.contact.LOCALES`) and are found through the package loader, so an
installed Arrears renders what an editable checkout does. Every template renders under
``StrictUndefined``: a missing variable is an error, never an empty gap in a letter. The SMS
footer is the compliance profile's and is added here, by the sender (:func:`sms_text`), not by
each template; the guard checks the final text for it, so a text without it is blocked.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
from collections.abc import Mapping
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

import jinja2
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from service.clock import lender_today
from service.db.models import Borrower, Loan
from service.domain.contact import LetterKind, locale_for
from service.errors import NotFound, ValidationFailed
from service.settings import Settings

TEMPLATE_PACKAGE = "templates"
# Message kinds and the file suffix of their templates.
SUFFIXES = {"sms": "txt", "voice": "xml", "letters": "html"}
# PDF readers carry these CJK fonts; a letter needs no font file of ours (xhtml2pdf/ReportLab).
FONTS = {"zh-CN": "STSong-Light", "en": "Helvetica"}


@cache
def environment(kind: str) -> jinja2.Environment:
    """The Jinja2 environment of one kind of template (``sms``, ``voice``, ``letters``, ``web``)."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader(TEMPLATE_PACKAGE, kind),
        autoescape=jinja2.select_autoescape(["html", "xml"]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
    )


def has_template(kind: str, template: str, locale: str) -> bool:
    name = f"{template}.{SUFFIXES[kind]}"
    return resources.files(TEMPLATE_PACKAGE).joinpath(kind, locale_for(locale), name).is_file()


def message_variables(
    *,
    lender: str,
    name: str,
    loan_ref: str,
    dpd: int,
    currency: str,
    overdue_amount: Decimal,
    due_on: dt.date | None = None,
    amount_due: Decimal | None = None,
    promise_on: dt.date | None = None,
    promise_amount: Decimal | None = None,
    promise_paid: Decimal | None = None,
) -> dict[str, Any]:
    """The variables an SMS or call script is rendered with: the planner's for its steps, and a
    collector's text from the account page — the same words for the same account."""
    promised = promise_on is not None and promise_amount is not None
    amount = promise_amount if promise_amount is not None else Decimal(0)
    paid = promise_paid if promise_paid is not None else Decimal(0)
    return {
        "lender": lender,
        "name": name,
        "loan_tail": loan_ref[-4:],
        "due_on": due_on.isoformat() if due_on else "",
        "amount_due": f"{amount_due:.2f}" if amount_due is not None else "",
        "currency": currency,
        "dpd": dpd,
        "overdue_amount": f"{overdue_amount:.2f}",
        # The promise a reminder or a follow-up speaks of ("" when there is none).
        "promise_on": promise_on.isoformat() if promise_on is not None and promised else "",
        "promise_amount": f"{amount:.2f}" if promised else "",
        "promise_paid": f"{paid:.2f}" if promised else "",
        "promise_left": f"{max(amount - paid, Decimal(0)):.2f}" if promised else "",
    }


def render_sms(template: str, locale: str, context: Mapping[str, Any]) -> str:
    return environment("sms").get_template(f"{locale_for(locale)}/{template}.txt").render(context)


def sms_text(template: str, locale: str, context: Mapping[str, Any], footer: str) -> str:
    """The SMS as it leaves: the template's text and the profile's opt-out footer after it
    (a Chinese text runs on; a Latin one takes a space)."""
    body = render_sms(template, locale, context).strip()
    if not footer:
        return body
    joiner = "" if locale_for(locale) == "zh-CN" else " "
    return f"{body}{joiner}{footer}"


# Where Twilio reaches us (service.web.webhooks); absolute URLs start at the public base URL,
# and are what Twilio signs, so they are built in this one place.
WEBHOOK_PATHS = {
    "status": "/webhooks/twilio/status",
    "sms": "/webhooks/twilio/sms",
    "voice": "/webhooks/twilio/voice",
    "voice_menu": "/webhooks/twilio/voice/menu",
    "voice_inbound": "/webhooks/twilio/voice/inbound",
    # Click-to-call: the script of the collector's leg, and the end of the leg it dials.
    "bridge": "/webhooks/twilio/bridge",
    "bridge_dialed": "/webhooks/twilio/bridge/dialed",
}


def voice_context(
    context: Mapping[str, Any], public_base_url: str, outbox_id: int
) -> dict[str, Any]:
    """A call script's variables: the message's, and where its keypad menu posts to."""
    return {**context, "menu_url": webhook_url(public_base_url, "voice_menu", outbox=outbox_id)}


def webhook_url(public_base_url: str, name: str, **query: int | str) -> str:
    """The absolute URL of one of our webhooks, e.g. the status callback of outbox row 7."""
    url = public_base_url.rstrip("/") + WEBHOOK_PATHS[name]
    if query:
        url += "?" + "&".join(f"{key}={value}" for key, value in sorted(query.items()))
    return url


def render_voice(template: str, locale: str, context: Mapping[str, Any]) -> str:
    name = f"{locale_for(locale)}/{template}.xml"
    return environment("voice").get_template(name).render(context)


def render_letter(template: str, locale: str, context: Mapping[str, Any]) -> str:
    chosen = locale_for(locale)
    page = environment("letters").get_template(f"{chosen}/{template}.html")
    return page.render({**context, "locale": chosen, "font": FONTS[chosen]})


def letter_pdf(html: str) -> bytes:
    """The letter as PDF (A4). Raises ValueError when the HTML cannot be laid out."""
    from xhtml2pdf import pisa  # ReportLab is heavy to import; only letters as PDF need it

    out = io.BytesIO()
    status = pisa.CreatePDF(html, dest=out, encoding="utf-8")
    if status.err:
        raise ValueError(f"the letter could not be rendered as PDF ({status.err} errors)")
    return out.getvalue()


# --- letters of one loan -------------------------------------------------------------------------


# What :func:`letter_variables` reads of a loan and its borrower (the letter API and the
# dispatcher, which renders a letter when it is released for print, select these).
LETTER_COLUMNS = (
    Loan.loan_ref,
    Loan.currency,
    Loan.principal,
    Loan.disbursed_on,
    Loan.maturity_on,
    Loan.outstanding,
    Loan.overdue_amount,
    Loan.penalty_unpaid,
    Loan.days_past_due,
    Borrower.name,
    Borrower.address,
)


async def letter_context(
    conn: AsyncConnection, settings: Settings, loan_ref: str, as_of: dt.date | None = None
) -> tuple[str, dict[str, Any]]:
    """(the borrower's locale, the template's variables) for one loan, with its position from
    the last close of business."""
    row = (
        await conn.execute(
            select(*LETTER_COLUMNS, Borrower.locale)
            .join(Borrower, Borrower.id == Loan.borrower_id)
            .where(Loan.loan_ref == loan_ref)
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"loan {loan_ref!r} not found")
    issued = as_of or lender_today(settings.lender_timezone)
    return row.locale, letter_variables(row, settings.lender_name, issued)


def letter_variables(loan: Any, lender: str, issued: dt.date) -> dict[str, Any]:
    """A letter's variables from a loan row (its position and borrower), amounts written out."""
    return {
        "lender": lender,
        "name": loan.name,
        "address": loan.address,
        "loan_ref": loan.loan_ref,
        "currency": loan.currency,
        "principal": f"{loan.principal:,.2f}",
        "disbursed_on": loan.disbursed_on.isoformat(),
        "maturity_on": loan.maturity_on.isoformat(),
        "outstanding": f"{loan.outstanding:,.2f}",
        "overdue_amount": f"{loan.overdue_amount:,.2f}",
        "penalty": f"{loan.penalty_unpaid:,.2f}",
        "dpd": loan.days_past_due,
        "issued_on": issued.isoformat(),
    }


async def letter_for(
    conn: AsyncConnection,
    settings: Settings,
    loan_ref: str,
    kind: str,
    as_of: dt.date | None = None,
    fmt: str = "html",
) -> tuple[str, bytes | None]:
    """The due notice (贷款到期通知书) or overdue notice (逾期通知书) of one loan as HTML, and as
    PDF when ``fmt`` is "pdf"."""
    try:
        LetterKind(kind)
    except ValueError:
        raise ValidationFailed(f"kind must be one of {', '.join(LetterKind)}") from None
    locale, context = await letter_context(conn, settings, loan_ref, as_of)
    html = render_letter(kind, locale, context)
    pdf = await asyncio.to_thread(letter_pdf, html) if fmt == "pdf" else None
    return html, pdf
