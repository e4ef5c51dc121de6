"""Queues and assignment: teams, capacity, queue kinds and order, the work list with leases,
assignment history, champion/challenger experiments, promises to pay and callbacks.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY = sa.Numeric(18, 2)
QUEUE_KINDS = "'collector', 'field', 'legal', 'agency', 'automated'"

# "Next account" on PostgreSQL in one round trip: the same steps as service.worklist's Python
# (which SQLite runs), checked against each other by the tests that run on both databases.
# p_phases: pairs of (lowest rank, highest rank + 1), (-1, -1) standing for "callback due".
NEXT_ACCOUNT = """
CREATE FUNCTION arrears_next_account(p_user integer, p_now timestamptz, p_until timestamptz,
                                     p_phases integer[], p_round integer)
RETURNS TABLE (picked_loan integer, picked_rank integer, by_callback boolean)
LANGUAGE plpgsql AS $$
DECLARE
  i integer;
  q integer;
  found_loan integer;
  found_rank integer;
  found_score numeric;
  pool_loan integer;
  pool_rank integer;
  pool_score numeric;
BEGIN
  -- A lease is worth nothing after a crash (it would expire anyway): this transaction need not
  -- wait for its WAL to reach the disk.
  PERFORM set_config('synchronous_commit', 'off', true);
  -- Done with what they held: it goes behind the accounts worked fewer times today.
  UPDATE work_items SET lease_holder_id = NULL, lease_expires_at = NULL,
                        rank = work_items.rank + p_round
  WHERE work_items.lease_holder_id = p_user;
  -- Each step is gated by a min() over a partial index: plpgsql's cached generic plans would
  -- otherwise scan the whole list on every call.
  IF (SELECT min(e.lease_expires_at) FROM work_items e) < p_now THEN
    UPDATE work_items SET lease_holder_id = NULL, lease_expires_at = NULL
    WHERE work_items.loan_id IN (
      SELECT e.loan_id FROM work_items e WHERE e.lease_expires_at < p_now
      ORDER BY e.lease_expires_at LIMIT 500 FOR UPDATE SKIP LOCKED);
  END IF;
  FOR i IN 1 .. array_length(p_phases, 1) / 2 LOOP
    IF p_phases[2 * i - 1] < 0 THEN
      CONTINUE WHEN (SELECT min(c.due_at) FROM callbacks c WHERE c.status = 'scheduled')
                    > p_now IS NOT FALSE;
      SELECT w.loan_id, w.rank INTO found_loan, found_rank
      FROM work_items w JOIN callbacks c ON c.loan_id = w.loan_id
      WHERE c.status = 'scheduled' AND c.due_at <= p_now AND w.lease_holder_id IS NULL
        AND (c.user_id = p_user OR (c.user_id IS NULL
             AND (w.collector_id = p_user OR w.collector_id IS NULL)
             AND w.queue_id IN (
               SELECT m.queue_id FROM queue_members m JOIN queues qq ON qq.id = m.queue_id
               WHERE m.user_id = p_user AND qq.active
                 AND qq.kind IN ('collector', 'field', 'legal'))))
      ORDER BY c.due_at, c.id LIMIT 1 FOR UPDATE OF w SKIP LOCKED;
      IF found_loan IS NOT NULL THEN
        UPDATE work_items SET lease_holder_id = p_user, lease_expires_at = p_until
        WHERE work_items.loan_id = found_loan;
        UPDATE callbacks SET status = 'done'
        WHERE callbacks.loan_id = found_loan AND callbacks.status = 'scheduled'
          AND callbacks.due_at <= p_now;
        RETURN QUERY SELECT found_loan, found_rank, true;
        RETURN;
      END IF;
    ELSE
      FOR q IN SELECT m.queue_id FROM queue_members m JOIN queues qq ON qq.id = m.queue_id
               WHERE m.user_id = p_user AND qq.active
                 AND qq.kind IN ('collector', 'field', 'legal')
               ORDER BY qq.position, qq.id LOOP
        -- The collector's own accounts and the queue's pool are two ranges of one index:
        -- take the head of each (both locked for the moment) and lease the more urgent.
        SELECT w.loan_id, w.rank, w.score INTO found_loan, found_rank, found_score
        FROM work_items w
        WHERE w.collector_id = p_user AND w.queue_id = q AND w.lease_holder_id IS NULL
          AND w.rank >= p_phases[2 * i - 1] AND w.rank < p_phases[2 * i]
        ORDER BY w.rank, w.score, w.loan_id LIMIT 1 FOR UPDATE SKIP LOCKED;
        SELECT w.loan_id, w.rank, w.score INTO pool_loan, pool_rank, pool_score
        FROM work_items w
        WHERE w.collector_id IS NULL AND w.queue_id = q AND w.lease_holder_id IS NULL
          AND w.rank >= p_phases[2 * i - 1] AND w.rank < p_phases[2 * i]
        ORDER BY w.rank, w.score, w.loan_id LIMIT 1 FOR UPDATE SKIP LOCKED;
        IF pool_loan IS NOT NULL AND (found_loan IS NULL
            OR (pool_rank, pool_score, pool_loan) < (found_rank, found_score, found_loan)) THEN
          found_loan := pool_loan;
          found_rank := pool_rank;
        END IF;
        IF found_loan IS NOT NULL THEN
          UPDATE work_items SET lease_holder_id = p_user, lease_expires_at = p_until
          WHERE work_items.loan_id = found_loan;
          RETURN QUERY SELECT found_loan, found_rank, false;
          RETURN;
        END IF;
      END LOOP;
    END IF;
  END LOOP;
