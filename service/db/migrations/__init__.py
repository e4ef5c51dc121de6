"""Alembic migrations, run through :mod:`service.migrate` (never at import time)."""
