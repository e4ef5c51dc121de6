"""Dispatch: outbox rows are claimed, sent and reconciled; attempts know what the provider said.

outbox gets ``sending``, the claim that holds a row, the planned template variables, what was
sent (body, sender, when) and the provider's error code; attempts get the outbox row that made
them (one each), the template, the provider's id and status, its error code and a note (an
inbound text's words); a promise can be ``proposed`` (read from a reply), knows the attempt it
was made in, and carries a note.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OUTBOX_BEFORE = (
    "pending",
    "queued",
    "sent",
    "failed",
    "blocked",
    "deferred",
    "review",
    "cancelled",
)
OUTBOX_AFTER = (*OUTBOX_BEFORE, "sending")
RESULT_BEFORE = (
    "busy",
    "not_in_service",
    "no_answer",
    "voicemail",
    "conversation",
    "wrong_number",
    "delivered",
    "failed",
)
RESULT_AFTER = (*RESULT_BEFORE, "pending")
PROMISE_BEFORE = ("pending", "kept", "partially_kept", "broken", "cancelled")
PROMISE_AFTER = ("proposed", *PROMISE_BEFORE)


def _in(column: str, values: Sequence[str]) -> sa.TextClause:
    return sa.text(f"{column} IN ({', '.join(repr(v) for v in values)})")


def _check(table: str, name: str, column: str, values: Sequence[str]) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.drop_constraint(op.f(f"ck_{table}_{name}"), type_="check")
        batch_op.create_check_constraint(name, _in(column, values))


def upgrade() -> None:
    _check("outbox", "outbox_status", "status", OUTBOX_AFTER)
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("error_code", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("claim", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("context", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("body", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("sender", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True))
    _check("attempts", "attempt_result", "result", RESULT_AFTER)
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("outbox_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("template", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("provider_ref", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("provider_status", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("error_code", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("note", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_attempts_outbox_id"), ["outbox_id"])
        batch_op.create_unique_constraint(batch_op.f("uq_attempts_provider_ref"), ["provider_ref"])
        batch_op.create_foreign_key(
            batch_op.f("fk_attempts_outbox_id_outbox"), "outbox", ["outbox_id"], ["id"]
        )
    _check("promises", "promise_status", "status", PROMISE_AFTER)
    with op.batch_alter_table("promises", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempt_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("note", sa.Text(), server_default="", nullable=False))
        batch_op.create_foreign_key(
            batch_op.f("fk_promises_attempt_id_attempts"), "attempts", ["attempt_id"], ["id"]
        )


def downgrade() -> None:
    op.execute("DELETE FROM promises WHERE status = 'proposed'")
    with op.batch_alter_table("promises", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_promises_attempt_id_attempts"), type_="foreignkey")
        batch_op.drop_column("note")
        batch_op.drop_column("attempt_id")
    _check("promises", "promise_status", "status", PROMISE_BEFORE)
    op.execute("UPDATE attempts SET result = 'failed' WHERE result = 'pending'")
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_attempts_outbox_id_outbox"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("uq_attempts_provider_ref"), type_="unique")
        batch_op.drop_constraint(batch_op.f("uq_attempts_outbox_id"), type_="unique")
        for column in (
            "updated_at",
            "note",
            "error_code",
            "provider_status",
            "provider_ref",
            "template",
            "outbox_id",
        ):
            batch_op.drop_column(column)
    _check("attempts", "attempt_result", "result", RESULT_BEFORE)
    op.execute("UPDATE outbox SET status = 'pending' WHERE status = 'sending'")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        for column in ("sent_at", "sender", "body", "context", "claimed_at", "claim", "error_code"):
            batch_op.drop_column(column)
    _check("outbox", "outbox_status", "status", OUTBOX_BEFORE)
