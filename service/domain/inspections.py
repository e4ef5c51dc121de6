"""Post-loan inspections (贷后检查): their kinds, how one is done, what it finds, and when the
next one falls due. Sources: docs/inspections.md (the seeds' policy text, DESIGN.md §2).

- **first** (首次跟踪检查): within 15 working days of disbursement — "贷款发放后15个工作日内应进行
  首次跟踪检查"; it checks that the money went where the application said and that the
  conditions of the approval were met.
- **periodic** (定期检查 / 日常检查): quarterly after the last completed one — "至少每季度做1次以上
  的贷后日常检查", "个人生产经营贷款的日常检查。每季度检查一次".
- **risk** (不定期检查): sooner after a risk signal — "贷款形态发生变化和出现风险预警信息，应增加
  检查频率，视其情况随时跟踪检查": monthly (the officer completes the month's checks within
  the month, "客户经理须在当月内完成对在管客户的贷后检查工作"), and at once when the month
  since the last is already over.
- loans of one month or less are exempt — "贷款期限为1个月(含)以下的贷款可不做首次跟踪检查和
  日常检查".
"""

from __future__ import annotations

import bisect
import calendar
import dataclasses
import datetime as dt
import enum
from collections.abc import Collection, Iterable, Iterator

from service.domain.workdays import WorkingDays


class InspectionKind(enum.StrEnum):
    first = "first"  # 首次跟踪检查
    periodic = "periodic"  # 定期（日常）检查, quarterly
    risk = "risk"  # 不定期检查, after a risk signal


class InspectionMethod(enum.StrEnum):
    """现场检查 / 非现场检查 ("贷后管理方式分为现场检查和非现场检查")."""

    on_site = "on_site"  # a visit to the borrower's home, business or collateral (实地)
    off_site = "off_site"  # by phone (电核), accounts, credit bureau and records (非现场)


class InspectionOutcome(enum.StrEnum):
    normal = "normal"  # nothing found: the schedule goes on quarterly
    risk_found = "risk_found"  # a finding of risk: the next inspection comes sooner


class InspectionFinding(enum.StrEnum):
    """What an inspection can find, each a risk signal (发现风险信号), from what the seeds'
    checklists ask (首次跟踪检查表, 贷后定期检查表, 日常检查重点)."""

    funds_misused = "funds_misused"  # 资金实际用途与申请用途不一致, 挪用
    conditions_unmet = "conditions_unmet"  # 限制性条件未落实
    business_deteriorated = "business_deteriorated"  # 生产经营、财务状况异常
    collateral_impaired = "collateral_impaired"  # 抵(质)押物不完好、不足值、减损或灭失
    guarantor_weakened = "guarantor_weakened"  # 保证人担保能力变化
    other_debts_overdue = "other_debts_overdue"  # 拖欠其他金融机构本息
    personal_circumstances = "personal_circumstances"  # 婚姻、健康、收入、资产、负债的重大变化
    unlawful_conduct = "unlawful_conduct"  # 赌博、吸毒及违法行为
    litigation = "litigation"  # 涉及法律诉讼、经济纠纷
    unwilling_to_repay = "unwilling_to_repay"  # 偿还意愿变化, 恶意逃废债务
    lost_contact = "lost_contact"  # 失联, 异动: the borrower could not be found


class RiskSignal(enum.StrEnum):
    """What makes the next inspection a risk inspection (monthly, not quarterly)."""

    overdue = "overdue"  # DPD ≥ 1 (贷款形态发生变化)
    broken_promise = "broken_promise"  # a promise to pay broken since the last inspection
    hold = "hold"  # a hold in force: dispute, bankruptcy, legal action, deceased …
    risk_finding = "risk_finding"  # the last inspection found a risk


def outcome_of(findings: Collection[InspectionFinding]) -> InspectionOutcome:
    """Every finding is a risk (the closed list holds nothing else): any one is a risk found."""
    return InspectionOutcome.risk_found if findings else InspectionOutcome.normal


