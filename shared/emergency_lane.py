"""An emergency's decisions are the urgent process's alone.

Eligibility publishes each EMERGENCY-path decision twice in one outbox write, same event id and key: on
pbi.decisions.v1 (every decision, for every reader of the full stream) and on pbi.emergency-decisions.v1
(the urgent roles' lane). Where a service runs its roles as two processes (make up, Kubernetes), the urgent
process applies the lane's copy; when the bulk process applied the full stream's copy too, the two raced for
the person's row, and when the bulk one took it first the emergency waited for a lower-priority process's
transaction (seen in `make bench` with `log_lock_waits`: the registry's urgent process 0.3-0.9 s behind its
bulk process's lock on the same participant). So a bulk-only process leaves those copies alone; nothing is
lost, the lane keeps them 30 days for the urgent consumer group to resume from. A process running both roles
(`all`) reads both topics at one priority and applies whichever copy comes first (the second finds the
first's effect): there is no one to leave them to, and nothing to wait behind.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from shared.enums import ReactivationPath
from shared.events import ReactivationDecided
from shared.settings import Role
from shared.topics import DECISIONS, TopicSpec

E = TypeVar("E")
Handler = Callable[[list[E]], Awaitable[None]]
_DECIDED = ReactivationDecided.model_fields["type"].default


def on_emergency_lane(event: object) -> bool:
    """A record of pbi.decisions.v1 whose copy is on pbi.emergency-decisions.v1: an emergency's decision."""
    return getattr(event, "type", None) == _DECIDED and getattr(event, "path", None) is ReactivationPath.EMERGENCY


def without_emergency_copies(handler: Handler[E]) -> Handler[E]:
    """`handler` for every record but the emergencies' decisions (a batch of only those is acknowledged
    without calling it)."""

    async def on_decisions(events: Sequence[E]) -> None:
        kept = [e for e in events if not on_emergency_lane(e)]
        if kept:
            await handler(kept)

    return on_decisions


def handler_for(role: Role, spec: TopicSpec, handler: Handler[E]) -> Handler[E]:
    """What a process of `role` registers on `spec`: `handler`, without the emergencies' copies on
    pbi.decisions.v1 in a bulk-only process."""
    if spec is DECISIONS and role is Role.BULK:
        return without_emergency_copies(handler)
    return handler
