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
