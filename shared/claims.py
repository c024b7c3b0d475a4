"""The claim of consumed events by their ids, pure (no database): the events of a batch not seen before, in
their order, once each. The in-memory inbox of the units of work (`shared.uow.claim_in_memory` is this
function) and a batch's own repeats (`first_of_each`, what a notifier batch applies) are this one
rule; `shared.inbox.claim_events` is its PostgreSQL twin."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import TypeVar

from shared.events import Event

E = TypeVar("E", bound=Event)


def claim_unseen(seen: set[uuid.UUID], events: Iterable[E]) -> list[E]:
    """The events whose ids `seen` lacks, in their order, once each; their ids added to `seen`."""
    todo = []
    for e in events:
        if e.event_id not in seen:
            seen.add(e.event_id)
            todo.append(e)
    return todo


def first_of_each(events: Iterable[E]) -> list[E]:
    """The events in their order, each event id once (a batch that holds a record twice)."""
    return claim_unseen(set(), events)
