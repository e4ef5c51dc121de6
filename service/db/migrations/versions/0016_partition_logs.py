"""On PostgreSQL the contact log (``attempts``), the guard's decisions and the audit log become
tables partitioned by month (declarative RANGE partitioning on the time each row happened),
so the timeline, the guard's caps and the nightly reads stay on small indexes as years pass,
and whole months can be dropped once kept long enough (``arrears db prune-partitions``).
SQLite is unchanged (the embedded default is small). docs/contact-log.md, "Volume and
retention", says why each piece is as it is.

- Every row, id and sequence is kept: each table is rebuilt as ``LIKE`` the old one (columns,
  defaults, CHECKs), the rows copied, the old table dropped, its ``SERIAL`` sequence handed on.
- One partition per month holding rows, the current month and the three after it, and a
  default partition for a row in a month with none (close of business moves such rows out:
  service.db.partitions.upkeep).
- A unique key on a partitioned table must hold the partition key: the primary keys become
  (id, time), the attempts' unique keys (…, revision, occurred_at). What the old keys
  guaranteed across months is held by ``attempt_keys``: one row per (attempt_ref, revision),
  written by a BEFORE INSERT trigger that skips a row whose key is taken (as ON CONFLICT DO
  NOTHING would). An outbox row's one attempt is keyed ``ob-<outbox id>`` and so is held by
  the same key (and by the outbox claim); a revision supersedes revision n with n + 1 of the
  same ref, so two supersedings of one row collide on the key too.
- PostgreSQL 15 cannot point a foreign key at (id) of a partitioned table: promises.attempt_id
  and attempts.supersedes_id are checked by triggers instead (the row they name must exist).
- The append-only triggers: BEFORE UPDATE OR DELETE row triggers on the partitioned tables
  (cloned onto every partition), BEFORE TRUNCATE statement triggers on them and on each
  partition (a statement trigger is not cloned).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import NamedTuple

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONTHS_AHEAD = 3
MOVING = "arrears.moving_rows"  # set by the upkeep while it moves rows out of the default


class Spec(NamedTuple):
    table: str
    key: str  # the partition key
    uniques: tuple[tuple[str, tuple[str, ...]], ...]
    indexes: tuple[tuple[str, tuple[str, ...]], ...]
    # Foreign keys out of the table: name, column, referred table, ON DELETE.
    fks: tuple[tuple[str, str, str, str | None], ...]
    # The append-only trigger function (None: the table has none).
    guard: str | None


SPECS = (
    Spec(
        "attempts",
        "occurred_at",
        uniques=(
            ("uq_attempts_attempt_ref", ("attempt_ref", "revision")),
            ("uq_attempts_outbox_id", ("outbox_id", "revision")),
            ("uq_attempts_provider_ref", ("provider_ref", "revision")),
            ("uq_attempts_supersedes_id", ("supersedes_id",)),
        ),
        indexes=(
            ("ix_attempts_contact_id", ("contact_id",)),
            ("ix_attempts_loan_occurred", ("loan_id", "occurred_at")),
            ("ix_attempts_phone_occurred", ("phone", "occurred_at")),
        ),
        fks=(
            ("fk_attempts_collector_id_users", "collector_id", "users", None),
            ("fk_attempts_contact_id_contacts", "contact_id", "contacts", None),
            ("fk_attempts_loan_id_loans", "loan_id", "loans", "CASCADE"),
            ("fk_attempts_outbox_id_outbox", "outbox_id", "outbox", None),
        ),
        guard="attempts_append_only",
    ),
    Spec(
        "guard_decisions",
        "decided_at",
        uniques=(),
        indexes=(
            ("ix_guard_decisions_idempotency_key", ("idempotency_key",)),
            ("ix_guard_decisions_loan_decided", ("loan_id", "decided_at")),
        ),
        fks=(("fk_guard_decisions_loan_id_loans", "loan_id", "loans", "CASCADE"),),
        guard=None,
    ),
    Spec(
        "audit_log",
        "occurred_at",
        uniques=(),
        indexes=(
            ("ix_audit_entity", ("entity_type", "entity_ref")),
            ("ix_audit_log_occurred_at", ("occurred_at",)),
        ),
        fks=(("fk_audit_log_actor_id_users", "actor_id", "users", None),),
        guard="audit_log_append_only",
    ),
)

CONTACT_LOG_VIEW = """CREATE VIEW contact_log AS
    SELECT a.* FROM attempts a
    WHERE NOT EXISTS (SELECT 1 FROM attempts n WHERE n.supersedes_id = a.id)"""

KEYS = (
    """CREATE TABLE attempt_keys (
         attempt_ref VARCHAR(64) NOT NULL,
         revision INTEGER NOT NULL,
         CONSTRAINT pk_attempt_keys PRIMARY KEY (attempt_ref, revision))""",
    # One (attempt_ref, revision) in the whole log, every month: a row whose key is taken is
    # skipped (the writers' ON CONFLICT DO NOTHING); a revision names an attempt that exists.
    f"""CREATE FUNCTION attempts_key() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF current_setting('{MOVING}', true) = 'on' THEN
           RETURN NEW;
         END IF;
         INSERT INTO attempt_keys (attempt_ref, revision)
           VALUES (NEW.attempt_ref, NEW.revision) ON CONFLICT DO NOTHING;
         IF NOT FOUND THEN
           RETURN NULL;
         END IF;
         IF NEW.supersedes_id IS NOT NULL
            AND NOT EXISTS (SELECT 1 FROM attempts WHERE id = NEW.supersedes_id) THEN
           RAISE foreign_key_violation USING MESSAGE =
             'attempts.supersedes_id ' || NEW.supersedes_id || ' names no attempt';
         END IF;
         RETURN NEW;
       END $$""",
    """CREATE TRIGGER attempts_key BEFORE INSERT ON attempts
       FOR EACH ROW EXECUTE FUNCTION attempts_key()""",
    """CREATE FUNCTION promises_attempt_exists() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF NEW.attempt_id IS NOT NULL
            AND NOT EXISTS (SELECT 1 FROM attempts WHERE id = NEW.attempt_id) THEN
           RAISE foreign_key_violation USING MESSAGE =
             'promises.attempt_id ' || NEW.attempt_id || ' names no attempt';
         END IF;
         RETURN NEW;
       END $$""",
    """CREATE TRIGGER promises_attempt_exists BEFORE INSERT OR UPDATE OF attempt_id ON promises
       FOR EACH ROW EXECUTE FUNCTION promises_attempt_exists()""",
)
UNKEYS = (
    "DROP TRIGGER promises_attempt_exists ON promises",
    "DROP FUNCTION promises_attempt_exists()",
    "DROP TRIGGER attempts_key ON attempts",
    "DROP FUNCTION attempts_key()",
    "DROP TABLE attempt_keys",
)


def _month(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _next(month: dt.date) -> dt.date:
    return (month + dt.timedelta(days=32)).replace(day=1)


def _partition(spec: Spec, month: dt.date | None) -> list[str]:
    """A month's partition (None: the default one) with its TRUNCATE refusal."""
    if month is None:
        name = f"{spec.table}_default"
        statements = [f"CREATE TABLE {name} PARTITION OF {spec.table} DEFAULT"]
    else:
        name = f"{spec.table}_p{month:%Y%m}"
        statements = [
            f"CREATE TABLE {name} PARTITION OF {spec.table} FOR VALUES "
            f"FROM ('{month.isoformat()} 00:00:00+00') "
            f"TO ('{_next(month).isoformat()} 00:00:00+00')"
        ]
    if spec.guard:
        statements.append(
            f"CREATE TRIGGER {name}_no_truncate BEFORE TRUNCATE ON {name} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {spec.guard}()"
        )
    return statements


