"""Deterministic ids and body fingerprints, so a retried submission changes nothing downstream."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from typing import Any

from shared.enums import SlaState
from shared.sla import sla_shown

NAMESPACE = uuid.UUID("3b8d0f7e-2c64-4c1f-a6f2-0e6b1f2d9a45")


# json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False), without a new encoder per call
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_NAMESPACE_BYTES = NAMESPACE.bytes


def canonical(body: Any) -> str:
    return _CANONICAL.encode(body)


def body_hash(body: Any) -> str:
    return hashlib.sha256(canonical(body).encode()).hexdigest()


def event_id_for(raw_event: dict[str, Any]) -> uuid.UUID:
    """An event sent without an id gets one derived from its content: resending the same event
    (a client retry after a timeout) yields the same id, which consumers de-duplicate on."""
    return uuid.uuid5(NAMESPACE, _content(raw_event))


def event_id_text(raw_event: dict[str, Any]) -> str:
    """str(event_id_for(raw_event)), computed as uuid5 does (SHA-1 of namespace and name, version 5, RFC 4122
    variant) without a UUID object: a batch derives thousands."""
    h = hashlib.sha1(_NAMESPACE_BYTES + _content(raw_event).encode()).hexdigest()
    variant = "89ab"[int(h[16], 16) & 3]
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{variant}{h[17:20]}-{h[20:32]}"


def _content(raw_event: dict[str, Any]) -> str:
    """The canonical JSON of the event without its event_id."""
    return canonical({k: v for k, v in raw_event.items() if k != "event_id"} if "event_id" in raw_event else raw_event)


def request_id_for(key_id: str, idempotency_key: str | None) -> uuid.UUID:
    """A request sent with an Idempotency-Key always gets the same id: if intake dies after publishing
    but before answering, the client's retry publishes the very same request (same event id), which
    every consumer de-duplicates, instead of a second request for the same person."""
    if not idempotency_key:
        return uuid.uuid4()
    return uuid.uuid5(NAMESPACE, f"request:{key_id}:{idempotency_key}")


def import_event_id(nik: str, deactivated_on: str, reason: str) -> uuid.UUID:
    """One row of a deactivation list always maps to the same event, however often it is imported."""
    return uuid.uuid5(NAMESPACE, f"import:{nik}:{deactivated_on}:{reason}")


def sla_state(
    status: str,
    stored: str | None,
    deadline: dt.datetime | None,
    warning_after: dt.timedelta,
    received_at: dt.datetime,
    now: dt.datetime,
    decided_at: dt.datetime | None = None,
) -> SlaState | None:
    """The SLA state shown for a request (shared.sla): the stored fold, the request's final status at its
    decision time `decided_at` and, while the clock runs, the clock. Approved after the deadline is
    BREACHED; rejected or expired is CLOSED."""
    return sla_shown(stored, status, deadline, received_at, now, decided_at, warning_after=warning_after)
