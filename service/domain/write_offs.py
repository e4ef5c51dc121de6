"""Write-off (核销) with maker-checker: the states of a proposal and who may decide one.

Sources: the policies' 坏账核销 ("对于无法催收的逾期贷款 … 列为坏账,并进行计提和核销") and their
separation of duties (审贷分离、分级审批; the risk department reviews 呆账核销), read as: one person
proposes, another decides; above the largest amount tier (DESIGN.md §2, 100万 by default) the
decision is an admin's, as the policies raise larger amounts to a higher authority.
"""

from __future__ import annotations

import dataclasses
import enum
from decimal import Decimal


class WriteOffStatus(enum.StrEnum):
    """A proposal moves forward only: proposed → approved | rejected | withdrawn."""

    proposed = "proposed"
    approved = "approved"  # the loan is written off
    rejected = "rejected"  # by someone other than the proposer
    withdrawn = "withdrawn"  # taken back before a decision


# The states in which a loan has a live write-off: at most one per loan (a partial unique index).
LIVE = (WriteOffStatus.proposed, WriteOffStatus.approved)
# Who may propose and decide (role names of service.db.models.people.Role).
DECIDING_ROLES = ("supervisor", "admin")


@dataclasses.dataclass(frozen=True, slots=True)
class Refusal:
    """Why a decision is refused: a stable code and the rule in words."""

    code: str
    message: str


def decision_refusal(
    *,
    proposer_id: int,
    decider_id: int,
    decider_role: str,
    amount: Decimal,
    admin_above: Decimal,
) -> Refusal | None:
    """Whether this person may approve or reject this proposal (None: they may).

    The proposer never decides their own proposal (maker-checker: the database refuses it too);
    an amount above ``admin_above`` needs an admin.
    """
    if decider_role not in DECIDING_ROLES:
        return Refusal("role", f"a {decider_role} may not decide a write-off")
    if decider_id == proposer_id:
        return Refusal(
            "maker_checker",
            "maker-checker: the proposer of a write-off cannot approve or reject it; another "
            "supervisor or an admin must decide it",
        )
    if amount > admin_above and decider_role != "admin":
        return Refusal(
            "admin_required",
            f"a write-off of {amount:.2f}, above {admin_above:.2f}, is decided by an admin",
        )
    return None
