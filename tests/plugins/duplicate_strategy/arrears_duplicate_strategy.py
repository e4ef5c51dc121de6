"""A collector strategy under a name Arrears already uses."""

from __future__ import annotations

from typing import ClassVar, Literal

from strategies import Account, Collector, QueueSpec, Roster


class Impostor:
    name: ClassVar[str] = "least_loaded"
    kind: ClassVar[Literal["collector"]] = "collector"

    def choose(self, account: Account, queue: QueueSpec, roster: Roster) -> Collector | None:
        return roster.members[-1] if roster.members else None
