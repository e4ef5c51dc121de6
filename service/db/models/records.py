"""Records of what happened: the append-only audit trail and import runs with their errors."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from service.clock import utcnow
from service.db.models.base import Base, enum_column


class AuditEvent(Base):
    """Append-only: database triggers refuse UPDATE and DELETE on this table."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_entity", "entity_type", "entity_ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_ref: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ImportStatus(enum.StrEnum):
    running = "running"
    completed = "completed"
    failed = "failed"
    interrupted = "interrupted"  # its process died (killed, restarted): the files committed stay


class ImportRun(Base):
    __tablename__ = "import_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None]
    status: Mapped[ImportStatus] = mapped_column(enum_column(ImportStatus, "import_status"))
    source: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(Text, default="")
    files: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    failure: Mapped[str | None] = mapped_column(Text)
    # The process running it and when it last said so (a dead one's run is interrupted).
    owner: Mapped[str | None] = mapped_column(String(200))
    heartbeat_at: Mapped[dt.datetime | None]


class ImportError_(Base):
    __tablename__ = "import_errors"
    __table_args__ = (Index("ix_import_errors_run_file_line", "run_id", "file", "line"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("import_runs.id", ondelete="CASCADE"))
    file: Mapped[str] = mapped_column(String(64))
    line: Mapped[int] = mapped_column(Integer)
    column_name: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)


class JobKind(enum.StrEnum):
    close_of_business = "close_of_business"
    dry_run = "dry_run"
    import_files = "import_files"


class JobState(enum.StrEnum):
    """Forward only: queued → running → succeeded | failed (queued → failed when it never ran)."""

    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"


class Job(Base):
    """Long work asked for over HTTP (or by the nightly cron), with its state and progress.

    ``owner`` names the process running it (host:pid:token) and ``heartbeat_at`` when that
    process last said it was alive: a job whose process died is marked failed, never left
    running (see workers.jobs).
    """

    __tablename__ = "jobs"
    __table_args__ = (
        Index(
            "ix_jobs_unfinished",
            "state",
            postgresql_where=text("state IN ('queued', 'running')"),
            sqlite_where=text("state IN ('queued', 'running')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[JobKind] = mapped_column(enum_column(JobKind, "job_kind"))
    state: Mapped[JobState] = mapped_column(enum_column(JobState, "job_state"))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    progress: Mapped[dict[str, Any]] = mapped_column(default=dict)
    result: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)
    runner: Mapped[str] = mapped_column(String(16))  # inprocess | arq
    owner: Mapped[str | None] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None]
    heartbeat_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
