"""Built-in routing: each queue's routing definition, tried in the queues' order.

A routing definition is a small mapping; every key present must match:

* ``buckets``: list of buckets (``["M1"]``), ``tiers``: list of amount tiers (``["L", "XL"]``);
* ``lost_contact``: true or false (失联);
* ``min_outstanding`` / ``max_outstanding``: decimal strings, inclusive / exclusive;
* ``risk_classes``: list of classifications (``["loss"]``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar, Literal

from strategies.types import Account, QueueSpec

ROUTING_KEYS = frozenset(
    {"buckets", "tiers", "lost_contact", "min_outstanding", "max_outstanding", "risk_classes"}
)

# The source policies' segmentation (DESIGN.md §2), tried top to bottom. The field threshold
# (10,000) is the policies' default; queues are data, so a lender edits them without code.
DEFAULT_QUEUES: tuple[dict[str, Any], ...] = (
    {
        "name": "Field visits",
        "kind": "field",
        "description": "Lost contact (失联) with a balance at or above the field threshold",
        "routing": {"lost_contact": True, "min_outstanding": "10000"},
    },
    {
        "name": "Agency",
        "kind": "agency",
        "description": "Lost contact below the field threshold: outside agency placement",
        "routing": {"lost_contact": True},
    },
    {
        "name": "Recovery and legal",
        "kind": "legal",
        "description": "M4 and older: recovery, legal review",
        "routing": {"buckets": ["M4", "M5", "M6", "M7+"]},
    },
    {
        "name": "M2-M3",
        "kind": "collector",
        "description": "31 to 90 days past due",
        "routing": {"buckets": ["M2", "M3"]},
    },
    {
        "name": "M1 senior",
        "kind": "collector",
        "description": "1 to 30 days past due, large balances: senior collectors",
        "routing": {"buckets": ["M1"], "tiers": ["L", "XL"]},
    },
    {
        "name": "M1 early",
        "kind": "collector",
        "description": "1 to 30 days past due, small and medium balances: early collections",
        "routing": {"buckets": ["M1"], "tiers": ["S", "M"]},
    },
    {
        "name": "Automated reminders",
        "kind": "automated",
        "description": "Not overdue: automated reminders only, no collector",
        "routing": {"buckets": ["M0"]},
    },
)


def check_routing(routing: Mapping[str, Any]) -> None:
    """Refuse a routing definition this strategy would silently misread."""
    unknown = set(routing) - ROUTING_KEYS
    if unknown:
        raise ValueError(
            f"unknown routing keys {sorted(unknown)}; known: {', '.join(sorted(ROUTING_KEYS))}"
        )
    for key in ("buckets", "tiers", "risk_classes"):
        value = routing.get(key)
        if value is not None and not (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        ):
            raise ValueError(f"routing {key} must be a list of names")
    if "lost_contact" in routing and not isinstance(routing["lost_contact"], bool):
        raise ValueError("routing lost_contact must be true or false")
    for key in ("min_outstanding", "max_outstanding"):
        if key in routing:
            try:
                Decimal(str(routing[key]))
            except ArithmeticError:
                raise ValueError(f"routing {key} must be an amount") from None


def matches(routing: Mapping[str, Any], account: Account) -> bool:
    buckets = routing.get("buckets")
    if buckets is not None and account.bucket not in buckets:
        return False
    tiers = routing.get("tiers")
    if tiers is not None and account.amount_tier not in tiers:
        return False
    lost = routing.get("lost_contact")
    if lost is not None and account.lost_contact is not lost:
        return False
    classes = routing.get("risk_classes")
    if classes is not None and account.risk_class not in classes:
        return False
    low = routing.get("min_outstanding")
    if low is not None and account.outstanding < Decimal(str(low)):
        return False
    high = routing.get("max_outstanding")
    return high is None or account.outstanding < Decimal(str(high))


class RoutingTable:
    """Bucket × amount tier (and lost contact) → queue: the first queue whose definition matches."""

    name: ClassVar[str] = "routing_table"
    kind: ClassVar[Literal["routing"]] = "routing"

    def route(self, account: Account, queues: Sequence[QueueSpec]) -> QueueSpec | None:
        for queue in queues:
            if matches(queue.routing, account):
                return queue
        return None


class SeniorFirst(RoutingTable):
    """A challenger: every overdue account of tier L or XL below M4 goes to the senior queue
    (the first collector queue taking L/XL), the rest as the routing table says."""

    name: ClassVar[str] = "senior_first"

    def route(self, account: Account, queues: Sequence[QueueSpec]) -> QueueSpec | None:
        if account.amount_tier in ("L", "XL") and account.bucket in ("M1", "M2", "M3"):
            for queue in queues:
                tiers = queue.routing.get("tiers")
                if queue.kind == "collector" and tiers and set(tiers) <= {"L", "XL"}:
                    return queue
        return super().route(account, queues)
