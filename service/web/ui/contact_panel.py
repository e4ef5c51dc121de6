"""The contact panel of an account: each number with its live compliance state, a text from a
template (previewed with the guard's verdict before it is sent), and click-to-call.

The account page includes :func:`contact_panel`; ``GET /accounts/{ref}/contact`` serves the
panel alone (a phone's screen, and the page the panel's forms answer with). Everything goes
through the services the API uses (service.contact.reach, .texting, .bridge), with the
collector's visibility: an account outside their queues is 404 on every route.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from markupsafe import Markup, escape
from sqlalchemy import select

from service.auth import CurrentUser
from service.clock import lender_today
from service.contact import bridge, texting
from service.contact.channels import bridges_calls
from service.contact.reach import ContactRefused, reach
from service.db.models import User
from service.errors import ArrearsError, NotFound, ValidationFailed
from service.portfolio.visibility import loan_visible
from service.web.keys import CLOCK, ENGINE, SETTINGS
from service.web.ui.contact_states import rows, said, template_name
from service.web.ui.framework import COLLECTING, Form, Pages, see_other
from service.web.ui.i18n import gettext as _
from service.web.ui.labels import reason_names
from service.web.ui.render import render, render_fragment
from service.web.ui.session import safe_next

pages = Pages("contact")

PANEL = "account/_contact.html"
PAGE = "account/contact.html"
REF_MOST = 64
# What a form's redirect tells the panel (?contact=…), and how the panel says it.
NOTICES = ("sms_queued", "call_ringing")
# The telephony provider's name, a name in every language.
PROVIDER = Markup('<span translate="no">Twilio</span>')


def _ref(request: web.Request) -> str:
    ref = request.match_info["ref"]
    if len(ref) > REF_MOST:
        raise NotFound("no such account")
    return ref


def _form_key() -> str:
    """A fresh key for a form: the same form posted twice is the same text or call."""
    return secrets.token_urlsafe(12)


def _notice(request: web.Request) -> str | None:
    chosen = request.query.get("contact")
    if chosen == "sms_queued":
        return _("The text is on its way: the guard checks it again as it leaves.")
    if chosen == "call_ringing":
        return _("Your phone is ringing: answer it, and you are connected to the number.")
    return None


async def _context(
    request: web.Request,
    user: CurrentUser,
    loan_ref: str,
    *,
    back: str | None = None,
    preview: texting.Preview | None = None,
    key: str | None = None,
    error: str | Markup | None = None,
    error_link: bool = False,
    chosen: dict[str, str] | None = None,
) -> dict[str, Any]:
    settings = request.app[SETTINGS]
    now = request.app[CLOCK].now()
    async with request.app[ENGINE].connect() as conn:
        found = await reach(conn, settings, loan_visible(user), loan_ref, now)
        words = await texting.words(
            conn, settings, found.loan_id, lender_today(settings.lender_timezone, now)
        )
        own_phone = await conn.scalar(select(User.phone).where(User.id == user.id))
    numbers = rows(found)
    first_call = next(
        (row for row in numbers if row.state.party == "debtor" and row.call.allowed), None
    )
    return {
        "loan_ref": found.loan_ref,
        "numbers": numbers,
        "first_call": first_call,
        "debtor_zone": found.zone,
        "templates": [(name, template_name(name)) for name in words.templates],
        "sms_numbers": [row for row in numbers if row.state.party == "debtor" and row.state.valid],
        "preview": preview,
        "preview_said": said(preview.decision, found.zone, now) if preview else None,
        "preview_template": template_name(preview.template) if preview else None,
        "key": key or _form_key(),
        "call_key": _form_key(),
        "bridges": bridges_calls(settings),
        "provider": PROVIDER,
        "has_phone": bool(own_phone),
        "back": back or request.path,
        "notice": _notice(request),
        "error": error,
        "error_link": error_link,
        "chosen": chosen or {},
    }


async def contact_panel(
    request: web.Request, user: CurrentUser, loan_ref: str, **options: Any
) -> Markup:
    """The panel as a page includes it (``{{ contact_panel }}``): a ``<section>`` with its
    heading. NotFound when the user may not see the account."""
    context = await _context(request, user, loan_ref, **options)
    return render_fragment(request, PANEL, **context)


async def _page(
    request: web.Request, user: CurrentUser, loan_ref: str, status: int = 200, **options: Any
) -> web.Response:
    panel = await contact_panel(request, user, loan_ref, **options)
    return render(request, PAGE, status=status, loan_ref=loan_ref, panel=panel)


@pages.get("/accounts/{ref}/contact", roles=COLLECTING)
async def contact_page(request: web.Request, user: CurrentUser) -> web.StreamResponse:
    """The panel on a page of its own; with ``partial=1``, the panel alone, as the account page
    loads it into its place (its forms then return to the account page)."""
    loan_ref = _ref(request)
    if request.query.get("partial") == "1":
        panel = await contact_panel(request, user, loan_ref, back=f"/accounts/{loan_ref}")
        return web.Response(text=str(panel), content_type="text/html")
    return await _page(request, user, loan_ref)


def _back(form: Form, loan_ref: str) -> str:
    """Where a form returns: the page that showed the panel (a local path), else the panel."""
    target = safe_next(str(form.get("next", "")))
    if target == "/":
        return f"/accounts/{loan_ref}/contact"
    return target


def _after(target: str, notice: str) -> str:
    parts = urlsplit(target)
    joiner = "&" if parts.query else "?"
    return f"{parts.path}{'?' + parts.query if parts.query else ''}{joiner}contact={notice}#contact"


def _text(form: Form, name: str, most: int = 64) -> str:
    value = str(form.get(name, "")).strip()
    if len(value) > most:
        raise ValidationFailed(f"{name} is too long", details=[{"field": name}])
    return value


@pages.post("/accounts/{ref}/sms/preview", roles=COLLECTING)
async def sms_preview(request: web.Request, user: CurrentUser, form: Form) -> web.StreamResponse:
    loan_ref = _ref(request)
    back = _back(form, loan_ref)
    chosen = {"template": _text(form, "template"), "phone": _text(form, "phone", 20)}
    key = _text(form, "key") or _form_key()
    async with request.app[ENGINE].connect() as conn:
        try:
            preview = await texting.preview_sms(
                conn,
                request.app[SETTINGS],
                loan_visible(user),
                loan_ref=loan_ref,
                template=chosen["template"],
                phone=chosen["phone"] or None,
                at=request.app[CLOCK].now(),
            )
        except ValidationFailed:
            return await _page(
                request, user, loan_ref, status=422, back=back, chosen=chosen,
                error=_("Choose a template and one of the debtor's valid numbers."),
            )  # fmt: skip
    return await _page(request, user, loan_ref, back=back, preview=preview, key=key, chosen=chosen)


@pages.post("/accounts/{ref}/sms", roles=COLLECTING)
async def sms_send(request: web.Request, user: CurrentUser, form: Form) -> web.StreamResponse:
    loan_ref = _ref(request)
    back = _back(form, loan_ref)
    chosen = {"template": _text(form, "template"), "phone": _text(form, "phone", 20)}
    key = _text(form, "key")
    settings = request.app[SETTINGS]
    async with request.app[ENGINE].begin() as conn:
        try:
            sent = await texting.send_sms(
                conn,
                settings,
                loan_visible(user),
                loan_ref=loan_ref,
                template=chosen["template"],
                phone=chosen["phone"] or None,
                key=key,
                at=request.app[CLOCK].now(),
                collector_id=user.id,
                actor=user.username,
            )
        except ValidationFailed:  # the account was found (seen by this user) before this
            sent = None
    if sent is None:
        return await _page(
            request, user, loan_ref, status=422, back=back, chosen=chosen,
            error=_("Choose a template and one of the debtor's valid numbers."),
        )  # fmt: skip
    if sent.outbox_id is None:
        why = reason_names(sent.preview.decision.reasons)
        return await _page(
            request, user, loan_ref, status=409, back=back, preview=sent.preview, chosen=chosen,
            error=_("Not sent: the guard does not allow this text now (%(why)s).", why=why),
        )  # fmt: skip
    raise see_other(_after(back, "sms_queued"))


@pages.post("/accounts/{ref}/call", roles=COLLECTING)
async def call(request: web.Request, user: CurrentUser, form: Form) -> web.StreamResponse:
    loan_ref = _ref(request)
    back = _back(form, loan_ref)
    party = _text(form, "party") or "debtor"
    phone = _text(form, "phone", 20) or None
    try:
        started = await bridge.start_call(
            request.app[ENGINE],
            request.app[SETTINGS],
            loan_visible(user),
            loan_ref=loan_ref,
            party=party,
            phone=phone,
            key=_text(form, "key") or None,
            at=request.app[CLOCK].now(),
            collector_id=user.id,
            actor=user.username,
        )
    except NotFound:
        raise
    except ArrearsError as exc:
        error, link = _call_refusal(exc)
        return await _page(request, user, loan_ref, status=409, back=back, error=error,
                           error_link=link)  # fmt: skip
    # The account page's outcome form then writes what the call produced on this call's
    # attempt (``call=cc-…``) instead of logging a second one.
    ringing = _after(back, "call_ringing")
    path, _sep, fragment = ringing.partition("#")
    raise see_other(f"{path}&call={bridge.attempt_ref(started.call_id)}#{fragment}")


def _call_refusal(exc: ArrearsError) -> tuple[str | Markup, bool]:
    """What the collector reads when a call does not start, and whether to link to /me."""
    if isinstance(exc, bridge.CallsNeedTwilio):
        said = _(
            "Calls need %(provider)s: this installation sends through the console channel, "
            "which rings no phone. Nothing was dialled."
        )
        return escape(said) % {"provider": PROVIDER}, False
    if isinstance(exc, bridge.NoPhoneOfYourOwn):
        return _("Click-to-call rings your own phone first, and you have none on file."), True
    if isinstance(exc, ContactRefused):
        why = reason_names(exc.decision.reasons)
        return _("Not called: the guard does not allow this call now (%(why)s).", why=why), False
    if isinstance(exc, ValidationFailed):
        return _("That is not one of this account's numbers you may call."), False
    return _("The call could not be placed. Try again in a moment."), False