@dataclasses.dataclass(frozen=True, slots=True)
class InspectionPolicy:
    """The schedule's numbers (settings ``ARREARS_INSPECTION_*``; defaults from the seeds)."""

    first_working_days: int = 15
    periodic_months: int = 3
    risk_months: int = 1
    exempt_months: int = 1  # a loan of this term or shorter is never inspected
    # A task is opened this many days before it falls due (a first inspection at once).
    lead_days: int = 30
    # The form is filled in within this many working days of the inspection
    # ("在检查后2个工作日内填写《首次跟踪检查表》"); a later record is marked late.
    record_within_working_days: int = 2

    def __post_init__(self) -> None:
        if self.first_working_days < 1 or self.periodic_months < 1 or self.risk_months < 1:
            raise ValueError("inspection intervals must be positive")
        if self.risk_months > self.periodic_months:
            raise ValueError("a risk inspection cannot come later than a periodic one")
        if self.exempt_months < 0 or self.lead_days < 0 or self.record_within_working_days < 0:
            raise ValueError("inspection exemption, lead and record days must not be negative")


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` later, or that month's last day (31 Jan + 1 month = 28 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def is_exempt(disbursed_on: dt.date, maturity_on: dt.date, policy: InspectionPolicy) -> bool:
    """A loan of one month (含) or less needs no inspection."""
    return maturity_on <= add_months(disbursed_on, policy.exempt_months)


@dataclasses.dataclass(frozen=True, slots=True)
class ScheduleDates:
    """What the schedule needs to know about one day, as a disbursement or an inspection day."""

    day: dt.date
    first_due: dt.date  # the last day for the first inspection of a loan disbursed that day
    exempt_until: dt.date  # a loan disbursed that day maturing by then is exempt
    periodic_due: dt.date  # after an inspection that day: the next, quarterly (a working day)
    risk_due: dt.date  # … after a risk signal, monthly (a working day)


class ScheduleCalendar:
    """:class:`ScheduleDates` for every day of a window, from one list of working days (what
    the nightly schedule writes into a table, so the SQL needs no working-day arithmetic)."""

    def __init__(self, first: dt.date, last: dt.date, policy: InspectionPolicy) -> None:
        if last < first:
            raise ValueError("a calendar window ends after it starts")
        self.first, self.last, self.policy = first, last, policy
        # Room past the window for the longest step: months ahead, rolled to a working day.
        end = add_months(last, policy.periodic_months) + dt.timedelta(days=120)
        workdays = WorkingDays(range(first.year, end.year + 1))
        self._working = [day for day in _days(first, end) if workdays.is_working_day(day)]

    def _nth_after(self, day: dt.date, n: int) -> dt.date:
        return self._working[bisect.bisect_right(self._working, day) + n - 1]

    def _on_or_after(self, day: dt.date) -> dt.date:
        return self._working[bisect.bisect_left(self._working, day)]

    def dates(self, day: dt.date) -> ScheduleDates:
        if not self.first <= day <= self.last:
            raise ValueError(f"{day} is outside the calendar's window")
        policy = self.policy
        return ScheduleDates(
            day=day,
            first_due=self._nth_after(day, policy.first_working_days),
            exempt_until=add_months(day, policy.exempt_months),
            periodic_due=self._on_or_after(add_months(day, policy.periodic_months)),
            risk_due=self._on_or_after(add_months(day, policy.risk_months)),
        )

    def __iter__(self) -> Iterator[ScheduleDates]:
        return (self.dates(day) for day in _days(self.first, self.last))


def _days(first: dt.date, last: dt.date) -> Iterable[dt.date]:
    return (first + dt.timedelta(days=n) for n in range((last - first).days + 1))


@dataclasses.dataclass(frozen=True, slots=True)
class Due:
    kind: InspectionKind
    due_on: dt.date


def next_inspection(
    *,
    disbursed_on: dt.date,
    maturity_on: dt.date,
    last_inspected_on: dt.date | None,
    signals: Collection[RiskSignal],
    as_of: dt.date,
    calendar: ScheduleCalendar,
) -> Due | None:
    """The next inspection a loan needs as of ``as_of`` (None: exempt, or not yet disbursed).

    The first within N working days of disbursement; then quarterly after the last completed
    one; with a risk signal, a month after the last — and at once (``as_of``) when that month
    is already over. The nightly SQL (service.casework.inspections) computes the same.
    """
    policy = calendar.policy
    if disbursed_on > as_of or is_exempt(disbursed_on, maturity_on, policy):
        return None
    if last_inspected_on is None:
        return Due(InspectionKind.first, calendar.dates(disbursed_on).first_due)
    after = calendar.dates(last_inspected_on)
    if signals:
        return Due(InspectionKind.risk, max(after.risk_due, as_of))
    return Due(InspectionKind.periodic, after.periodic_due)
