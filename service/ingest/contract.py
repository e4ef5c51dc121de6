"""The import contract's building blocks: how a file is described (:class:`FileSpec`), how a row
is parsed into typed staging rows (every problem of the row collected, not just the first), and
the set-based checks and upsert that follow (DESIGN.md §5)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from service.db.dialect import Columns
from service.ingest import fields as f


class RowRejected(Exception):
    """A row failed parsing; ``problems`` is a list of (column, reason)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__(problems)
        self.problems = problems


@dataclasses.dataclass(frozen=True, slots=True)
class ParseContext:
    default_region: str
    now: dt.datetime
    lender_zone: str = "Asia/Shanghai"  # whose calendar a moment's date is read in


StagedRows = dict[str, list[tuple[Any, ...]]]
# A row parser gets the row's raw values in the spec's column order ("" for an optional column
# the file lacks) and its line number; staged rows start with that line number.
RowParser = Callable[[Sequence[str], ParseContext, int], StagedRows]


@dataclasses.dataclass(frozen=True, slots=True)
class Parent:
    """A reference from a staged row to a stored row, e.g. loans.borrower_ref → borrowers."""

    column: str  # staging column holding the reference
    table: str
    ref_column: str


@dataclasses.dataclass(frozen=True, slots=True)
class Check:
    """A set-based check: ``sql`` selects ``line, reason`` of the staged rows it rejects."""

    column: str
    sql: str


@dataclasses.dataclass(frozen=True, slots=True)
class Upsert:
    target: str
    conflict: tuple[str, ...]
    # target column -> SQL expression over the staging alias ``s`` and the joins
    values: Mapping[str, str]
    joins: str = ""
    # target columns written on insert only (never changed by a re-import)
    insert_only: tuple[str, ...] = ("created_at",)
    # target column -> SQL condition over the stored row ``t`` and the new values ``v`` under
    # which a re-import leaves the stored value as it is
    keep: Mapping[str, str] = dataclasses.field(default_factory=dict)
    # An append-only target (the contact log): a re-imported row with other values is stored as
    # a new revision superseding the stored one (``revision``, ``supersedes_id``), never an
    # UPDATE; the key then matches every revision, and the stored one is the newest.
    append_only: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class FileSpec:
    file: str
    columns: tuple[str, ...]
    required_columns: frozenset[str]
    key: tuple[str, ...]
    stage: Mapping[str, Columns]  # staging table -> columns (the main table first)
    parse: RowParser
    upsert: Upsert
    parents: tuple[Parent, ...] = ()
    checks: tuple[Check, ...] = ()
    after: tuple[str, ...] = ()  # SQL statements run after the upsert (bound :now)
    # Whether stored rows change loans' positions (schedules, payments): refreshed after import.
    moves_positions: bool = False
    # Extra staging indexes (SQLite plans nested loops; without them some steps go quadratic).
    stage_indexes: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)

    @property
    def main_stage(self) -> str:
        return next(iter(self.stage))


def parse_columns(row: Mapping[str, str], parsers: Mapping[str, f.Parser]) -> dict[str, Any]:
    """Apply a parser per column, collecting every problem of the row, not just the first."""
    raw = [row.get(column, "") for column in parsers]
    return dict(zip(parsers, parse_values(raw, tuple(parsers.items())), strict=True))


def parse_values(
    raw: Sequence[str], parsers: tuple[tuple[str, f.Parser], ...], *prefix: Any
) -> tuple[Any, ...]:
    """``prefix`` then each raw value parsed by its column's parser (the hot path: no dict)."""
    values: list[Any] = list(prefix)
    problems: list[tuple[str, str]] | None = None
    for value, (column, parser) in zip(raw, parsers, strict=True):
        try:
            values.append(parser(value))
        except f.FieldError as exc:
            if problems is None:
                problems = []
            problems.append((column, str(exc)))
    if problems:
        raise RowRejected(problems)
    return tuple(values)
