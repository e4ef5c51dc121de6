"""The supervisor dashboard's aggregates, maintained by the close of business.

dash_portfolio_daily counts each night's snapshots by bucket, class, queue, collector and arm;
dash_activity_daily sums each night's attempts, promises made and payments by the accounts'
owners; dash_promise_daily tallies promises by the day they fell due and what became of them;
dash_roll_monthly holds the roll-rate matrix from one month's closing snapshot to the next. A
re-run of a day replaces that day's rows (docs/dashboard.md).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY = sa.Numeric(18, 2)


def _owner() -> list[sa.Column[object]]:
    return [
        sa.Column("queue_id", sa.Integer(), nullable=True),
        sa.Column("collector_id", sa.Integer(), nullable=True),
        sa.Column("strategy_arm", sa.String(length=64), nullable=True),
    ]


def _count(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.Integer(), nullable=False)


def _money(name: str) -> sa.Column[object]:
    return sa.Column(name, MONEY, nullable=False)


def upgrade() -> None:
    op.create_table(
        "dash_portfolio_daily",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("bucket", sa.String(length=8), nullable=False),
        sa.Column("risk_class", sa.String(length=24), nullable=False),
        *_owner(),
        _count("accounts"),
        _money("outstanding"),
        _money("overdue_amount"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dash_portfolio_daily")),
    )
    op.create_index("ix_dash_portfolio_daily_as_of", "dash_portfolio_daily", ["as_of"])
    op.create_table(
        "dash_activity_daily",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        *_owner(),
        *(_count(name) for name in ("attempts", "connected", "right_party", "promises_made")),
        _money("promised_amount"),
        _money("collected"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dash_activity_daily")),
    )
    op.create_index("ix_dash_activity_daily_day", "dash_activity_daily", ["day"])
    op.create_table(
        "dash_promise_daily",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        *_owner(),
        _count("promises_due"),
        _money("due_amount"),
        *(_count(name) for name in ("promises_kept", "promises_partial", "promises_broken")),
        _money("settled_amount"),
        _money("kept_amount"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dash_promise_daily")),
    )
    op.create_index("ix_dash_promise_daily_day", "dash_promise_daily", ["day"])
    op.create_table(
        "dash_roll_monthly",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("from_on", sa.Date(), nullable=False),
        sa.Column("to_on", sa.Date(), nullable=False),
        sa.Column("from_bucket", sa.String(length=8), nullable=False),
        sa.Column("to_bucket", sa.String(length=8), nullable=False),
        *_owner(),
        _count("accounts"),
        _money("balance"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dash_roll_monthly")),
    )
    op.create_index("ix_dash_roll_monthly_month", "dash_roll_monthly", ["month"])


def downgrade() -> None:
    for table in (
        "dash_roll_monthly",
        "dash_promise_daily",
        "dash_activity_daily",
        "dash_portfolio_daily",
    ):
        op.drop_table(table)
