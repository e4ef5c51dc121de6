"""How the pages name the members of a closed list (classification, roles, …): one table per
list, msgids in English, translated by the catalogs. The lists themselves are defined once, in
service.domain and the models; these are only their names on a page."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any

from babel.support import LazyProxy

from service.contact.timeline import KINDS as TIMELINE_KINDS
from service.db.models import (
    CallbackStatus,
    ImportStatus,
    JobKind,
    JobState,
    LoanStatus,
    PhoneKind,
    PhoneStatus,
    PromiseStatus,
    Role,
)
from service.domain.agencies import RecallReason
from service.domain.arrangements import ApprovalLevel, ArrangementKind, ArrangementStatus
from service.domain.casework import LegalOutcome, TaskKind, TaskStatus, VisitOutcome
from service.domain.compliance import HoldKind, Reason, TimezoneSource, Verdict
from service.domain.contact import (
    AttemptResult,
    Channel,
    ContactReason,
    Direction,
    Disposition,
    PromiseSource,
)
from service.domain.delinquency import RiskClass
from service.domain.inspections import (
    InspectionFinding,
    InspectionKind,
    InspectionMethod,
    InspectionOutcome,
    RiskSignal,
)
from service.domain.outbox import OutboxStatus
from service.domain.queues import QueueKind
from service.domain.write_offs import WriteOffStatus
from service.portfolio.dashboard import GROUPINGS
from service.settings import PRIORITIES
from service.web.ui.account_events import ACCOUNT_EVENTS, AccountEvent
from service.web.ui.i18n import lazy_gettext as _l

# Lists kept as plain strings where they are defined, made enums here to be named like the rest
# (mypy cannot see members made from a list; the names below are looked up by value).
TimelineKind = enum.StrEnum("TimelineKind", [(kind, kind) for kind in TIMELINE_KINDS])  # type: ignore[misc]
NextReason = enum.StrEnum("NextReason", [(reason, reason) for reason in PRIORITIES])  # type: ignore[misc]


LABELS: dict[type[enum.Enum], dict[Any, LazyProxy]] = {
    # 五级分类: the UI shows 正常/关注/次级/可疑/损失 in Chinese (DESIGN §5).
    RiskClass: {
        RiskClass.normal: _l("Normal"),
        RiskClass.special_mention: _l("Special mention"),
        RiskClass.substandard: _l("Substandard"),
        RiskClass.doubtful: _l("Doubtful"),
        RiskClass.loss: _l("Loss"),
    },
    Role: {
        Role.collector: _l("Collector"),
        Role.supervisor: _l("Supervisor"),
        Role.admin: _l("Administrator"),
    },
    # Casework (外访, 委外, 法律清收, 核销, 贷后检查): docs/escalations.md.
    TaskKind: {
        TaskKind.field_visit: _l("Field visit"),
        TaskKind.agency_placement: _l("Agency placement"),
        TaskKind.legal_review: _l("Legal review"),
        TaskKind.write_off_proposal: _l("Write-off proposal"),
        TaskKind.inspection: _l("Post-loan inspection"),
    },
    TaskStatus: {
        TaskStatus.open: _l("To do"),
        TaskStatus.done: _l("Done"),
        TaskStatus.failed: _l("Unsuccessful"),
        TaskStatus.cancelled: _l("Called off"),
    },
    VisitOutcome: {
        VisitOutcome.met_debtor: _l("Met the debtor, no promise"),
        VisitOutcome.promise: _l("The debtor promised to pay"),
        VisitOutcome.refused: _l("The debtor refused to pay"),
        VisitOutcome.not_at_home: _l("Nobody at the address"),
        VisitOutcome.address_wrong: _l("Wrong address"),
        VisitOutcome.moved: _l("The debtor has moved"),
    },
    LegalOutcome: {
        LegalOutcome.file_suit: _l("File suit"),
        LegalOutcome.negotiate: _l("Keep negotiating repayment"),
        LegalOutcome.not_viable: _l("A suit is not viable"),
        LegalOutcome.refer_write_off: _l("Refer to write-off"),
    },
    InspectionKind: {
        InspectionKind.first: _l("First inspection"),
        InspectionKind.periodic: _l("Periodic inspection"),
        InspectionKind.risk: _l("Risk inspection"),
    },
    InspectionMethod: {
        InspectionMethod.on_site: _l("On site"),
        InspectionMethod.off_site: _l("Off site"),
    },
    InspectionOutcome: {
        InspectionOutcome.normal: _l("Normal, nothing found"),
        InspectionOutcome.risk_found: _l("Risk found"),
    },
    InspectionFinding: {
        InspectionFinding.funds_misused: _l("Funds used otherwise than applied for"),
        InspectionFinding.conditions_unmet: _l("Conditions of the approval not met"),
        InspectionFinding.business_deteriorated: _l("Business or finances deteriorated"),
        InspectionFinding.collateral_impaired: _l("Collateral impaired or short of value"),
        InspectionFinding.guarantor_weakened: _l("Guarantor less able to pay"),
        InspectionFinding.other_debts_overdue: _l("Overdue at other lenders"),
        InspectionFinding.personal_circumstances: _l("Major change in personal circumstances"),
        InspectionFinding.unlawful_conduct: _l("Gambling, drugs or other unlawful conduct"),
        InspectionFinding.litigation: _l("Lawsuits or economic disputes"),
        InspectionFinding.unwilling_to_repay: _l("Less willing to repay"),
        InspectionFinding.lost_contact: _l("Borrower cannot be reached"),
    },
    RiskSignal: {
        RiskSignal.overdue: _l("Overdue"),
        RiskSignal.broken_promise: _l("Broken promise"),
        RiskSignal.hold: _l("Hold in force"),
        RiskSignal.risk_finding: _l("Risk found last time"),
    },
    WriteOffStatus: {
        WriteOffStatus.proposed: _l("Awaiting decision"),
        WriteOffStatus.approved: _l("Approved"),
        WriteOffStatus.rejected: _l("Rejected"),
        WriteOffStatus.withdrawn: _l("Withdrawn"),
    },
    RecallReason: {
        RecallReason.manual: _l("Recalled by hand"),
        RecallReason.recall_date: _l("Recall date reached"),
        RecallReason.cured: _l("Cured by a payment"),
        RecallReason.loan_closed: _l("Loan closed"),
    },
    # --- the collector workspace and the account page (work) ---
    LoanStatus: {
        LoanStatus.open: _l("Open"),
        LoanStatus.closed: _l("Closed"),
        LoanStatus.written_off: _l("Written off"),
    },
    AttemptResult: {
        AttemptResult.busy: _l("Busy"),
        AttemptResult.not_in_service: _l("Not in service"),
        AttemptResult.no_answer: _l("No answer"),
        AttemptResult.voicemail: _l("Voicemail"),
        AttemptResult.conversation: _l("Conversation"),
        AttemptResult.wrong_number: _l("Wrong number"),
        AttemptResult.delivered: _l("Delivered"),
        AttemptResult.failed: _l("Failed"),
        AttemptResult.pending: _l("Awaiting the provider's report"),
        AttemptResult.sent: _l("Sent"),
        AttemptResult.wrong_address: _l("Wrong address"),
    },
    Disposition: {
        Disposition.rpc: _l("Right-party contact"),
        Disposition.wrong_party: _l("Wrong party"),
        Disposition.third_party: _l("Third party"),
        Disposition.promise_to_pay: _l("Promise to pay"),
        Disposition.refused: _l("Refused"),
        Disposition.dispute: _l("Dispute"),
        Disposition.claims_paid: _l("Claims paid"),
        Disposition.callback_requested: _l("Callback requested"),
        Disposition.deceased: _l("Deceased"),
        Disposition.bankruptcy: _l("Bankruptcy"),
        Disposition.cease_request: _l("Asked to stop contact"),
        Disposition.wrong_number: _l("Wrong number"),
    },
    Channel: {
        Channel.call: _l("Call"),
        Channel.sms: _l("Text message"),
        Channel.letter: _l("Letter"),
        Channel.visit: _l("Field visit"),
    },
    Direction: {Direction.outbound: _l("Outbound"), Direction.inbound: _l("Inbound")},
    PromiseStatus: {
        PromiseStatus.proposed: _l("Proposed"),
        PromiseStatus.pending: _l("Pending"),
        PromiseStatus.kept: _l("Kept"),
        PromiseStatus.partially_kept: _l("Partially kept"),
        PromiseStatus.broken: _l("Broken"),
        PromiseStatus.cancelled: _l("Cancelled"),
    },
    PromiseSource: {
        PromiseSource.collector: _l("Taken by a collector"),
        PromiseSource.ivr: _l("Keyed in on a call's menu"),
        PromiseSource.sms: _l("Read from a text reply"),
        PromiseSource.visit: _l("Made on a field visit"),
        PromiseSource.arrangement: _l("Instalment of an arrangement"),
        PromiseSource.import_: _l("Imported"),
    },
    CallbackStatus: {
        CallbackStatus.scheduled: _l("Scheduled"),
        CallbackStatus.done: _l("Done"),
        CallbackStatus.cancelled: _l("Cancelled"),
    },
    ArrangementKind: {
        ArrangementKind.payment_plan: _l("Payment plan"),
        ArrangementKind.settlement: _l("Settlement"),
    },
    ArrangementStatus: {
        ArrangementStatus.proposed: _l("Awaiting approval"),
        ArrangementStatus.active: _l("In force"),
        ArrangementStatus.rejected: _l("Rejected"),
        ArrangementStatus.kept: _l("Kept"),
        ArrangementStatus.broken: _l("Broken"),
        ArrangementStatus.cancelled: _l("Cancelled"),
    },
    ApprovalLevel: {
        ApprovalLevel.none: _l("No approval needed"),
        ApprovalLevel.supervisor: _l("A supervisor approves"),
        ApprovalLevel.admin: _l("An administrator approves"),
    },
    HoldKind: {
        HoldKind.dispute: _l("Dispute"),
        HoldKind.deceased: _l("Deceased"),
        HoldKind.bankruptcy: _l("Bankruptcy"),
        HoldKind.legal_action: _l("Legal action"),
        HoldKind.complaint: _l("Complaint"),
        HoldKind.cease_in_writing: _l("Asked in writing to stop contact"),
        HoldKind.attorney_represented: _l("Represented by an attorney"),
        HoldKind.breathing_space: _l("Breathing space"),
        HoldKind.mental_health_crisis: _l("Mental health crisis"),
        HoldKind.vulnerability_review: _l("Vulnerability review"),
    },
    PhoneKind: {
        PhoneKind.primary: _l("Primary"),
        PhoneKind.alt: _l("Alternative"),
        PhoneKind.former: _l("Former"),
    },
    PhoneStatus: {PhoneStatus.active: _l("Active"), PhoneStatus.invalid: _l("Invalid")},
    TimezoneSource: {
        TimezoneSource.file: _l("from the file"),
        TimezoneSource.phone: _l("from the phone number"),
        TimezoneSource.ambiguous: _l("ambiguous"),
        TimezoneSource.unknown: _l("unknown"),
        TimezoneSource.confirmed: _l("confirmed by the debtor"),
    },
    QueueKind: {
        QueueKind.collector: _l("Phone collection"),
        QueueKind.field: _l("Field visits"),
        QueueKind.legal: _l("Recovery and legal"),
        QueueKind.agency: _l("Agency"),
        QueueKind.automated: _l("Automated reminders"),
    },
    TimelineKind: {
        TimelineKind(kind): name
        for kind, name in (
            ("attempt", _l("Contact")),
            ("promise", _l("Promise")),
            ("payment", _l("Payment")),
            ("task", _l("Task")),
            ("assignment", _l("Assignment")),
            ("event", _l("Event")),
        )
    },
    NextReason: {
        NextReason(reason): name
        for reason, name in (
            ("callback_due", _l("a callback is due")),
            ("broken_promise", _l("a promise was broken")),
            ("promise_due_today", _l("a promise is due today")),
            ("score", _l("most overdue balance")),
        )
    },
    # The compliance guard's verdicts and reasons (docs/compliance.md), as a collector reads
    # them beside a number: "blocked until 08:00 — quiet hours".
    Verdict: {
        Verdict.allow: _l("Allowed"),
        Verdict.block: _l("Blocked"),
        Verdict.defer: _l("Not now"),
        Verdict.review: _l("Needs review"),
    },
    Reason: {
        Reason.time_out_of_range: _l("time out of range"),
        Reason.zone_unknown: _l("time zone unknown"),
        Reason.zone_invalid: _l("time zone invalid"),
        Reason.no_common_window: _l("no hour allowed in all their possible time zones"),
        Reason.outside_window: _l("quiet hours"),
        Reason.outside_window_in_some_zone: _l("quiet hours in one of their possible time zones"),
        Reason.promise_pending: _l("promise to pay pending"),
        Reason.conversations_per_day: _l("daily conversation cap reached"),
        Reason.unanswered_per_number: _l("daily cap of unanswered calls to this number reached"),
        Reason.calls_per_day: _l("daily call cap reached"),
        Reason.conversation_in_last_7_days: _l("spoken with in the last 7 days"),
        Reason.calls_in_7_days: _l("7-day cap reached"),
        Reason.sms_per_day: _l("daily SMS cap reached"),
        Reason.sms_in_7_days: _l("7-day SMS cap reached"),
        Reason.no_number: _l("no number"),
        Reason.opted_out: _l("opted out"),
        Reason.sms_consent_missing: _l("no consent to texts"),
        Reason.sms_footer_missing: _l("the text lacks the opt-out footer"),
        Reason.voicemail_not_limited: _l("only the limited voicemail is allowed"),
        Reason.third_party_refused: _l("refused all contact"),
        Reason.third_party_unrelated: _l("not a contact of the debtor"),
        Reason.third_party_debtor_reachable: _l("emergency contact: debtor reachable"),
        Reason.third_party_no_disclosure: _l("emergency contact: never about the debt"),
        Reason.third_party_location_only: _l("third party: to locate the debtor only"),
        Reason.third_party_once: _l("third party already contacted once"),
        Reason.third_party_identity_unverified: _l("third party's identity not verified"),
        Reason.hold_dispute: _l("hold: dispute"),
        Reason.hold_deceased: _l("hold: deceased"),
        Reason.hold_bankruptcy: _l("hold: bankruptcy"),
        Reason.hold_legal_action: _l("hold: legal action"),
        Reason.hold_complaint: _l("hold: complaint"),
        Reason.hold_cease_in_writing: _l("hold: cease request in writing"),
        Reason.hold_attorney_represented: _l("hold: represented by an attorney"),
        Reason.hold_breathing_space: _l("hold: breathing space"),
        Reason.hold_mental_health_crisis: _l("hold: mental health crisis"),
        Reason.hold_vulnerability_review: _l("hold: vulnerability review"),
    },
    ContactReason: {
        ContactReason.number_invalid: _l("number invalid"),
        ContactReason.loan_closed: _l("loan closed"),
        ContactReason.paid_since_planned: _l("paid since it was planned"),
        ContactReason.template_error: _l("the message could not be written"),
    },
}
# Lists read back from SQL as plain strings: their names by the list and the stored value.
BY_NAME: dict[str, type[enum.Enum] | tuple[type[enum.Enum], ...]] = {
    "classification": RiskClass,
    "role": Role,
    "verdict": Verdict,
    "reason": (Reason, ContactReason),
    "task_kind": TaskKind,
    "task_status": TaskStatus,
    "visit_outcome": VisitOutcome,
    "legal_outcome": LegalOutcome,
    "inspection_kind": InspectionKind,
    "inspection_method": InspectionMethod,
    "inspection_outcome": InspectionOutcome,
    "inspection_finding": InspectionFinding,
    "risk_signal": RiskSignal,
    "write_off_status": WriteOffStatus,
    "recall_reason": RecallReason,
    "loan_status": LoanStatus,
    "result": AttemptResult,
    "disposition": Disposition,
    "channel": Channel,
    "direction": Direction,
    "promise_status": PromiseStatus,
    "promise_source": PromiseSource,
    "callback_status": CallbackStatus,
    "arrangement_kind": ArrangementKind,
    "arrangement_status": ArrangementStatus,
    "approval": ApprovalLevel,
    "hold": HoldKind,
    "phone_kind": PhoneKind,
    "phone_status": PhoneStatus,
    "timezone_source": TimezoneSource,
    "queue_kind": QueueKind,
    "timeline": TimelineKind,
    "next_reason": NextReason,
}


def label(value: Any, kind: str | None = None) -> str:
    """The page's name for ``value`` (an enum member, or a stored string with its list's
    ``kind``); the value itself when the list has no names (a new member is seen, not hidden)."""
    if value is None:
        return "—"
    if kind is not None:
        found = BY_NAME[kind]
        for enum_type in found if isinstance(found, tuple) else (found,):
            try:
                value = enum_type(value)  # by its stored value ("import"), else by its name
            except ValueError:
                try:
                    value = enum_type[value]
                except KeyError:
                    continue
            break
        else:
            return str(value)
    names = LABELS.get(type(value))
    if names is None or value not in names:
        return str(getattr(value, "value", value))
    return str(names[value])


def reason_names(reasons: Iterable[str]) -> str:
    """A verdict's reasons as a page names them, in order ("quiet hours, opted out"); a code
    without a name shows as itself."""
    return ", ".join(label(reason, "reason") for reason in reasons)


# --- the dashboard (service.portfolio.dashboard) ------------------------------------------------
# Its groupings, kept as a tuple of strings where defined, made an enum here to be named.
DashboardGroup = enum.StrEnum("DashboardGroup", [(g, g) for g in GROUPINGS])  # type: ignore[misc]
LABELS[DashboardGroup] = {
    DashboardGroup("all"): _l("All accounts"),
    DashboardGroup("collector"): _l("Collector"),
    DashboardGroup("queue"): _l("Queue"),
    DashboardGroup("arm"): _l("Strategy arm"),
}
BY_NAME["dashboard_group"] = DashboardGroup
LABELS[AccountEvent] = ACCOUNT_EVENTS


class JobStep(enum.StrEnum):
    """The steps a job reports as it goes (workers/jobs.py, service/cob/nightly.py)."""

    waiting_for_job = "waiting for the job before it"
    waiting_for_night = "waiting for any other close of business"
    import_files = "import"
    positions = "positions"
    snapshot = "snapshot"
    promises = "promises"
    agency_recalls = "agency recalls"
    lost_contact = "lost contact"
    assignment = "assignment"
    planning = "planning"
    dashboard = "dashboard"


LABELS[JobStep] = {
    JobStep.waiting_for_job: _l("Waiting for the job before it"),
    JobStep.waiting_for_night: _l("Waiting for another close of business"),
    JobStep.import_files: _l("Reading the files"),
    JobStep.positions: _l("Positions: days past due, buckets, penalties"),
    JobStep.snapshot: _l("Snapshot of the portfolio"),
    JobStep.promises: _l("Promises checked against payments"),
    JobStep.agency_recalls: _l("Agency recalls"),
    JobStep.lost_contact: _l("Lost contact"),
    JobStep.assignment: _l("Assignment to queues"),
    JobStep.planning: _l("Planning the day's contacts"),
    JobStep.dashboard: _l("The dashboard's figures"),
}
BY_NAME["job_step"] = JobStep
BY_NAME["account_event"] = AccountEvent
# --- end of the dashboard's block ----------------------------------------------------------------


# --- The supervisor tools (service/web/ui/tools/) ------------------------------------------------
# The outbox's states, an import run's and a job's: their names on the tools' pages.

LABELS.update(
    {
        OutboxStatus: {
            OutboxStatus.pending: _l("Waiting to go"),
            OutboxStatus.queued: _l("Queued"),
            OutboxStatus.sending: _l("Sending"),
            OutboxStatus.sent: _l("Accepted by the channel"),
            OutboxStatus.failed: _l("Failed"),
            OutboxStatus.blocked: _l("Blocked"),
            OutboxStatus.deferred: _l("Deferred"),
            OutboxStatus.review: _l("Held for review"),
            OutboxStatus.cancelled: _l("Withdrawn"),
        },
        ImportStatus: {
            ImportStatus.running: _l("Running"),
            ImportStatus.completed: _l("Completed"),
            ImportStatus.failed: _l("Failed"),
            ImportStatus.interrupted: _l("Interrupted"),
        },
        JobKind: {
            JobKind.close_of_business: _l("Close of business"),
            JobKind.dry_run: _l("Dry run"),
            JobKind.import_files: _l("Import"),
        },
        JobState: {
            JobState.queued: _l("Queued"),
            JobState.running: _l("Running"),
            JobState.succeeded: _l("Succeeded"),
            JobState.failed: _l("Failed"),
        },
    }
)
BY_NAME.update(
    {
        "outbox_status": OutboxStatus,
        "import_status": ImportStatus,
        "job_kind": JobKind,
        "job_state": JobState,
    }
)
# --- end of the supervisor tools' block ---------------------------------------------------------
