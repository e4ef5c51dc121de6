"""Built-in choices of a collector within a queue. Each respects capacity (max open accounts)
except sticky, which keeps a current collector while they remain in the queue."""

from __future__ import annotations

from typing import ClassVar, Literal

from strategies.types import Account, Collector, QueueSpec, Roster


class LeastLoaded:
    name: ClassVar[str] = "least_loaded"
    kind: ClassVar[Literal["collector"]] = "collector"

    def choose(self, account: Account, queue: QueueSpec, roster: Roster) -> Collector | None:
        return roster.least_loaded()


class RoundRobin:
    """Members in turn (by id), skipping anyone at capacity."""

    name: ClassVar[str] = "round_robin"
    kind: ClassVar[Literal["collector"]] = "collector"

    def choose(self, account: Account, queue: QueueSpec, roster: Roster) -> Collector | None:
        members = roster.members
        for _ in range(len(members)):
            member = members[roster.cursor % len(members)]
            roster.cursor += 1
            if member.has_room():
                return member
        return None


class Sticky:
    """Keep the current collector while they remain in the queue; otherwise the least loaded."""

    name: ClassVar[str] = "sticky"
    kind: ClassVar[Literal["collector"]] = "collector"

    def choose(self, account: Account, queue: QueueSpec, roster: Roster) -> Collector | None:
        if account.collector_id is not None:
            current = roster.by_id.get(account.collector_id)
            if current is not None:
                return current
        return roster.least_loaded()


class LanguageMatch:
    """The least-loaded member who speaks the borrower's language; anyone if nobody does."""

    name: ClassVar[str] = "language_match"
    kind: ClassVar[Literal["collector"]] = "collector"

    def choose(self, account: Account, queue: QueueSpec, roster: Roster) -> Collector | None:
        return roster.least_loaded(account.locale) or roster.least_loaded()
