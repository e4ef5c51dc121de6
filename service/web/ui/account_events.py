"""The audit trail's actions about an account, as the account's timeline names them (the
names registered in :mod:`service.web.ui.labels`)."""

from __future__ import annotations

import enum
from typing import Any

from babel.support import LazyProxy

from service.web.ui.i18n import lazy_gettext as _l


class AccountEvent(enum.StrEnum):
    """The audit trail's actions about an account (``audit_events.action`` of a loan), as its
    timeline names them. An action not here shows as its code."""

    attempt_logged = "attempt.logged"
    attempt_corrected = "attempt.corrected"
    call_bridge_started = "call.bridge_started"
    sms_sent_by_collector = "sms.sent_by_collector"
    promise_pending = "promise.pending"
    promise_proposed = "promise.proposed"
    promise_confirmed = "promise.confirmed"
    promise_rejected = "promise.rejected"
    promise_kept = "promise.kept"
    promise_partially_kept = "promise.partially_kept"
    promise_broken = "promise.broken"
    promise_cancelled = "promise.cancelled"
    arrangement_proposed = "arrangement.proposed"
    arrangement_agreed = "arrangement.agreed"
    arrangement_approved = "arrangement.approved"
    arrangement_rejected = "arrangement.rejected"
    arrangement_kept = "arrangement.kept"
    arrangement_defaulted = "arrangement.defaulted"
    callback_scheduled = "callback.scheduled"
    callback_done = "callback.done"
    callback_cancelled = "callback.cancelled"
    payment_recorded = "payment.recorded"
    loan_reassigned = "loan.reassigned"
    loan_extension = "loan.extension"
    loan_restructuring = "loan.restructuring"
    task_closed = "task.closed"
    task_photo_added = "task.photo_added"
    inspection_recorded = "inspection.recorded"
    inspection_risk_found = "inspection.risk_found"
    inspection_scheduled = "inspection.scheduled"
    inspection_sooner = "inspection.sooner"
    inspection_reassigned = "inspection.reassigned"
    inspection_cancelled = "inspection.cancelled"
    loan_lost_contact = "loan.lost_contact"
    loan_contact_regained = "loan.contact_regained"
    placement_created = "placement.created"
    placement_recalled = "placement.recalled"
    write_off_proposed = "write_off.proposed"
    write_off_approved = "write_off.approved"
    write_off_rejected = "write_off.rejected"
    write_off_withdrawn = "write_off.withdrawn"


ACCOUNT_EVENTS: dict[Any, LazyProxy] = {
    AccountEvent.attempt_logged: _l("Contact logged"),
    AccountEvent.attempt_corrected: _l("Contact record corrected"),
    AccountEvent.call_bridge_started: _l("Click-to-call started"),
    AccountEvent.sms_sent_by_collector: _l("Text sent by a collector"),
    AccountEvent.promise_pending: _l("Promise to pay recorded"),
    AccountEvent.promise_proposed: _l("Promise proposed by a reply"),
    AccountEvent.promise_confirmed: _l("Proposed promise confirmed"),
    AccountEvent.promise_rejected: _l("Proposed promise rejected"),
    AccountEvent.promise_kept: _l("Promise kept"),
    AccountEvent.promise_partially_kept: _l("Promise partly kept"),
    AccountEvent.promise_broken: _l("Promise broken"),
    AccountEvent.promise_cancelled: _l("Promise cancelled"),
    AccountEvent.arrangement_proposed: _l("Arrangement proposed for approval"),
    AccountEvent.arrangement_agreed: _l("Arrangement agreed"),
    AccountEvent.arrangement_approved: _l("Arrangement approved"),
    AccountEvent.arrangement_rejected: _l("Arrangement rejected"),
    AccountEvent.arrangement_kept: _l("Arrangement kept"),
    AccountEvent.arrangement_defaulted: _l("Arrangement defaulted"),
    AccountEvent.callback_scheduled: _l("Callback scheduled"),
    AccountEvent.callback_done: _l("Callback done"),
    AccountEvent.callback_cancelled: _l("Callback cancelled"),
    AccountEvent.payment_recorded: _l("Payment recorded"),
    AccountEvent.loan_reassigned: _l("Account reassigned"),
    AccountEvent.loan_extension: _l("Loan extended"),
    AccountEvent.loan_restructuring: _l("Loan restructured"),
    AccountEvent.task_closed: _l("Task closed"),
    AccountEvent.task_photo_added: _l("Visit photo added"),
    AccountEvent.inspection_recorded: _l("Inspection recorded"),
    AccountEvent.inspection_risk_found: _l("Risk found at an inspection"),
    AccountEvent.inspection_scheduled: _l("Inspection scheduled"),
    AccountEvent.inspection_sooner: _l("Inspection brought forward"),
    AccountEvent.inspection_reassigned: _l("Inspection reassigned"),
    AccountEvent.inspection_cancelled: _l("Inspection called off"),
    AccountEvent.loan_lost_contact: _l("Marked lost contact"),
    AccountEvent.loan_contact_regained: _l("Contact regained"),
    AccountEvent.placement_created: _l("Placed with an agency"),
    AccountEvent.placement_recalled: _l("Recalled from the agency"),
    AccountEvent.write_off_proposed: _l("Write-off proposed"),
    AccountEvent.write_off_approved: _l("Write-off approved"),
    AccountEvent.write_off_rejected: _l("Write-off rejected"),
    AccountEvent.write_off_withdrawn: _l("Write-off withdrawn"),
}
