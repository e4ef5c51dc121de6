"""Every webhook's door: the request must be a form Twilio signed for the URL it was given.

Twilio signs the absolute URL it requested — ours, ``ARREARS_PUBLIC_BASE_URL`` plus the path
and query exactly as received — followed by the POST parameters, with the account's Auth Token
(or a SharedKey's secret, when a Webhook Setting says so in
``X-Twilio-Webhooks-Signature-Settings``). The SDK's :class:`RequestValidator` checks it. A
request that fails is answered 403 with a short text and logged ``webhook.forbidden``; one
that is not a form at all, 400. Never a 500: Twilio would retry it.
"""

from __future__ import annotations

import structlog
from aiohttp import web
from multidict import MultiDict, MultiDictProxy
from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)

from service.web.keys import SETTINGS

logger = structlog.get_logger(__name__)

FORM = "application/x-www-form-urlencoded"


class Refused(Exception):
    """The webhook is not served: ``status`` and a short text for the answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason

    def response(self) -> web.Response:
        return web.Response(status=self.status, text=self.reason)


def public_url(base: str, request: web.Request) -> str:
    """The URL Twilio requested: the public base, and the path and query as received (still
    percent-encoded, as Twilio signed them)."""
    return base.rstrip("/") + request.raw_path


def _forbidden(request: web.Request, reason: str, sender: str | None = None) -> Refused:
    logger.warning("webhook.forbidden", reason=reason, path=request.path, from_=sender)
    return Refused(403, f"forbidden: {reason}")


async def signed_form(request: web.Request) -> MultiDictProxy[str]:
    """The POST form of a request Twilio signed, or :class:`Refused`."""
    settings = request.app[SETTINGS]
    signature = request.headers.get(SIGNATURE_HEADER, "")
    scheme = request.headers.get(SIGNATURE_SETTINGS_HEADER)
    secret = settings.twilio_webhook_shared_key if scheme else settings.twilio_auth_token
    if not secret:
        raise _forbidden(request, "no signing secret is configured for Twilio webhooks")
    if not signature:
        raise _forbidden(request, "X-Twilio-Signature is missing")
    if request.content_type != FORM:
        raise Refused(400, f"send the webhook as {FORM}")
    try:
        posted = await request.post()  # bounded by the app's client_max_size
    except web.HTTPRequestEntityTooLarge:
        raise Refused(400, "request body too large") from None
    except ValueError:  # undecodable form (UnicodeDecodeError is one)
        raise Refused(400, "the form could not be read") from None
    # A urlencoded form holds only text (files come only with multipart, refused above).
    form = MultiDictProxy(MultiDict((k, v) for k, v in posted.items() if isinstance(v, str)))
    algorithm = get_signature_algorithm(scheme)
    url = public_url(settings.public_base_url, request)
    if not RequestValidator(secret).validate(url, form, signature, algorithm):
        raise _forbidden(request, "the signature does not match", form.get("From"))
    return form


def field(form: MultiDictProxy[str], *names: str, most: int = 64) -> str:
    """The first of ``names`` the form carries (Twilio names some twice: MessageSid/SmsSid),
    or :class:`Refused` (400) when none is there or it is too long for what it is."""
    for name in names:
        value = form.get(name)
        if value is not None and value.strip():
            if len(value) > most:
                raise Refused(400, f"{name} is too long")
            return value.strip()
    raise Refused(400, f"{' or '.join(names)} is missing")


def query_id(request: web.Request, name: str = "outbox") -> int:
    text = request.query.get(name, "")
    if not (text.isascii() and text.isdigit() and len(text) <= 18):
        raise Refused(400, f"?{name}= must be a row id")
    return int(text)