def _months(bind: sa.Connection, spec: Spec, source: str) -> list[dt.date]:
    held = {
        row[0].date()
        for row in bind.execute(
            sa.text(
                f"SELECT DISTINCT date_trunc('month', {spec.key}, 'UTC') AT TIME ZONE 'UTC' "
                f"FROM {source}"
            )
        )
    }
    month = _month(dt.datetime.now(dt.UTC).date())
    for _ in range(MONTHS_AHEAD + 1):
        held.add(month)
        month = _next(month)
    return sorted(held)


def _fk(spec: Spec, fk: tuple[str, str, str, str | None]) -> str:
    name, column, referred, ondelete = fk
    tail = f" ON DELETE {ondelete}" if ondelete else ""
    return (
        f"ALTER TABLE {spec.table} ADD CONSTRAINT {name} FOREIGN KEY ({column}) "
        f"REFERENCES {referred} (id){tail}"
    )


def _guards(spec: Spec) -> list[str]:
    """The append-only triggers (0001/0014), on the plain table or the partitioned one."""
    if spec.guard is None:
        return []
    return [
        f"CREATE TRIGGER {spec.table}_no_update BEFORE UPDATE OR DELETE ON {spec.table} "
        f"FOR EACH ROW EXECUTE FUNCTION {spec.guard}()",
        f"CREATE TRIGGER {spec.table}_no_truncate BEFORE TRUNCATE ON {spec.table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {spec.guard}()",
    ]