END $$
"""


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("segment", sa.JSON(), nullable=False),
        sa.Column("challenger", sa.String(length=64), nullable=False),
        sa.Column("share", sa.Numeric(6, 3), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiments")),
        sa.UniqueConstraint("key", name=op.f("uq_experiments_key")),
    )
    op.create_table(
        "teams",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
        sa.UniqueConstraint("name", name=op.f("uq_teams_name")),
    )
    op.create_table(
        "assignment_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.Integer(), nullable=False),
        sa.Column("moved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("from_queue_id", sa.Integer(), nullable=True),
        sa.Column("to_queue_id", sa.Integer(), nullable=True),
        sa.Column("from_collector_id", sa.Integer(), nullable=True),
        sa.Column("to_collector_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=24), nullable=False),
        sa.Column("strategy", sa.String(length=64), nullable=True),
        sa.Column("arm", sa.String(length=64), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["loan_id"],
            ["loans.id"],
            name=op.f("fk_assignment_history_loan_id_loans"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignment_history")),
    )
    with op.batch_alter_table("assignment_history", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_assignment_history_loan_id"), ["loan_id"], unique=False
        )

    op.create_table(
        "callbacks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "scheduled",
                "done",
                "cancelled",
                name="callback_status",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["loan_id"], ["loans.id"], name=op.f("fk_callbacks_loan_id_loans"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_callbacks_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callbacks")),
    )
    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_callbacks_scheduled_due_at",
            ["due_at"],
            unique=False,
            postgresql_where=sa.text("status = 'scheduled'"),
            sqlite_where=sa.text("status = 'scheduled'"),
        )
        batch_op.create_index(batch_op.f("ix_callbacks_loan_id"), ["loan_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_callbacks_user_id"), ["user_id"], unique=False)

    op.create_table(
        "promises",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.Integer(), nullable=False),
        sa.Column("collector_id", sa.Integer(), nullable=True),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("promised_on", sa.Date(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "kept",
                "partially_kept",
                "broken",
                "cancelled",
                name="promise_status",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["collector_id"], ["users.id"], name=op.f("fk_promises_collector_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["loan_id"], ["loans.id"], name=op.f("fk_promises_loan_id_loans"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promises")),
    )
    with op.batch_alter_table("promises", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_promises_collector_id"), ["collector_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_promises_loan_id"), ["loan_id"], unique=False)

    op.create_table(
        "work_items",
        sa.Column("loan_id", sa.Integer(), nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=False),
        sa.Column("collector_id", sa.Integer(), nullable=True),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("score", MONEY, nullable=False),
        sa.Column("lease_holder_id", sa.Integer(), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["collector_id"], ["users.id"], name=op.f("fk_work_items_collector_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["lease_holder_id"], ["users.id"], name=op.f("fk_work_items_lease_holder_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["loan_id"], ["loans.id"], name=op.f("fk_work_items_loan_id_loans"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["queue_id"], ["queues.id"], name=op.f("fk_work_items_queue_id_queues")
        ),
        sa.PrimaryKeyConstraint("loan_id", name=op.f("pk_work_items")),
    )
    with op.batch_alter_table("work_items", schema=None) as batch_op:
        batch_op.create_index(
            "ix_work_items_free",
            ["collector_id", "queue_id", "rank", "score", "loan_id"],
            unique=False,
            postgresql_where=sa.text("lease_holder_id IS NULL"),
            sqlite_where=sa.text("lease_holder_id IS NULL"),
        )
        batch_op.create_index(
            "ix_work_items_lease_expires_at",
            ["lease_expires_at"],
            unique=False,
            postgresql_where=sa.text("lease_expires_at IS NOT NULL"),
            sqlite_where=sa.text("lease_expires_at IS NOT NULL"),
        )
        batch_op.create_index(
            batch_op.f("ix_work_items_lease_holder_id"), ["lease_holder_id"], unique=False
        )

    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lost_contact_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("strategy_arm", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("assignment_key", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("queues", schema=None) as batch_op:
        # A plain column and a named CHECK, so that both databases can drop it again.
        batch_op.add_column(
            sa.Column("kind", sa.String(24), server_default="collector", nullable=False)
        )
        batch_op.create_check_constraint("queue_kind", sa.text(f"kind IN ({QUEUE_KINDS})"))
        batch_op.add_column(sa.Column("team_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("position", sa.Integer(), server_default="100", nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                "collector_strategy", sa.String(length=64), server_default="sticky", nullable=False
            )
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_queues_team_id_teams"), "teams", ["team_id"], ["id"]
        )

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("team_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("capacity", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_users_team_id_teams"), "teams", ["team_id"], ["id"]
        )

    if op.get_bind().dialect.name == "postgresql":
        op.execute(NEXT_ACCOUNT)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "DROP FUNCTION arrears_next_account(integer, timestamptz, timestamptz, integer[], "
            "integer)"
        )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_users_team_id_teams"), type_="foreignkey")
        batch_op.drop_column("capacity")
        batch_op.drop_column("team_id")

    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_queues_team_id_teams"), type_="foreignkey")
        batch_op.drop_column("collector_strategy")
        batch_op.drop_column("position")
        batch_op.drop_column("team_id")
        batch_op.drop_constraint(batch_op.f("ck_queues_queue_kind"), type_="check")
        batch_op.drop_column("kind")

    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.drop_column("assigned_at")
        batch_op.drop_column("assignment_key")
        batch_op.drop_column("strategy_arm")
        batch_op.drop_column("lost_contact_on")

    with op.batch_alter_table("work_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_work_items_lease_holder_id"))
        batch_op.drop_index(
            "ix_work_items_lease_expires_at",
            postgresql_where=sa.text("lease_expires_at IS NOT NULL"),
            sqlite_where=sa.text("lease_expires_at IS NOT NULL"),
        )
        batch_op.drop_index(
            "ix_work_items_free",
            postgresql_where=sa.text("lease_holder_id IS NULL"),
            sqlite_where=sa.text("lease_holder_id IS NULL"),
        )

    op.drop_table("work_items")
    with op.batch_alter_table("promises", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_promises_loan_id"))
        batch_op.drop_index(batch_op.f("ix_promises_collector_id"))

    op.drop_table("promises")
    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_callbacks_user_id"))
        batch_op.drop_index(batch_op.f("ix_callbacks_loan_id"))
        batch_op.drop_index("ix_callbacks_scheduled_due_at")

    op.drop_table("callbacks")
    with op.batch_alter_table("assignment_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assignment_history_loan_id"))

    op.drop_table("assignment_history")
    op.drop_table("teams")
    op.drop_table("experiments")
