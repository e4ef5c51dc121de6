"""The contact log's closed vocabularies: channels, directions, results, dispositions, letters and
the locales Arrears writes to debtors in. Defined here once; the import contract, the models,
the guard and the templates all read them from here."""

from __future__ import annotations

import enum

from service.domain.compliance import HoldKind


class Channel(enum.StrEnum):
    """How an attempt reached (or tried to reach) a person."""

    call = "call"
    sms = "sms"
    letter = "letter"  # a notice rendered from a template, handed to print and post
    visit = "visit"  # a field visit (外访): a collector at the debtor's address


# The media a phone number is reached by: what an opt-out, a consent or a guard check covers.
PHONE_CHANNELS = (Channel.call, Channel.sms)


class Direction(enum.StrEnum):
    outbound = "outbound"
    inbound = "inbound"


class AttemptResult(enum.StrEnum):
    """An attempt's technical result (DESIGN.md §1, ``attempts.csv``)."""

    busy = "busy"
    not_in_service = "not_in_service"
    no_answer = "no_answer"
    voicemail = "voicemail"
    conversation = "conversation"
    wrong_number = "wrong_number"
    delivered = "delivered"
    failed = "failed"
    # Sent by Arrears, the outcome not yet reported by the provider (a status callback ends it).
    pending = "pending"
    sent = "sent"  # a letter handed to print and post: no delivery report comes back
    wrong_address = "wrong_address"  # a field visit found the address wrong, or the debtor moved


class Disposition(enum.StrEnum):
    """What a connected contact produced (DESIGN.md §1)."""

    rpc = "rpc"  # right-party contact
    wrong_party = "wrong_party"
    third_party = "third_party"
    promise_to_pay = "promise_to_pay"
    refused = "refused"
    dispute = "dispute"
    claims_paid = "claims_paid"
    callback_requested = "callback_requested"
    deceased = "deceased"
    bankruptcy = "bankruptcy"
    cease_request = "cease_request"
    wrong_number = "wrong_number"


class ContactReason(enum.StrEnum):
    """Why a contact does not go, besides the guard's own reasons
    (:class:`service.domain.compliance.Reason`): the number itself, and what dispatch finds of
    the account right before it sends."""

    number_invalid = "number_invalid"  # not one of the party's valid numbers (invalid, or gone)
    loan_closed = "loan_closed"
    paid_since_planned = "paid_since_planned"
    template_error = "template_error"


NUMBER_INVALID = ContactReason.number_invalid.value


class OptOutSource(enum.StrEnum):
    """How an opt-out reached the lender or us (``opt_outs.csv``)."""

    keyword = "keyword"  # a reply such as STOP or 退订
    written = "written"
    verbal = "verbal"
    provider = "provider"  # the carrier or Twilio refused the number (error 21610)


class OptOutChannel(enum.StrEnum):
    """What an opt-out covers: one medium, or both (stored as one row per medium)."""

    sms = "sms"
    call = "call"
    all = "all"


# Dispositions that put a hold on the account, the hold they put, and whether it covers the one
# debt the contact was about or every loan of the debtor (DESIGN.md §5). ``refused`` (a third
# party's) blocks that person instead. A later disposition never lifts any of these.
DISPOSITION_HOLDS: dict[Disposition, tuple[HoldKind, bool]] = {
    Disposition.dispute: (HoldKind.dispute, False),
    Disposition.deceased: (HoldKind.deceased, True),
    Disposition.bankruptcy: (HoldKind.bankruptcy, True),
    Disposition.cease_request: (HoldKind.cease_in_writing, True),
}


class PromiseSource(enum.StrEnum):
    """Where a promise to pay was taken."""

    collector = "collector"
    ivr = "ivr"  # keyed in on a call's menu, read back and confirmed
    sms = "sms"  # read from a reply: proposed until a collector confirms it
    visit = "visit"  # made to a field collector on a visit
    arrangement = "arrangement"  # an instalment of a payment plan or a settlement
    import_ = "import"


class LetterKind(enum.StrEnum):
    """Letters rendered from templates: 贷款到期通知书 and 逾期通知书 (DESIGN.md §2)."""

    due_notice = "due_notice"
    overdue_notice = "overdue_notice"


# Every message template and page exists in each of these.
LOCALES = ("zh-CN", "en")


def locale_for(locale: str | None) -> str:
    """The template locale for a borrower's locale: zh-* → zh-CN, anything else → en."""
    return "zh-CN" if (locale or "").lower().startswith("zh") else "en"
