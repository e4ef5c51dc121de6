"""The strategy registry: every strategy, built-in or not, is found by name through it.

Built-ins are declared as entry points of the ``arrears.strategies`` group in Arrears' own
``pyproject.toml``, the same way an outside package declares its own; a second class under a
name already taken is refused (alembic's plugin registry works the same way).
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import Any

from strategies.types import Kind, Strategy

GROUP = "arrears.strategies"
KINDS: tuple[Kind, ...] = ("routing", "collector", "treatment")


class StrategyError(Exception):
    """A strategy cannot be registered or found."""


class DuplicateStrategy(StrategyError):
    pass


class UnknownStrategy(StrategyError):
    pass


class Registry:
    def __init__(self) -> None:
        self._classes: dict[str, type[Any]] = {}
        self._sources: dict[str, str] = {}

    def register(self, cls: type[Any], source: str | None = None) -> type[Any]:
        """Add a strategy class; usable as a decorator. A name may be taken only once."""
        name = getattr(cls, "name", None)
        kind = getattr(cls, "kind", None)
        where = source or f"{cls.__module__}:{cls.__qualname__}"
        if not isinstance(name, str) or not name:
            raise StrategyError(f"{where} has no strategy name (a class attribute 'name')")
        if kind not in KINDS:
            raise StrategyError(
                f"{where}: strategy {name!r} has kind {kind!r}; expected one of {', '.join(KINDS)}"
            )
        existing = self._classes.get(name)
        if existing is not None and existing is not cls:
            raise DuplicateStrategy(
                f"strategy name {name!r} is already registered by {self._sources[name]}; "
                f"{where} cannot register it again (rename one of them)"
            )
        self._classes[name] = cls
        self._sources[name] = where
        return cls

    def get(self, name: str, kind: Kind | None = None) -> type[Any]:
        cls = self._classes.get(name)
        if cls is None:
            known = ", ".join(sorted(self.names(kind))) or "none"
            raise UnknownStrategy(f"no strategy named {name!r} (registered: {known})")
        if kind is not None and cls.kind != kind:
            raise UnknownStrategy(f"strategy {name!r} is a {cls.kind} strategy, not {kind}")
        return cls

    def create(self, name: str, kind: Kind | None = None) -> Any:
        strategy = self.get(name, kind)()
        if not isinstance(strategy, Strategy):
            raise StrategyError(f"strategy {name!r} does not implement the interface")
        return strategy

    def names(self, kind: Kind | None = None) -> list[str]:
        return sorted(n for n, c in self._classes.items() if kind is None or c.kind == kind)

    def source(self, name: str) -> str:
        return self._sources[name]


def _source(point: EntryPoint) -> str:
    dist = point.dist.name if point.dist is not None else "?"
    return f"{point.value} (package {dist})"


def load_registry(points: list[EntryPoint] | None = None) -> Registry:
    """A registry of every strategy declared in the entry-point group (or in ``points``)."""
    registry = Registry()
    seen: set[tuple[str, str]] = set()
    for point in points if points is not None else list(entry_points(group=GROUP)):
        # The same distribution found twice on sys.path declares the same pair: not a clash.
        if (point.name, point.value) in seen:
            continue
        seen.add((point.name, point.value))
        cls = point.load()
        if getattr(cls, "name", None) != point.name:
            raise StrategyError(
                f"entry point {point.name!r} = {_source(point)} names a class whose strategy "
                f"name is {getattr(cls, 'name', None)!r}; they must match"
            )
        registry.register(cls, _source(point))
    return registry
