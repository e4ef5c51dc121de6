"""How the pages name the members of a closed list (classification, roles, …): one table per
list, msgids in English, translated by the catalogs. The lists themselves are defined once, in
service.domain and the models; these are only their names on a page."""

from __future__ import annotations

import enum
from typing import Any

from babel.support import LazyProxy

from service.db.models import Role
from service.domain.agencies import RecallReason
from service.domain.casework import LegalOutcome, TaskKind, TaskStatus, VisitOutcome
from service.domain.delinquency import RiskClass
from service.domain.inspections import (
    InspectionFinding,
    InspectionKind,
    InspectionMethod,
    InspectionOutcome,
    RiskSignal,
)
from service.domain.write_offs import WriteOffStatus
from service.web.ui.i18n import lazy_gettext as _l

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
}
# Lists read back from SQL as plain strings: their names by the list and the stored value.
BY_NAME: dict[str, type[enum.Enum]] = {
    "classification": RiskClass,
    "role": Role,
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
}


def label(value: Any, kind: str | None = None) -> str:
    """The page's name for ``value`` (an enum member, or a stored string with its list's
    ``kind``); the value itself when the list has no names (a new member is seen, not hidden)."""
    if value is None:
        return "—"
    if kind is not None:
        enum_type = BY_NAME[kind]
        try:
            value = enum_type[value] if isinstance(value, str) else enum_type(value)
        except (KeyError, ValueError):
            return str(value)
    names = LABELS.get(type(value))
    if names is None or value not in names:
        return str(getattr(value, "value", value))
    return str(names[value])
