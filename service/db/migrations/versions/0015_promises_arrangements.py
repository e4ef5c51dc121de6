"""Promises get a life: what was paid toward them, the day they were settled, the lender's day
they were made, who made and who decided them, and the arrangement they are an instalment of.
Arrangements (payment plans and settlement offers) with their approval. Callbacks record who
closed them and when.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY = sa.Numeric(18, 2)
KINDS = ("payment_plan", "settlement")
STATES = ("proposed", "active", "rejected", "kept", "broken", "cancelled")
LEVELS = ("none", "supervisor", "admin")


def _in(column: str, values: Sequence[str]) -> sa.TextClause:
    return sa.text(f"{column} IN ({', '.join(repr(v) for v in values)})")


def upgrade() -> None:
    op.create_table(
        "arrangements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                *KINDS,
                name="arrangement_kind",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                *STATES,
                name="arrangement_status",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("balance", MONEY, nullable=False),
        sa.Column("total", MONEY, nullable=False),
        sa.Column("discount", MONEY, nullable=False),
        sa.Column("instalments", sa.Integer(), nullable=False),
        sa.Column(
            "approval",
            sa.Enum(
                *LEVELS, name="approval_level", native_enum=False, create_constraint=True, length=24
            ),
            nullable=False,
        ),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.Column("proposed_by", sa.String(length=64), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.Text(), server_default="", nullable=False),
        sa.Column("settled_on", sa.Date(), nullable=True),
        sa.CheckConstraint("total > 0", name=op.f("ck_arrangements_total_positive")),
        sa.CheckConstraint("discount >= 0", name=op.f("ck_arrangements_discount_not_negative")),
        sa.CheckConstraint("instalments >= 1", name=op.f("ck_arrangements_instalments_positive")),
        # Maker-checker in the database: who proposed an arrangement cannot also approve it.
        sa.CheckConstraint(
            "decided_by IS NULL OR decided_by <> proposed_by",
            name=op.f("ck_arrangements_decided_by_another"),
        ),
        sa.ForeignKeyConstraint(
            ["loan_id"],
            ["loans.id"],
            name=op.f("fk_arrangements_loan_id_loans"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_arrangements")),
    )
    with op.batch_alter_table("arrangements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_arrangements_loan_id"), ["loan_id"], unique=False)
        # One arrangement in force or waiting for a decision per loan.
        batch_op.create_index(
            "uq_arrangements_open_per_loan",
            ["loan_id"],
            unique=True,
            postgresql_where=sa.text("status IN ('proposed', 'active')"),
            sqlite_where=sa.text("status IN ('proposed', 'active')"),
        )

    with op.batch_alter_table("promises", schema=None) as batch_op:
        batch_op.add_column(sa.Column("paid_amount", MONEY, server_default="0", nullable=False))
        batch_op.add_column(sa.Column("settled_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("made_on", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column("created_by", sa.String(length=64), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("decided_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("arrangement_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_promises_arrangement_id_arrangements"),
            "arrangements",
            ["arrangement_id"],
            ["id"],
        )
        batch_op.create_index(
            batch_op.f("ix_promises_arrangement_id"), ["arrangement_id"], unique=False
        )
        batch_op.create_index(
            "ix_promises_status_promised_on", ["status", "promised_on"], unique=False
        )
    op.execute("UPDATE promises SET made_on = CAST(created_at AS DATE)")
    with op.batch_alter_table("promises", schema=None) as batch_op:
        batch_op.alter_column("made_on", existing_type=sa.Date(), nullable=False)

    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("closed_by", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.drop_column("closed_by")
        batch_op.drop_column("closed_at")
    with op.batch_alter_table("promises", schema=None) as batch_op:
        batch_op.drop_index("ix_promises_status_promised_on")
        batch_op.drop_index(batch_op.f("ix_promises_arrangement_id"))
        batch_op.drop_constraint(
            batch_op.f("fk_promises_arrangement_id_arrangements"), type_="foreignkey"
        )
        batch_op.drop_column("arrangement_id")
        batch_op.drop_column("decided_by")
        batch_op.drop_column("created_by")
        batch_op.drop_column("made_on")
        batch_op.drop_column("settled_on")
        batch_op.drop_column("paid_amount")
    with op.batch_alter_table("arrangements", schema=None) as batch_op:
        batch_op.drop_index("uq_arrangements_open_per_loan")
        batch_op.drop_index(batch_op.f("ix_arrangements_loan_id"))
    op.drop_table("arrangements")
