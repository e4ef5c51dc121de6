"""Tasks get an owner, a recorded outcome with notes and details, and may stand outside a
treatment plan (a post-loan inspection, an escalation a person opens).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("outcome", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("notes", sa.Text(), server_default="", nullable=False))
        batch_op.add_column(sa.Column("details", sa.JSON(), nullable=True))
        batch_op.alter_column("plan_id", existing_type=sa.Integer(), nullable=True)
        batch_op.create_foreign_key(
            batch_op.f("fk_tasks_owner_id_users"), "users", ["owner_id"], ["id"]
        )
        batch_op.create_index(batch_op.f("ix_tasks_owner_id"), ["owner_id"], unique=False)


def downgrade() -> None:
    op.execute("DELETE FROM tasks WHERE plan_id IS NULL")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tasks_owner_id"))
        batch_op.drop_constraint(batch_op.f("fk_tasks_owner_id_users"), type_="foreignkey")
        batch_op.alter_column("plan_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("details")
        batch_op.drop_column("notes")
        batch_op.drop_column("outcome")
        batch_op.drop_column("owner_id")
