"""The database: engines, column types, every PostgreSQL/SQLite difference (``dialect``), the
models by area and the migrations that are the schema's source of truth."""
