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
