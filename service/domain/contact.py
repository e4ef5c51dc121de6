"""The contact log's closed vocabularies: channels, directions, results, dispositions, letters and
the locales Arrears writes to debtors in. Defined here once; the import contract, the models,
the guard and the templates all read them from here."""

from __future__ import annotations

import enum


class Channel(enum.StrEnum):
    """How an attempt reached (or tried to reach) a person."""

    call = "call"
    sms = "sms"


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


class LetterKind(enum.StrEnum):
    """Letters rendered from templates: 贷款到期通知书 and 逾期通知书 (DESIGN.md §2)."""

    due_notice = "due_notice"
    overdue_notice = "overdue_notice"


# Every message template and page exists in each of these.
LOCALES = ("zh-CN", "en")


def locale_for(locale: str | None) -> str:
    """The template locale for a borrower's locale: zh-* → zh-CN, anything else → en."""
    return "zh-CN" if (locale or "").lower().startswith("zh") else "en"
