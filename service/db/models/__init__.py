"""SQLAlchemy models, one module per area; importing this package registers them all.

Migrations in ``service/db/migrations`` are the source of truth for the schema; these models
must match them (a test compares the two).
"""

from service.db.models.agencies import Agency, Placement
from service.db.models.assignment import AssignmentMove, Experiment, Queue, QueueMember, WorkItem
from service.db.models.attachments import TaskAttachment
from service.db.models.base import Base
from service.db.models.casework import Task
from service.db.models.cob import BucketEvent, CobRun, LoanSnapshot
from service.db.models.contact import (
    Arrangement,
    Attempt,
    Callback,
    CallbackStatus,
    OptOut,
    Promise,
    PromiseStatus,
    ProviderReport,
)
from service.db.models.dashboard import ActivityDay, PortfolioDay, PromiseDay, RollMonth
from service.db.models.people import Role, Session, Team, User
from service.db.models.portfolio import (
    Borrower,
    Contact,
    Hold,
    Installment,
    Loan,
    LoanStatus,
    Payment,
    PhoneKind,
    PhoneNumber,
    PhoneStatus,
)
from service.db.models.records import (
    AuditEvent,
    ImportError_,
    ImportRun,
    ImportStatus,
    Job,
    JobKind,
    JobState,
)
from service.db.models.treatment import GuardDecision, OutboxMessage, OutboxStatus, TreatmentPlan
from service.db.models.write_offs import WriteOff
from service.domain.compliance import TimezoneSource

__all__ = [
    "ActivityDay",
    "Agency",
    "Arrangement",
    "AssignmentMove",
    "Attempt",
    "AuditEvent",
    "Base",
    "Borrower",
    "BucketEvent",
    "Callback",
    "CallbackStatus",
    "CobRun",
    "Contact",
    "Experiment",
    "GuardDecision",
    "Hold",
    "ImportError_",
    "ImportRun",
    "ImportStatus",
    "Installment",
    "Job",
    "JobKind",
    "JobState",
    "Loan",
    "LoanSnapshot",
    "LoanStatus",
    "OptOut",
    "OutboxMessage",
    "OutboxStatus",
    "Payment",
    "PhoneKind",
    "PhoneNumber",
    "PhoneStatus",
    "Placement",
    "PortfolioDay",
    "Promise",
    "PromiseDay",
    "PromiseStatus",
    "ProviderReport",
    "Queue",
    "QueueMember",
    "Role",
    "RollMonth",
    "Session",
    "Task",
    "TaskAttachment",
    "Team",
    "TimezoneSource",
    "TreatmentPlan",
    "User",
    "WorkItem",
    "WriteOff",
]
