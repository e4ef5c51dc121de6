"""Column types that behave the same on PostgreSQL and SQLite.

SQLite is the embedded default; PostgreSQL is production. These types hide the two differences
that matter to us: SQLite has no native decimal and no aware timestamps.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import Dialect, Numeric, types

from service.db.dialect import is_postgresql


class _ExactDecimal(types.TypeDecorator[Decimal]):
    """NUMERIC(precision, scale) in the database, ``Decimal`` in Python, never a float between.

    SQLite has no decimal type: it hands back floats, which we round to the column's scale; that
    is exact while the value has at most 15 significant digits (money below 10^13).
    """

    impl = Numeric(18, 2, asdecimal=False)
    cache_ok = True
    precision = 18
    scale = 2

    def load_dialect_impl(self, dialect: Dialect) -> types.TypeEngine[Any]:
        if is_postgresql(dialect):
            return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=False))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return value if is_postgresql(dialect) else str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        number = value if isinstance(value, Decimal) else Decimal(repr(value))
        return self.finish(number.quantize(Decimal(1).scaleb(-self.scale)))

    def finish(self, value: Decimal) -> Decimal:
        return value


class Money(_ExactDecimal):
    """An amount: NUMERIC(18, 2), always two decimals."""

    cache_ok = True  # SQLAlchemy asks each subclass itself


class Rate(_ExactDecimal):
    """An interest rate as a fraction, NUMERIC(12, 8): 0.072 a year, 0.0005 a day."""

    impl = Numeric(12, 8, asdecimal=False)
    cache_ok = True
    precision = 12
    scale = 8

    def finish(self, value: Decimal) -> Decimal:
        return value.normalize()


class Coefficient(_ExactDecimal):
    """A multiplier such as the credit coefficient: NUMERIC(6, 3)."""

    impl = Numeric(6, 3, asdecimal=False)
    cache_ok = True
    precision = 6
    scale = 3


class UTCDateTime(types.TypeDecorator[dt.datetime]):
    """An aware UTC timestamp. Naive datetimes are refused rather than guessed."""

    impl = types.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: times are stored as aware UTC")
        value = value.astimezone(dt.UTC)
        return value if is_postgresql(dialect) else value.replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        moment: dt.datetime = value
        if moment.tzinfo is None:
            return moment.replace(tzinfo=dt.UTC)
        return moment.astimezone(dt.UTC)
