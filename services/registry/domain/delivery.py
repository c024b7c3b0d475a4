"""When a message was sent, delivered and failed, from the notifier's state updates (for the dashboard's
messages over time). A later state implies the earlier ones: delivered or read means sent too, read means
delivered, so a skipped report still counts. The first report of each moment is the one kept."""

from __future__ import annotations

import datetime as dt

from shared.enums import DeliveryState

IMPLIES: dict[DeliveryState, tuple[str, ...]] = {
    DeliveryState.QUEUED: (),
    DeliveryState.SENT: ("sent_at",),
    DeliveryState.DELIVERED: ("sent_at", "delivered_at"),
    DeliveryState.READ: ("sent_at", "delivered_at"),
    DeliveryState.FAILED: ("failed_at",),
}
MOMENTS = ("sent_at", "delivered_at", "failed_at")


def moments(state: DeliveryState, at: dt.datetime, known: dict[str, dt.datetime | None] | None = None) -> dict:
    """The moments after an update in `state` at `at`, given those already `known` (earliest wins)."""
    out = {m: (known or {}).get(m) for m in MOMENTS}
    for m in IMPLIES[state]:
        current = out[m]
        out[m] = at if current is None or at < current else current
    return out


# A message's current state is its latest report's (the one of the same moment later in this order on a
# tie): applied in any order and any number of times, the updates end in the same row, so an update needs
# no inbox claim (a redelivered one changes nothing). uow.py's upsert states the same in SQL.
RANK = {s.value: i for i, s in enumerate(DeliveryState)}


def merge(old: dict | None, new: dict) -> dict:
    """A message's row after the update `new` (message_id, channel, kind, state, updated_at and the moments)
    meets `old` (None: its first)."""
    if old is None:
        return dict(new)
    later = (new["updated_at"], RANK[new["state"]]) >= (old["updated_at"], RANK[old["state"]])
    out = {**old, "state": new["state"] if later else old["state"]}
    out["updated_at"] = max(old["updated_at"], new["updated_at"])
    for m in MOMENTS:
        known = [t for t in (old.get(m), new.get(m)) if t is not None]
        out[m] = min(known) if known else None
    return out
