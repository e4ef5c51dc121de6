"""Who sees which accounts: a collector only the loans of the queues they belong to (and those
loans' borrowers); supervisors and admins everything. Every read and change of an account goes
through these conditions."""

from __future__ import annotations

from sqlalchemy import ColumnElement, exists, select, true

from service.auth import CurrentUser
from service.db.models import Borrower, Loan, QueueMember, Role


def loan_visible(user: CurrentUser) -> ColumnElement[bool]:
    """SQL condition: the user may see this loan."""
    if user.role is not Role.collector:
        return true()
    return Loan.queue_id.in_(select(QueueMember.queue_id).where(QueueMember.user_id == user.id))


def borrower_visible(user: CurrentUser) -> ColumnElement[bool]:
    if user.role is not Role.collector:
        return true()
    return exists(select(Loan.id).where(Loan.borrower_id == Borrower.id, loan_visible(user)))
