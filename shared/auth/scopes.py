"""The scopes an API key can carry, and what each event type needs.

A government system reports the facts it owns and nothing else: Dukcapil deaths and biometrics,
DTSEN desil, SIKS-NG deactivations. `events:write` predates the per-type scopes and still means
"every event type", so keys issued before them keep working; new keys should get only the types
their system owns.
"""

from __future__ import annotations

from collections.abc import Iterable

ALL_EVENTS = "events:write"
EVENT_SCOPES: dict[str, str] = {
    "participant.deactivated": "events:deactivations",
    "participant.desil_updated": "events:desil",
    "participant.biometric_recorded": "events:biometric",
    "participant.death_reported": "events:deaths",
    "participant.nik_conflict_reported": "events:nik_conflicts",
    "participant.nik_conflict_resolved": "events:nik_conflicts",
    "participant.id_semesta_assigned": "events:id_semesta",
}
EVENT_TYPE_SCOPES = tuple(dict.fromkeys(EVENT_SCOPES.values()))
ANY_EVENTS = (ALL_EVENTS, *EVENT_TYPE_SCOPES)  # any of these lets a key reach POST /v1/events

# The operations worklist (registry): reading it and marking items done, within the key's region
# when the key is bound to one (a Dinsos office sees its own province or regency only).
WORKLIST_READ, WORKLIST_WRITE = "worklist:read", "worklist:write"

# Data-subject rights (UU PDP): erasing a person's contact data, reading who read their record.
PRIVACY_ADMIN = "privacy:admin"

SCOPES = (
    ALL_EVENTS,
    *EVENT_TYPE_SCOPES,
    "reactivations:write",
    "emergency:write",
    "participants:read",
    "dashboard:read",
    PRIVACY_ADMIN,
    WORKLIST_READ,
    WORKLIST_WRITE,
)


def forbidden_event_types(scopes: frozenset[str], types: Iterable[str]) -> list[str]:
    """The known event types among `types` that a key with `scopes` may not post, sorted. Unknown
    types are not named here: validation answers them (422)."""
    if ALL_EVENTS in scopes:
        return []
    return sorted({t for t in types if t in EVENT_SCOPES and EVENT_SCOPES[t] not in scopes})
