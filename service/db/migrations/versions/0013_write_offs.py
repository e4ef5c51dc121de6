"""Write-offs with maker-checker, and a loan's status written_off.

write_offs holds each proposal with the amounts it writes off and its decision; the database
refuses a decision by the proposer (CHECK decided_by <> proposed_by) and a second live proposal
for a loan (a partial unique index). loans.status may be written_off.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUS_BEFORE = ("open", "closed")
STATUS_AFTER = (*STATUS_BEFORE, "written_off")
WRITE_OFF_STATUSES = ("proposed", "approved", "rejected", "withdrawn")
LIVE = "status IN ('proposed', 'approved')"


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _loan_status(values: Sequence[str]) -> None:
    """Make loans.status take ``values`` (SQLite rebuilds the table: service.db.migrate runs
    migrations with foreign keys off, so the rows referencing loans stay)."""
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_loans_loan_status"), type_="check")
        batch_op.create_check_constraint("loan_status", sa.text(_in("status", values)))


def upgrade() -> None:
    _loan_status(STATUS_AFTER)
    op.create_table(
        "write_offs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                *WRITE_OFF_STATUSES,
                name="write_off_status",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("principal", sa.Numeric(18, 2), nullable=False),
        sa.Column("interest", sa.Numeric(18, 2), nullable=False),
        sa.Column("penalty", sa.Numeric(18, 2), nullable=False),
        sa.Column("amounts_as_of", sa.Date(), nullable=True),
        sa.Column("days_past_due", sa.Integer(), nullable=False),
        sa.Column("risk_class", sa.String(length=24), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("proposed_by", sa.Integer(), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.Text(), server_default="", nullable=False),
        sa.Column("withdrawn_by", sa.Integer(), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("written_off_on", sa.Date(), nullable=True),
        sa.CheckConstraint("decided_by <> proposed_by", name=op.f("ck_write_offs_maker_checker")),
        sa.CheckConstraint(
            "status NOT IN ('approved', 'rejected') "
            "OR (decided_by IS NOT NULL AND decided_at IS NOT NULL)",
            name=op.f("ck_write_offs_decision_recorded"),
        ),
        sa.CheckConstraint(
            "status <> 'approved' OR written_off_on IS NOT NULL",
            name=op.f("ck_write_offs_approval_dated"),
        ),
        sa.CheckConstraint(
            "principal >= 0 AND interest >= 0 AND penalty >= 0",
            name=op.f("ck_write_offs_amounts_not_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["loan_id"],
            ["loans.id"],
            name=op.f("fk_write_offs_loan_id_loans"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_write_offs_task_id_tasks")
        ),
        sa.ForeignKeyConstraint(
            ["proposed_by"], ["users.id"], name=op.f("fk_write_offs_proposed_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["users.id"], name=op.f("fk_write_offs_decided_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["withdrawn_by"], ["users.id"], name=op.f("fk_write_offs_withdrawn_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_write_offs")),
    )
    op.create_index(op.f("ix_write_offs_loan_id"), "write_offs", ["loan_id"], unique=False)
    op.create_index(
        "ix_write_offs_live_loan",
        "write_offs",
        ["loan_id"],
        unique=True,
        postgresql_where=sa.text(LIVE),
        sqlite_where=sa.text(LIVE),
    )


def downgrade() -> None:
    op.drop_index("ix_write_offs_live_loan", table_name="write_offs")
    op.drop_index(op.f("ix_write_offs_loan_id"), table_name="write_offs")
    op.drop_table("write_offs")
    # A written-off loan is, to the schema before, a loan that ended on that day.
    op.execute("UPDATE loans SET status = 'closed' WHERE status = 'written_off'")
    _loan_status(STATUS_BEFORE)
