"""Route every overdue account to the queue of its borrower's region ("Region <code>")."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

from strategies import Account, QueueSpec


class ByRegion:
    name: ClassVar[str] = "by_region"
    kind: ClassVar[Literal["routing"]] = "routing"

    def route(self, account: Account, queues: Sequence[QueueSpec]) -> QueueSpec | None:
        wanted = f"Region {account.region}" if account.bucket != "M0" else "Automated reminders"
        return next((queue for queue in queues if queue.name == wanted), None)
