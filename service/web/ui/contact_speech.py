"""What the collector hears on a click-to-call leg, in their page language: TwiML built with the
Twilio SDK's ``VoiceResponse`` from :class:`service.contact.bridge.Script` (the words come from
the pages' catalogs: the collector is a user of the pages, not a debtor)."""

from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse

from service.contact.bridge import Script
from service.web.ui import i18n
from service.web.ui.i18n import gettext as _
from service.web.ui.labels import reason_names

# Text-to-speech voices' language codes for the pages' languages.
SPEECH = {"en": "en-US", "zh-CN": "zh-CN"}


def bridge_twiml(script: Script) -> str:
    """The collector's leg: a word, then the dial — or why the call cannot go, then hang up."""
    token = i18n.activate(script.locale or i18n.DEFAULT_LOCALE)
    try:
        language = SPEECH[i18n.current_locale()]
        response = VoiceResponse()
        if script.dial is None:
            if script.refused in (("unknown_call",), ("already_dialled",)):
                response.hangup()
                return str(response)
            why = reason_names(script.refused)
            response.say(_("This call cannot be made now: %(why)s.", why=why), language=language)
            response.hangup()
            return str(response)
        response.say(_("Connecting you now."), language=language)
        dial = response.dial(
            caller_id=script.caller_id,
            action=script.action,
            method="POST",
            timeout=script.timeout,
            answer_on_bridge=True,
        )
        dial.number(script.dial)
        return str(response)
    finally:
        i18n.deactivate(token)


def hangup_twiml() -> str:
    response = VoiceResponse()
    response.hangup()
    return str(response)
