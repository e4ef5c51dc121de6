"""Delinquency state: per-installment settlement, per-loan position, daily snapshots, COB runs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY = sa.Numeric(18, 2)

# The daily penalty and the capped rate are SQL functions so that COB's SQL is the same on both
# databases; on SQLite they are registered from service.domain.delinquency at connect time.
PG_FUNCTIONS = (
    """CREATE FUNCTION daily_penalty(unpaid numeric, rate numeric) RETURNS numeric
       LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT round(unpaid * rate, 2) $$""",
    """CREATE FUNCTION penalty_rate(annual numeric, wanted numeric, cap numeric)
       RETURNS numeric LANGUAGE sql IMMUTABLE STRICT AS $$
       SELECT greatest(0, least(wanted, trunc((cap - annual) / 365, 10))) $$""",
)


def _money(name: str) -> sa.Column[object]:
    return sa.Column(name, MONEY, nullable=False, server_default="0")


def upgrade() -> None:
    with op.batch_alter_table("installments") as batch:
        for name in ("principal_paid", "interest_paid", "penalty_accrued", "penalty_paid"):
            batch.add_column(_money(name))
        batch.add_column(sa.Column("settled_on", sa.Date(), nullable=True))
        # When the lender last changed the row: COB replays a loan whose history changed.
        batch.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("payments") as batch:
        batch.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("borrowers") as batch:
        batch.add_column(
            sa.Column("credit_coefficient", sa.Numeric(6, 3), nullable=False, server_default="1")
        )
    with op.batch_alter_table("loans") as batch:
        for name in ("installments_on_time", "installments_late"):
            batch.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("state_as_of", sa.Date(), nullable=True))
        batch.add_column(sa.Column("closed_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("state_computed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("days_past_due", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("bucket", sa.String(8), nullable=False, server_default="M0"))
        batch.add_column(sa.Column("amount_tier", sa.String(8), nullable=False, server_default="S"))
        batch.add_column(
            sa.Column("risk_class", sa.String(24), nullable=False, server_default="normal")
        )
        for name in (
            "overdue_amount",
            "outstanding",
            "penalty_accrued",
            "penalty_unpaid",
            "credit",
        ):
            batch.add_column(_money(name))
        batch.add_column(sa.Column("flags", sa.String(200), nullable=False, server_default=""))
        batch.create_index("ix_loans_bucket", ["bucket"])
    op.create_table(
        "loan_snapshots",
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("loan_id", sa.Integer(), nullable=False),
        sa.Column("days_past_due", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.String(8), nullable=False),
        sa.Column("amount_tier", sa.String(8), nullable=False),
        sa.Column("risk_class", sa.String(24), nullable=False),
        sa.Column("overdue_amount", MONEY, nullable=False),
        sa.Column("outstanding", MONEY, nullable=False),
        sa.Column("penalty_accrued", MONEY, nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=True),
        sa.Column("collector_id", sa.Integer(), nullable=True),
        sa.Column("strategy_arm", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(
            ["loan_id"],
            ["loans.id"],
            name=op.f("fk_loan_snapshots_loan_id_loans"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("as_of", "loan_id", name=op.f("pk_loan_snapshots")),
    )
    op.create_table(
        "bucket_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("from_bucket", sa.String(8), nullable=False),
        sa.Column("to_bucket", sa.String(8), nullable=False),
        sa.ForeignKeyConstraint(
            ["loan_id"],
            ["loans.id"],
            name=op.f("fk_bucket_events_loan_id_loans"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bucket_events")),
        sa.UniqueConstraint("as_of", "loan_id", name=op.f("uq_bucket_events_as_of")),
    )
    op.create_table(
        "cob_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("loans", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("config", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cob_runs")),
    )
    if op.get_bind().dialect.name == "postgresql":
        for statement in PG_FUNCTIONS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION penalty_rate(numeric, numeric, numeric)")
        op.execute("DROP FUNCTION daily_penalty(numeric, numeric)")
    op.drop_table("cob_runs")
    op.drop_table("bucket_events")
    op.drop_table("loan_snapshots")
    with op.batch_alter_table("loans") as batch:
        batch.drop_index("ix_loans_bucket")
        for name in (
            "flags", "credit", "penalty_unpaid", "penalty_accrued", "outstanding",
            "overdue_amount", "risk_class", "amount_tier", "bucket", "days_past_due", "closed_on",
            "state_computed_at", "state_as_of",
        ):  # fmt: skip
            batch.drop_column(name)
    with op.batch_alter_table("loans") as batch:
        batch.drop_column("installments_late")
        batch.drop_column("installments_on_time")
    with op.batch_alter_table("borrowers") as batch:
        batch.drop_column("credit_coefficient")
    with op.batch_alter_table("payments") as batch:
        batch.drop_column("updated_at")
    with op.batch_alter_table("installments") as batch:
        for name in (
            "updated_at",
            "settled_on",
            "penalty_paid",
            "penalty_accrued",
            "interest_paid",
        ):
            batch.drop_column(name)
        batch.drop_column("principal_paid")
