"""Assignment (and, later, treatment) strategies: small classes found by name in a registry.

Outside packages add their own through the ``arrears.strategies`` entry-point group; see
``docs/strategies.md``.
"""

from strategies.registry import (
    GROUP,
    DuplicateStrategy,
    Registry,
    StrategyError,
    UnknownStrategy,
    load_registry,
)
from strategies.types import (
    Account,
    Collector,
    CollectorStrategy,
    QueueSpec,
    Roster,
    RoutingStrategy,
    Strategy,
)

__all__ = [
    "GROUP",
    "Account",
    "Collector",
    "CollectorStrategy",
    "DuplicateStrategy",
    "QueueSpec",
    "Registry",
    "Roster",
    "RoutingStrategy",
    "Strategy",
    "StrategyError",
    "UnknownStrategy",
    "load_registry",
]
