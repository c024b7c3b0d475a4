"""How POST /v1/events is documented: one participant event (a union discriminated on `type`) or
{"events": [...]}, with an example per type. The schemas are the event models' own (shared.events),
so the document cannot drift from what parse_events accepts."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from services.intake.events_body import MAX_BATCH
from shared.events import ParticipantEvent

REF = "#/components/schemas/{model}"
SOURCE_NOTE = "Replaced by the API key's source (`pbi keys issue --source`): may be left out."


def event_schemas() -> dict[str, Any]:
    """components/schemas: each participant event model, `ParticipantEvent` (their union, discriminated
    on `type`) and `EventBatch`."""
    union = TypeAdapter(ParticipantEvent).json_schema(ref_template=REF)
    schemas: dict[str, Any] = union.pop("$defs")
    for name in union["discriminator"]["mapping"].values():
        model = schemas[name.rsplit("/", 1)[-1]]
        model["required"] = [f for f in model.get("required", []) if f != "source"]
        model["properties"]["source"] = {**model["properties"]["source"], "description": SOURCE_NOTE}
    schemas["ParticipantEvent"] = union
    schemas["EventBatch"] = {
        "title": "EventBatch",
        "type": "object",
        "properties": {
            "events": {
                "type": "array",
                "items": {"$ref": REF.format(model="ParticipantEvent")},
                "minItems": 1,
                "maxItems": MAX_BATCH,
            }
        },
        "required": ["events"],
        "additionalProperties": False,
        "description": "Accepted whole or refused whole.",
    }
    return schemas


NIK = "3674015708900001"
AT = "2026-11-01T08:00:00+07:00"
EXAMPLES: dict[str, tuple[str, dict[str, Any]]] = {
    "deactivated": (
        "SIKS-NG: a participant deactivated",
        {
            "type": "participant.deactivated",
            "occurred_at": AT,
            "nik": NIK,
            "deactivated_on": "2026-11-01",
            "reason": "DESIL_ABOVE_5",
            "funding": "APBN",
            "name": "Siti Aminah",
            "phone": "0812-3456-7890",
            "region": {"province": "BANTEN", "regency": "KOTA TANGERANG SELATAN", "district": "SERPONG"},
        },
    ),
    "desil_updated": (
        "DTSEN: a new desil",
        {"type": "participant.desil_updated", "occurred_at": AT, "nik": NIK, "desil": 3, "effective_on": "2026-11-01"},
    ),
    "biometric_recorded": (
        "BPJS: biometrics recorded",
        {"type": "participant.biometric_recorded", "occurred_at": AT, "nik": NIK, "recorded_on": "2026-11-01"},
    ),
    "death_reported": (
        "Dukcapil: a death",
        {"type": "participant.death_reported", "occurred_at": AT, "nik": NIK, "died_on": "2026-10-30"},
    ),
    "nik_conflict_reported": (
        "Dukcapil: a NIK conflict opened",
        {"type": "participant.nik_conflict_reported", "occurred_at": AT, "nik": NIK},
    ),
    "nik_conflict_resolved": (
        "Dukcapil: a NIK conflict resolved",
        {"type": "participant.nik_conflict_resolved", "occurred_at": AT, "nik": NIK},
    ),
    "id_semesta_assigned": (
        "An ID Semesta assigned",
        {"type": "participant.id_semesta_assigned", "occurred_at": AT, "nik": NIK, "id_semesta": "IDS-0001"},
    ),
}


def _examples() -> dict[str, Any]:
    out = {name: {"summary": summary, "value": value} for name, (summary, value) in EXAMPLES.items()}
    out["batch"] = {
        "summary": f'A batch: {{"events": [...]}}, 1 to {MAX_BATCH:,} events of any types',
        "value": {"events": [EXAMPLES["deactivated"][1], EXAMPLES["biometric_recorded"][1]]},
    }
    return out


# openapi_extra of the route (merged into FastAPI's operation).
EVENTS_BODY: dict[str, Any] = {
    "requestBody": {
        "description": f'One event, or {{"events": [...]}} with up to {MAX_BATCH:,}',
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"$ref": REF.format(model="ParticipantEvent")},
                        {"$ref": REF.format(model="EventBatch")},
                    ]
                },
                "examples": _examples(),
            }
        },
    }
}
