"""Storing clean staged rows by their ``*_ref`` key: changed rows updated, new ones inserted,
one statement each."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from service.db import dialect
from service.ingest.contract import FileSpec


async def upsert(conn: AsyncConnection, spec: FileSpec, now: dt.datetime) -> tuple[int, int, int]:
    """Update staged rows that differ, insert new ones; return (inserted, updated, accepted).

    Two plain statements instead of INSERT ... ON CONFLICT: speculative insertion costs more than
    an anti-join on millions of rows, and imports of one kind are serialised (below), so no other
    import can insert the same key in between.
    """
    target = spec.upsert
    await dialect.serialise(conn, f"arrears.import.{target.target}")
    now_sql = dialect.timestamp_sql(conn, ":now")
    values = {column: sql.replace(":now", now_sql) for column, sql in target.values.items()}
    columns = list(values)
    changeable = [c for c in columns if c not in target.conflict and c not in target.insert_only]
    compared = [c for c in changeable if c != "updated_at"]
    source = f"FROM {spec.main_stage} s {target.joins} WHERE true"
    params = {"now": dialect.timestamp(conn, now)}
    accepted = (await conn.execute(text(f"SELECT count(*) FROM {spec.main_stage}"))).scalar_one()
    updated = 0
    if compared:
        select_list = ", ".join(f"{values[c]} AS {c}" for c in columns)
        match = " AND ".join(f"t.{c} = v.{c}" for c in target.conflict)
        new = {
            c: f"CASE WHEN {target.keep[c]} THEN t.{c} ELSE v.{c} END"
            if c in target.keep
            else f"v.{c}"
            for c in changeable
        }
        differs = " OR ".join(f"t.{c} IS DISTINCT FROM {new[c]}" for c in compared)
        if target.append_only:
            rows = f"SELECT {select_list} {source}"
            updated = await _supersede(
                conn, target.target, columns, new, rows, match, differs, params
            )
        else:
            assignments = ", ".join(f"{c} = {new[c]}" for c in changeable)
            result = await conn.execute(
                text(
                    f"UPDATE {target.target} AS t SET {assignments} "
                    f"FROM (SELECT {select_list} {source}) AS v WHERE {match} AND ({differs})"
                ),
                params,
            )
            updated = result.rowcount
    exists = " AND ".join(f"t.{c} = {values[c]}" for c in target.conflict)
    result = await conn.execute(
        text(
            f"INSERT INTO {target.target} ({', '.join(columns)}) "
            f"SELECT {', '.join(values[c] for c in columns)} {source} "
            f"AND NOT EXISTS (SELECT 1 FROM {target.target} t WHERE {exists})"
        ),
        params,
    )
    return int(result.rowcount), int(updated), int(accepted)


async def _supersede(
    conn: AsyncConnection,
    table: str,
    columns: list[str],
    new: dict[str, str],
    rows: str,
    match: str,
    differs: str,
    params: dict[str, Any],
) -> int:
    """Rows of an append-only table that a re-import changes: a new revision of each with the
    file's values (the key and the other insert-only columns copied from the stored revision,
    ``created_at`` now), superseding the stored revision nothing supersedes yet."""

    def pick(column: str) -> str:
        if column in new:
            return new[column]
        return "v.created_at" if column == "created_at" else f"t.{column}"

    result = await conn.execute(
        text(
            f"INSERT INTO {table} ({', '.join(columns)}, revision, supersedes_id) "
            f"SELECT {', '.join(pick(c) for c in columns)}, t.revision + 1, t.id "
            f"FROM ({rows}) AS v JOIN {table} t ON {match} "
            f"WHERE NOT EXISTS (SELECT 1 FROM {table} n WHERE n.supersedes_id = t.id) "
            f"AND ({differs})"
        ),
        params,
    )
    return int(result.rowcount)
