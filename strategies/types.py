"""The facts a strategy decides on and the small interfaces strategies implement.

Strategies are plain classes with a ``name`` and a ``kind``; they see plain data (no database,
no settings) so that the same class runs in the nightly batch, on demand and in a unit test.
"""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from service.domain.queues import WORKED_KINDS

Kind = Literal["routing", "collector", "treatment"]


@dataclasses.dataclass(frozen=True, slots=True)
class Account:
    """One open loan as the assignment step sees it (its position from the last COB)."""

    loan_id: int
    loan_ref: str
    bucket: str
    amount_tier: str
    days_past_due: int
    outstanding: Decimal
    risk_class: str
    lost_contact: bool
    locale: str
    region: str
    queue_id: int | None
    collector_id: int | None


@dataclasses.dataclass(slots=True)
class Collector:
    """A queue member who can take accounts; ``load`` is their open accounts, kept up to date."""

    id: int
    username: str
    languages: frozenset[str]
    capacity: int | None  # None: no limit
    load: int = 0

    def has_room(self) -> bool:
        return self.capacity is None or self.load < self.capacity

    def speaks(self, locale: str) -> bool:
        language = locale.split("-", 1)[0].lower()
        return any(lang.split("-", 1)[0].lower() == language for lang in self.languages)


@dataclasses.dataclass(frozen=True, slots=True)
class QueueSpec:
    """A queue with its routing definition and the strategy that picks collectors in it."""

    id: int
    name: str
    kind: str  # a QueueKind (service.domain.queues)
    routing: Mapping[str, Any]
    collector_strategy: str
    position: int
    members: tuple[Collector, ...] = ()

    @property
    def worked_by_collectors(self) -> bool:
        return self.kind in WORKED_KINDS


class Roster:
    """The members of one queue and their loads, shared by every choice made in one run.

    The least-loaded lookups use a heap with lazy invalidation, so a run over a million accounts
    costs a logarithm per account, not a scan of the members.
    """

    def __init__(self, members: Sequence[Collector]) -> None:
        self.members = tuple(sorted(members, key=lambda c: c.id))
        self.by_id = {member.id: member for member in self.members}
        self._heaps: dict[str | None, list[tuple[int, int]]] = {}
        self.cursor = 0  # round-robin position

    def _heap(self, language: str | None) -> list[tuple[int, int]]:
        heap = self._heaps.get(language)
        if heap is None:
            heap = [
                (m.load, m.id)
                for m in self.members
                if m.has_room() and (language is None or m.speaks(language))
            ]
            heapq.heapify(heap)
            self._heaps[language] = heap
        return heap

    def least_loaded(self, language: str | None = None) -> Collector | None:
        heap = self._heap(language)
        while heap:
            load, member_id = heap[0]
            member = self.by_id[member_id]
            if load == member.load and member.has_room():
                return member
            # Stale (the load moved since; changed() pushed the new one) or full: drop it.
            heapq.heappop(heap)
        return None

    def changed(self, member: Collector) -> None:
        """Tell the heaps a member's load moved (the engine calls this after each move)."""
        for language, heap in self._heaps.items():
            if member.has_room() and (language is None or member.speaks(language)):
                heapq.heappush(heap, (member.load, member.id))


@runtime_checkable
class Strategy(Protocol):
    name: ClassVar[str]
    kind: ClassVar[Kind]


class RoutingStrategy(Strategy, Protocol):
    """Picks the queue for an account (None: no queue fits; the account stays where it is)."""

    def route(self, account: Account, queues: Sequence[QueueSpec]) -> QueueSpec | None: ...


class CollectorStrategy(Strategy, Protocol):
    """Picks the collector for an account within a queue (None: leave it in the queue's pool)."""

    def choose(self, account: Account, queue: QueueSpec, roster: Roster) -> Collector | None: ...
