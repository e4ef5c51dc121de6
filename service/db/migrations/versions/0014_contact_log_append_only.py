"""The contact log becomes append-only: a correction (a provider's final report, a disposition,
a re-imported row with other values) is a new revision that supersedes the one before, and the
database refuses UPDATE, DELETE and TRUNCATE on ``attempts`` (and TRUNCATE on ``audit_log``).
Letters and field visits are attempts too.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL_BEFORE = ("call", "sms")
CHANNEL_AFTER = (*CHANNEL_BEFORE, "letter", "visit")
RESULT_BEFORE = (
    "busy",
    "not_in_service",
    "no_answer",
    "voicemail",
    "conversation",
    "wrong_number",
    "delivered",
    "failed",
    "pending",
)
RESULT_AFTER = (*RESULT_BEFORE, "sent", "wrong_address")

# The contact log is what a regulator reads: the database itself keeps it, not our code alone.
PG_GUARD = (
    """CREATE FUNCTION attempts_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         RAISE EXCEPTION 'attempts is append-only: record a correction as a new revision';
       END $$""",
    """CREATE TRIGGER attempts_no_update BEFORE UPDATE OR DELETE ON attempts
       FOR EACH ROW EXECUTE FUNCTION attempts_append_only()""",
    """CREATE TRIGGER attempts_no_truncate BEFORE TRUNCATE ON attempts
       FOR EACH STATEMENT EXECUTE FUNCTION attempts_append_only()""",
    """CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
       FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()""",
)
PG_UNGUARD = (
    "DROP TRIGGER audit_log_no_truncate ON audit_log",
    "DROP TRIGGER attempts_no_truncate ON attempts",
    "DROP TRIGGER attempts_no_update ON attempts",
    "DROP FUNCTION attempts_append_only()",
)
# SQLite has no TRUNCATE (DELETE without WHERE fires the delete trigger).
_REFUSAL = "'attempts is append-only: record a correction as a new revision'"
SQLITE_GUARD = (
    f"CREATE TRIGGER attempts_no_update BEFORE UPDATE ON attempts "
    f"BEGIN SELECT RAISE(ABORT, {_REFUSAL}); END",
    f"CREATE TRIGGER attempts_no_delete BEFORE DELETE ON attempts "
    f"BEGIN SELECT RAISE(ABORT, {_REFUSAL}); END",
)
SQLITE_UNGUARD = (
    "DROP TRIGGER attempts_no_update",
    "DROP TRIGGER attempts_no_delete",
)


# The log as it stands, for reports and whoever reads it by hand: each attempt's newest revision.
CONTACT_LOG_VIEW = """CREATE VIEW contact_log AS
    SELECT a.* FROM attempts a
    WHERE NOT EXISTS (SELECT 1 FROM attempts n WHERE n.supersedes_id = a.id)"""


def _in(column: str, values: Sequence[str]) -> sa.TextClause:
    return sa.text(f"{column} IN ({', '.join(repr(v) for v in values)})")


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revision", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("supersedes_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("recorded_by", sa.String(length=64), nullable=True))
        batch_op.drop_column("updated_at")
        batch_op.drop_constraint(batch_op.f("uq_attempts_attempt_ref"), type_="unique")
        batch_op.drop_constraint(batch_op.f("uq_attempts_outbox_id"), type_="unique")
        batch_op.drop_constraint(batch_op.f("uq_attempts_provider_ref"), type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_attempts_attempt_ref"), ["attempt_ref", "revision"]
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_attempts_outbox_id"), ["outbox_id", "revision"]
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_attempts_provider_ref"), ["provider_ref", "revision"]
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_attempts_supersedes_id"), ["supersedes_id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_attempts_supersedes_id_attempts"), "attempts", ["supersedes_id"], ["id"]
        )
        batch_op.drop_constraint(op.f("ck_attempts_channel"), type_="check")
        batch_op.create_check_constraint("channel", _in("channel", CHANNEL_AFTER))
        batch_op.drop_constraint(op.f("ck_attempts_attempt_result"), type_="check")
        batch_op.create_check_constraint("attempt_result", _in("result", RESULT_AFTER))
    for statement in PG_GUARD if _postgresql() else SQLITE_GUARD:
        op.execute(statement)
    op.execute(CONTACT_LOG_VIEW)


def downgrade() -> None:
    op.execute("DROP VIEW contact_log")
    for statement in PG_UNGUARD if _postgresql() else SQLITE_UNGUARD:
        op.execute(statement)
    # Only the newest revision of each attempt survives a downgrade, as one row per ref.
    op.execute(
        "DELETE FROM attempts WHERE id IN (SELECT supersedes_id FROM attempts "
        "WHERE supersedes_id IS NOT NULL)"
    )
    op.execute("DELETE FROM attempts WHERE channel NOT IN ('call', 'sms')")
    op.execute("UPDATE attempts SET result = 'failed' WHERE result IN ('sent', 'wrong_address')")
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_attempts_attempt_result"), type_="check")
        batch_op.create_check_constraint("attempt_result", _in("result", RESULT_BEFORE))
        batch_op.drop_constraint(op.f("ck_attempts_channel"), type_="check")
        batch_op.create_check_constraint("channel", _in("channel", CHANNEL_BEFORE))
        batch_op.drop_constraint(
            batch_op.f("fk_attempts_supersedes_id_attempts"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("uq_attempts_supersedes_id"), type_="unique")
        batch_op.drop_constraint(batch_op.f("uq_attempts_provider_ref"), type_="unique")
        batch_op.drop_constraint(batch_op.f("uq_attempts_outbox_id"), type_="unique")
        batch_op.drop_constraint(batch_op.f("uq_attempts_attempt_ref"), type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_attempts_attempt_ref"), ["attempt_ref"])
        batch_op.create_unique_constraint(batch_op.f("uq_attempts_outbox_id"), ["outbox_id"])
        batch_op.create_unique_constraint(batch_op.f("uq_attempts_provider_ref"), ["provider_ref"])
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_column("recorded_by")
        batch_op.drop_column("supersedes_id")
        batch_op.drop_column("revision")