def _detach(spec: Spec, table: str) -> list[str]:
    """Free the names of ``table``'s keys, indexes, triggers and sequence for the new one."""
    statements = [f"ALTER TABLE {table} DROP CONSTRAINT {name}" for name, *_ in spec.fks]
    statements += [f"ALTER TABLE {table} DROP CONSTRAINT {name}" for name, _ in spec.uniques]
    statements.append(f"ALTER TABLE {table} DROP CONSTRAINT pk_{spec.table}")
    statements += [f"DROP INDEX {name}" for name, _ in spec.indexes]
    if spec.guard:
        statements += [
            f"DROP TRIGGER {spec.table}_no_update ON {table}",
            f"DROP TRIGGER {spec.table}_no_truncate ON {table}",
        ]
    statements.append(f"ALTER SEQUENCE {spec.table}_id_seq OWNED BY NONE")
    return statements


def _keys(spec: Spec, partitioned: bool) -> list[str]:
    key = (spec.key,) if partitioned else ()
    pk = ", ".join(("id", *key))
    statements = [f"ALTER TABLE {spec.table} ADD CONSTRAINT pk_{spec.table} PRIMARY KEY ({pk})"]
    statements += [
        f"ALTER TABLE {spec.table} ADD CONSTRAINT {name} UNIQUE ({', '.join((*columns, *key))})"
        for name, columns in spec.uniques
    ]
    statements += [
        f"CREATE INDEX {name} ON {spec.table} ({', '.join(columns)})"
        for name, columns in spec.indexes
    ]
    statements += [_fk(spec, fk) for fk in spec.fks]
    return statements


def _rebuild(spec: Spec, partitioned: bool) -> None:
    bind = op.get_bind()
    old = f"{spec.table}_{'unpartitioned' if partitioned else 'partitioned'}"
    op.execute(f"ALTER TABLE {spec.table} RENAME TO {old}")
    for statement in _detach(spec, old):
        op.execute(statement)
    tail = f" PARTITION BY RANGE ({spec.key})" if partitioned else ""
    op.execute(
        f"CREATE TABLE {spec.table} (LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
        f"INCLUDING STORAGE){tail}"
    )
    op.execute(f"ALTER SEQUENCE {spec.table}_id_seq OWNED BY {spec.table}.id")
    if partitioned:
        for month in _months(bind, spec, old):
            for statement in _partition(spec, month):
                op.execute(statement)
        for statement in _partition(spec, None):
            op.execute(statement)
    op.execute(f"INSERT INTO {spec.table} SELECT * FROM {old}")
    op.execute(f"DROP TABLE {old}")  # a partitioned one takes its partitions along
    for statement in _keys(spec, partitioned):
        op.execute(statement)
    for statement in _guards(spec):
        op.execute(statement)
    op.execute(f"ANALYZE {spec.table}")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP VIEW contact_log")
    op.execute("ALTER TABLE promises DROP CONSTRAINT fk_promises_attempt_id_attempts")
    op.execute("ALTER TABLE attempts DROP CONSTRAINT fk_attempts_supersedes_id_attempts")
    for spec in SPECS:
        _rebuild(spec, partitioned=True)
    for statement in KEYS:
        op.execute(statement)
    op.execute(
        "INSERT INTO attempt_keys (attempt_ref, revision) "
        "SELECT attempt_ref, revision FROM attempts"
    )
    op.execute(CONTACT_LOG_VIEW)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP VIEW contact_log")
    for statement in UNKEYS:
        op.execute(statement)
    for spec in SPECS:
        _rebuild(spec, partitioned=False)
    op.execute(
        "ALTER TABLE attempts ADD CONSTRAINT fk_attempts_supersedes_id_attempts "
        "FOREIGN KEY (supersedes_id) REFERENCES attempts (id)"
    )
    op.execute(
        "ALTER TABLE promises ADD CONSTRAINT fk_promises_attempt_id_attempts "
        "FOREIGN KEY (attempt_id) REFERENCES attempts (id)"
    )
    op.execute(CONTACT_LOG_VIEW)
