"""Status callbacks held until the attempt they report on is stored.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "provider_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider_ref", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error_code", sa.String(length=16), nullable=True),
        sa.Column("answered_by", sa.String(length=32), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_reports")),
    )
    with op.batch_alter_table("provider_reports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_provider_reports_provider_ref"), ["provider_ref"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("provider_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_provider_reports_provider_ref"))
    op.drop_table("provider_reports")
