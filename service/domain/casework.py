"""Casework states: the kinds of task people do outside the dialer and how a task can end."""

from __future__ import annotations

import enum


class TaskKind(enum.StrEnum):
    field_visit = "field_visit"  # 外访
    agency_placement = "agency_placement"  # 委外
    legal_review = "legal_review"
    write_off_proposal = "write_off_proposal"


class TaskStatus(enum.StrEnum):
    open = "open"
    done = "done"
    failed = "failed"  # e.g. a field visit that found nobody
    cancelled = "cancelled"


# How a person may close a task (forward only: a closed task is never reopened).
TASK_OUTCOMES = (TaskStatus.done, TaskStatus.failed, TaskStatus.cancelled)


class LegalOutcome(enum.StrEnum):
    """What a legal review (法律清收) decides, after the policies: sue when collection has failed
    (依法诉讼: "通过各种方法进行催收没有效果的,应提起诉讼"), keep negotiating repayment (与借款人
    协商, 商讨还款事宜), give up a suit whose cost exceeds what it could recover (诉讼成本), or send
    the loan to write-off (坏账核销)."""

    file_suit = "file_suit"  # a legal_action hold stops automated dunning
    negotiate = "negotiate"
    not_viable = "not_viable"
    refer_write_off = "refer_write_off"  # opens a write-off proposal task
