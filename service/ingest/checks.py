"""Set-based checks of staged rows: duplicate keys within the file, unknown references, each
file's own checks against stored data. Rejected lines are reported and their rows dropped."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from service.db import dialect
from service.ingest.contract import FileSpec


async def reject_in_sql(conn: AsyncConnection, spec: FileSpec, run_id: int) -> int:
    """Reject staged rows that clash with each other or with stored data; return lines rejected."""
    table = spec.main_stage
    keys = spec.key
    key_label = ", ".join(keys)
    key_value = " || ', ' || ".join(f"s.{k}" for k in keys)
    on = " AND ".join(f"s.{k} = d.{k}" for k in keys)
    statements = [
        f"""INSERT INTO rejected_lines (line, column_name, reason)
            SELECT s.line, '{keys[-1]}',
                   'duplicate {key_label} ' || {key_value}
                     || ' (first at line ' || d.first_line || ')'
            FROM {table} s
            JOIN (SELECT {", ".join(keys)}, min(line) AS first_line FROM {table}
                  GROUP BY {", ".join(keys)} HAVING count(*) > 1) d
              ON {on} AND s.line <> d.first_line"""
    ]
    for parent in spec.parents:
        statements.append(
            f"""INSERT INTO rejected_lines (line, column_name, reason)
                SELECT s.line, '{parent.column}',
                       'unknown {parent.column} ''' || s.{parent.column} || ''''
                FROM {table} s
                WHERE NOT EXISTS (SELECT 1 FROM {parent.table} p
                                  WHERE p.{parent.ref_column} = s.{parent.column})"""
        )
    for check in spec.checks:
        statements.append(
            f"INSERT INTO rejected_lines (line, column_name, reason) "
            f"SELECT q.line, '{check.column}', q.reason FROM ({check.sql}) q"
        )
    await dialect.analyze(conn, table)
    for statement in statements:
        await conn.execute(text(statement))
    rejected = (
        await conn.execute(text("SELECT count(DISTINCT line) FROM rejected_lines"))
    ).scalar_one()
    if rejected:
        await conn.execute(
            text(
                "INSERT INTO import_errors (run_id, file, line, column_name, reason) "
                "SELECT :run_id, :file, line, column_name, reason FROM rejected_lines"
            ),
            {"run_id": run_id, "file": spec.file},
        )
        for staged in spec.stage:
            if staged == table:
                await conn.execute(
                    text(f"DELETE FROM {staged} WHERE line IN (SELECT line FROM rejected_lines)")
                )
    return int(rejected)
