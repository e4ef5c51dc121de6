"""Field-visit photos and agency placement (委外).

task_attachments holds each photo of a task (content addressed: the bytes live under the var
directory by SHA-256); agencies are the outside collection agencies with their commission
rate; placements are accounts placed with one, with what they owed then, the planned recall
date, and when and why they came back — one active placement per loan (a partial unique index).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY = sa.Numeric(18, 2)
RATE = sa.Numeric(12, 8)


def upgrade() -> None:
    op.create_table(
        "task_attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column(
            "content_type",
            sa.Enum(
                "image/jpeg",
                "image/png",
                "image/webp",
                name="image_type",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("uploaded_by_id", sa.Integer(), nullable=True),
        sa.Column("uploaded_by", sa.String(length=64), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("size > 0", name=op.f("ck_task_attachments_size_positive")),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["tasks.id"],
            name=op.f("fk_task_attachments_task_id_tasks"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"], ["users.id"], name=op.f("fk_task_attachments_uploaded_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_attachments")),
        sa.UniqueConstraint("task_id", "sha256", name=op.f("uq_task_attachments_task_id")),
    )
    with op.batch_alter_table("task_attachments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_task_attachments_task_id"), ["task_id"], unique=False)

    op.create_table(
        "agencies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agency_ref", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("commission_rate", RATE, nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("contact_notes", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "commission_rate >= 0 AND commission_rate < 1",
            name=op.f("ck_agencies_commission_rate_fraction"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agencies")),
        sa.UniqueConstraint("agency_ref", name=op.f("uq_agencies_agency_ref")),
    )

    op.create_table(
        "placements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("placed_on", sa.Date(), nullable=False),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("placed_by", sa.String(length=64), nullable=False),
        sa.Column("balance_at_placement", MONEY, nullable=False),
        sa.Column("overdue_at_placement", MONEY, nullable=False),
        sa.Column("dpd_at_placement", sa.Integer(), nullable=False),
        sa.Column("recall_on", sa.Date(), nullable=False),
        sa.Column("recalled_on", sa.Date(), nullable=True),
        sa.Column(
            "recall_reason",
            sa.Enum(
                "manual",
                "recall_date",
                "cured",
                "loan_closed",
                name="recall_reason",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=True,
        ),
        sa.Column("recalled_by", sa.String(length=64), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "recall_on >= placed_on", name=op.f("ck_placements_recall_after_placement")
        ),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.id"], name=op.f("fk_placements_agency_id_agencies")
        ),
        sa.ForeignKeyConstraint(
            ["loan_id"], ["loans.id"], name=op.f("fk_placements_loan_id_loans"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_placements_task_id_tasks"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_placements")),
    )
    with op.batch_alter_table("placements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_placements_loan_id"), ["loan_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_placements_agency_id"), ["agency_id"], unique=False)
        # One active placement per loan, on both databases.
        batch_op.create_index(
            "uq_placements_active_loan",
            ["loan_id"],
            unique=True,
            postgresql_where=sa.text("recalled_on IS NULL"),
            sqlite_where=sa.text("recalled_on IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("placements", schema=None) as batch_op:
        batch_op.drop_index("uq_placements_active_loan")
        batch_op.drop_index(batch_op.f("ix_placements_agency_id"))
        batch_op.drop_index(batch_op.f("ix_placements_loan_id"))
    op.drop_table("placements")
    op.drop_table("agencies")
    with op.batch_alter_table("task_attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_task_attachments_task_id"))
    op.drop_table("task_attachments")
