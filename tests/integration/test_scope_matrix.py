"""Every authenticated endpoint x every scope (the per-event-type ones included) x no key, on real
Kafka + PostgreSQL: 401 without a key, 403 without the scope, 2xx (or 404 for an unknown id) with
it. The end-to-end twin (tests/e2e/test_user_paths.py::test_scope_matrix) runs the same against
the running system."""

from __future__ import annotations

import uuid

import httpx

from services.intake.app import create_app as create_intake
from services.intake.store import Facility
from services.registry.app import create_app as create_registry
from shared.auth import EVENT_SCOPES, SCOPES
from shared.settings import IntakeSettings, RegistrySettings, Settings
from testkit.apps import running

NIK = "3674015708900001"
NOW = "2026-11-24T08:00:00+07:00"
FIELDS: dict[str, dict[str, object]] = {
    "participant.deactivated": {"deactivated_on": "2026-11-01", "reason": "DESIL_ABOVE_5"},
    "participant.desil_updated": {"desil": 3, "effective_on": "2026-11-20"},
    "participant.biometric_recorded": {"recorded_on": "2026-11-20"},
    "participant.death_reported": {"died_on": "2026-11-20"},
    "participant.nik_conflict_reported": {},
    "participant.nik_conflict_resolved": {},
    "participant.id_semesta_assigned": {"id_semesta": "0001234567890"},
}
LETTER = {"hospital_letter": {"facility_code": "3674R001", "letter_no": "IGD/1", "issued_on": "2026-11-24"}}

INTAKE = [
    *(
        ("POST", "/v1/events", {"type": t, "occurred_at": NOW, "nik": NIK, **FIELDS[t]}, {"events:write", scope})
        for t, scope in EVENT_SCOPES.items()
    ),
    ("POST", "/v1/reactivations", {"nik": NIK, "path": "REGULAR", "channel": "DINSOS"}, {"reactivations:write"}),
    (
        "POST",
        "/v1/reactivations",
        {"nik": NIK, "path": "EMERGENCY", "channel": "HOSPITAL", "documents": LETTER},
        {"emergency:write"},
    ),
    (
        "POST",
        "/v1/hospital/emergency-reactivations",
        {"nik": NIK, "facility_code": "3674R001", "letter_no": "L/1", "admitted_at": NOW},
        {"emergency:write"},
    ),
    (
        "GET",
        f"/v1/reactivations/{uuid.uuid4()}",
        None,
        {"reactivations:write", "participants:read", "emergency:write"},
    ),
    ("POST", "/v1/appeals", {"request_id": str(uuid.uuid4()), "grounds": "x"}, {"reactivations:write"}),
    ("GET", f"/v1/appeals/{uuid.uuid4()}", None, {"reactivations:write", "participants:read", "worklist:read"}),
    (
        "GET",
        f"/v1/appeals?request_id={uuid.uuid4()}",
        None,
        {"reactivations:write", "participants:read", "worklist:read"},
    ),
    ("POST", f"/v1/appeals/{uuid.uuid4()}/decision", {"status": "DISMISSED"}, {"worklist:write"}),
]
REGISTRY = [
    ("GET", f"/v1/participants/{NIK}", None, {"participants:read", "dashboard:read"}),
    ("GET", "/v1/stats", None, {"participants:read", "dashboard:read"}),
    ("GET", "/dashboard/snapshot", None, {"dashboard:read"}),
    ("GET", "/v1/worklist", None, {"worklist:read"}),
    ("POST", f"/v1/worklist/{uuid.uuid4()}/done", {"note": "x"}, {"worklist:write"}),
    ("GET", f"/v1/participants/{NIK}/access-log", None, {"privacy:admin"}),
    ("DELETE", f"/v1/participants/{NIK}/personal-data", None, {"privacy:admin"}),
]


async def check(client: httpx.AsyncClient, keys: dict[str, str], endpoints: list) -> list:  # type: ignore[type-arg]
    wrong = []
    for method, path, body, allowed in endpoints:
        if (code := (await client.request(method, path, json=body)).status_code) != 401:
            wrong.append((path, "no key", code))
        for scope, key in keys.items():
            r = await client.request(method, path, json=body, headers={"Authorization": f"Bearer {key}"})
            ok = r.status_code in (200, 202, 404) if scope in allowed else r.status_code == 403
            if not ok:
                wrong.append((path, (body or {}).get("type") or (body or {}).get("path"), scope, r.status_code, r.text))
    return wrong


async def test_every_endpoint_every_scope_and_no_key(settings: Settings) -> None:
    assert set(EVENT_SCOPES.values()) <= set(SCOPES)
    intake = create_intake(IntakeSettings(**settings.model_dump()))
    registry = create_registry(RegistrySettings(**settings.model_dump()))
    async with running(intake), running(registry):
        keys = {
            s: await intake.state.api_keys.issue(s, [s], ["3674R001"] if s == "emergency:write" else None)
            for s in SCOPES
        }
        async with intake.state.sessions() as session, session.begin():
            session.add(Facility(code="3674R001", name="RSUD Tangsel"))
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=intake), base_url="http://intake") as to_intake,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=registry), base_url="http://registry") as to_registry,
        ):
            wrong = await check(to_intake, keys, INTAKE) + await check(to_registry, keys, REGISTRY)
    assert not wrong, wrong
