"""Reading a contract file: UTF-8 CSV line by line (physical line numbers, undecodable lines
reported), its header checked, rows parsed into chunks of typed staging rows and row errors."""

from __future__ import annotations

import csv
import dataclasses
import operator
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

from service.ingest.contract import FileSpec, ParseContext, RowRejected

# Row errors held before a chunk is written out, however few rows it has.
MAX_FIELD_ERRORS_IN_MEMORY = 5_000


@dataclasses.dataclass(slots=True)
class Chunk:
    rows: dict[str, list[tuple[Any, ...]]]
    errors: list[dict[str, Any]]
    read: int = 0
    rejected: int = 0
    position: int = 0


def parse_chunks(
    handle: BinaryIO,
    spec: FileSpec,
    run_id: int,
    ctx: ParseContext,
    tables: tuple[str, ...],
    chunk_rows: int,
) -> Iterator[Chunk]:
    """Parse the file into chunks of staged rows (each with its line number) and row errors."""

    def empty() -> Chunk:
        return Chunk(rows={table: [] for table in tables}, errors=[])

    chunk = empty()
    parse = spec.parse
    for line, row, problem in _read_rows(handle, spec, run_id):
        if line > 1:
            chunk.read += 1
        if problem is None:
            try:
                staged = parse(row, ctx, line)
            except RowRejected as exc:
                problem = [row_error(run_id, spec.file, line, c, r) for c, r in exc.problems]
            else:
                for table, rows in staged.items():
                    chunk.rows[table].extend(rows)
        if problem is not None:
            chunk.errors.extend(problem)
            chunk.rejected += 1 if line > 1 else 0
        full = len(chunk.rows[spec.main_stage]) >= chunk_rows
        if full or len(chunk.errors) >= MAX_FIELD_ERRORS_IN_MEMORY:
            chunk.position = handle.tell()
            yield chunk
            chunk = empty()
    chunk.position = handle.tell()
    yield chunk


def row_error(run_id: int, file: str, line: int, column: str, reason: str) -> dict[str, Any]:
    return {"run_id": run_id, "file": file, "line": line, "column_name": column, "reason": reason}


def _read_rows(
    handle: BinaryIO, spec: FileSpec, run_id: int
) -> Iterator[tuple[int, Sequence[str], list[dict[str, Any]] | None]]:
    """Yield (line, raw values in the spec's column order, problems) for every data row.

    Lines are physical line numbers (the header is line 1), so a quoted value spanning lines
    does not shift the numbers reported for later rows.
    """
    undecodable: set[int] = set()
    reader = csv.reader(_decoded_lines(handle, undecodable))
    try:
        header = next(reader)
    except StopIteration:
        yield 1, (), [row_error(run_id, spec.file, 1, "*", "file is empty (no header row)")]
        return
    except csv.Error as exc:
        yield 1, (), [row_error(run_id, spec.file, 1, "*", f"unreadable header: {exc}")]
        return
    names = [name.strip().lower() for name in header]
    missing = sorted(spec.required_columns - set(names))
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if missing or duplicated:
        problems = [
            row_error(run_id, spec.file, 1, name, "required column missing from header")
            for name in missing
        ]
        problems += [
            row_error(run_id, spec.file, 1, name, "column appears twice in header")
            for name in duplicated
        ]
        yield 1, (), problems
        return
    width = len(names)
    # Optional columns the file lacks read as the empty string appended at position `width`.
    pick = operator.itemgetter(
        *[names.index(column) if column in names else width for column in spec.columns]
    )
    line = reader.line_num
    while True:
        start = line + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            line = reader.line_num
            yield start, (), [row_error(run_id, spec.file, start, "*", f"malformed CSV: {exc}")]
            continue
        line = reader.line_num
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue  # blank line
        if len(fields) != width:
            reason = f"expected {width} fields, found {len(fields)}"
            yield start, (), [row_error(run_id, spec.file, start, "*", reason)]
            continue
        if undecodable and any(start <= bad <= line for bad in undecodable):
            yield start, (), [row_error(run_id, spec.file, start, "*", "text is not valid UTF-8")]
            continue
        fields.append("")
        yield start, pick(fields), None


def _decoded_lines(handle: BinaryIO, undecodable: set[int]) -> Iterator[str]:
    """Decode line by line, noting the physical lines that are not UTF-8."""
    first = True
    for number, raw in enumerate(handle, start=1):
        try:
            decoded = raw.decode("utf-8")
        except UnicodeDecodeError:
            decoded = raw.decode("utf-8", errors="replace")
            undecodable.add(number)
        if first:
            decoded = decoded.removeprefix("\ufeff")  # Excel writes a byte-order mark
            first = False
        yield decoded
