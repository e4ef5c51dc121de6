"""Holds and opt-outs through the import contract, confirmed zones, interrupted imports.

holds get the lender's ``hold_ref`` and who recorded them; opt-outs can be lifted
(``opted_in_at``) and say who recorded them; a borrower's zone can be ``confirmed``; an import
run knows its process and can be ``interrupted``.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ_BEFORE = ("file", "phone", "ambiguous", "unknown")
TZ_AFTER = (*TZ_BEFORE, "confirmed")
IMPORT_BEFORE = ("running", "completed", "failed")
IMPORT_AFTER = (*IMPORT_BEFORE, "interrupted")


def _in(column: str, values: Sequence[str]) -> sa.TextClause:
    return sa.text(f"{column} IN ({', '.join(repr(v) for v in values)})")


def upgrade() -> None:
    with op.batch_alter_table("borrowers", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_borrowers_tz_source"), type_="check")
        batch_op.create_check_constraint("tz_source", _in("timezone_source", TZ_AFTER))
    with op.batch_alter_table("import_runs", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_import_runs_import_status"), type_="check")
        batch_op.create_check_constraint("import_status", _in("status", IMPORT_AFTER))
        batch_op.add_column(sa.Column("owner", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("holds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hold_ref", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("source", sa.String(length=16), server_default="import", nullable=False)
        )
    # Holds recorded before the contract had a key: one of ours.
    op.execute("UPDATE holds SET hold_ref = 'hold-' || CAST(id AS VARCHAR(20))")
    with op.batch_alter_table("holds", schema=None) as batch_op:
        batch_op.alter_column("hold_ref", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_holds_hold_ref"), ["hold_ref"])
    with op.batch_alter_table("opt_outs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("opted_in_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("recorded_by", sa.String(length=16), server_default="import", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("opt_outs", schema=None) as batch_op:
        batch_op.drop_column("recorded_by")
        batch_op.drop_column("opted_in_at")
    with op.batch_alter_table("holds", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_holds_hold_ref"), type_="unique")
        batch_op.drop_column("source")
        batch_op.drop_column("hold_ref")
    with op.batch_alter_table("import_runs", schema=None) as batch_op:
        batch_op.drop_column("heartbeat_at")
        batch_op.drop_column("owner")
        batch_op.drop_constraint(op.f("ck_import_runs_import_status"), type_="check")
        batch_op.create_check_constraint("import_status", _in("status", IMPORT_BEFORE))
    op.execute("UPDATE borrowers SET timezone_source = 'file' WHERE timezone_source = 'confirmed'")
    op.execute("UPDATE import_runs SET status = 'failed' WHERE status = 'interrupted'")
    with op.batch_alter_table("borrowers", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_borrowers_tz_source"), type_="check")
        batch_op.create_check_constraint("tz_source", _in("timezone_source", TZ_BEFORE))
