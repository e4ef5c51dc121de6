"""Alembic environment: migrations run on a connection handed in by service.db.migrate."""

from __future__ import annotations

from alembic import context

from service.db.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - guarded so a bare `alembic` call fails loudly
    raise RuntimeError("run migrations through `arrears db upgrade`, which supplies a connection")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
