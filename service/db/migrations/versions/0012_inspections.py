"""Post-loan inspections: a loan has an officer (loans.csv ``officer``) who owns its
inspections, and a task knows the day its work was done (an inspection's day, from which the
next one is counted).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("officer_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_loans_officer_id_users"), "users", ["officer_id"], ["id"]
        )
        batch_op.create_index(batch_op.f("ix_loans_officer_id"), ["officer_id"], unique=False)
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("done_on", sa.Date(), nullable=True))


def downgrade() -> None:
    # Inspections are tasks of a kind the earlier schema does not schedule: they go with it.
    op.execute("DELETE FROM tasks WHERE kind = 'inspection'")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_column("done_on")
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_loans_officer_id"))
        batch_op.drop_constraint(batch_op.f("fk_loans_officer_id_users"), type_="foreignkey")
        batch_op.drop_column("officer_id")
