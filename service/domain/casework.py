"""Casework states: the kinds of task people do outside the dialer and how a task can end."""

from __future__ import annotations

import enum


class TaskKind(enum.StrEnum):
    field_visit = "field_visit"  # 外访
    agency_placement = "agency_placement"  # 委外
    legal_review = "legal_review"
    write_off_proposal = "write_off_proposal"
    inspection = "inspection"  # 贷后检查: scheduled by close of business (docs/inspections.md)


class TaskStatus(enum.StrEnum):
    open = "open"
    done = "done"
    failed = "failed"  # e.g. a field visit that found nobody
    cancelled = "cancelled"


# How a person may close a task (forward only: a closed task is never reopened).
TASK_OUTCOMES = (TaskStatus.done, TaskStatus.failed, TaskStatus.cancelled)


class VisitOutcome(enum.StrEnum):
    """What a field visit (外访) found (docs/agencies.md). The source policies count a visit
    that did not find the debtor (上门没有找到) toward handing the account to an agency."""

    met_debtor = "met_debtor"  # spoke with the debtor, no promise
    promise = "promise"  # the debtor promised an amount on a date
    refused = "refused"  # the debtor was found and refused to pay
    not_at_home = "not_at_home"  # nobody found at the address
    address_wrong = "address_wrong"  # no such address, or not the debtor's (修复信息)
    moved = "moved"  # the debtor no longer lives or works there


# Visits that did not find the debtor: failed (they count toward the agency placement).
VISIT_FAILED = frozenset({VisitOutcome.not_at_home, VisitOutcome.address_wrong, VisitOutcome.moved})


def visit_status(outcome: VisitOutcome) -> TaskStatus:
    """The state a visit's outcome closes its task with: failed when the debtor was not found."""
    return TaskStatus.failed if outcome in VISIT_FAILED else TaskStatus.done


class LegalOutcome(enum.StrEnum):
    """What a legal review (法律清收) decides, after the policies: sue when collection has failed
    (依法诉讼: "通过各种方法进行催收没有效果的,应提起诉讼"), keep negotiating repayment (与借款人
    协商, 商讨还款事宜), give up a suit whose cost exceeds what it could recover (诉讼成本), or send
    the loan to write-off (坏账核销)."""

    file_suit = "file_suit"  # a legal_action hold stops automated dunning
    negotiate = "negotiate"
    not_viable = "not_viable"
    refer_write_off = "refer_write_off"  # opens a write-off proposal task
