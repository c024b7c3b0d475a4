"""The paths people take, through the running system's public contract only (real processes,
real Kafka, real PostgreSQL, the provider simulator)."""

from __future__ import annotations

import uuid

import httpx

from shared.auth import SCOPES
from testkit.bodies import TODAY, fact, nik, recent_deactivation
from testkit.clients import has_status, participant, post_events
from testkit.keys import Keys
from testkit.log_scan import leaks
from testkit.polling import eventually
from testkit.system import RunningSystem


async def test_hospital_emergency_makes_the_patient_active_and_meets_the_sla(
    system: RunningSystem, keys: Keys, http: httpx.AsyncClient
) -> None:
    writer, reader = await keys.issue("events:write"), await keys.issue("participants:read")
    hospital = await keys.issue("emergency:write", ["3674R001"])
    patient = nik(1)
    await post_events(http, system, writer, recent_deactivation(patient))
    await eventually(lambda: has_status(http, system, reader, patient, "INACTIVE"), timeout=60)

    r = await http.post(
        system.url("intake") + "/v1/hospital/emergency-reactivations",
        headers={"Authorization": f"Bearer {hospital}"},
        json={
            "nik": patient,
            "facility_code": "3674R001",
            "letter_no": "IGD/77",
            "admitted_at": TODAY.isoformat(),
            "phone": "081234500001",
        },
    )
    assert r.status_code == 202
    request_id = r.json()["request_id"]
    await eventually(lambda: has_status(http, system, reader, patient, "ACTIVE"), timeout=60)

    async def met() -> dict:
        s = await http.get(
            system.url("intake") + f"/v1/reactivations/{request_id}", headers={"Authorization": f"Bearer {hospital}"}
        )
        # The decision and the SLA state travel on different topics: either may be applied first.
        done = s.json().get("sla_state") == "MET" and s.json().get("status") == "APPROVED"
        return s.json() if done else {}

    status = await eventually(met, timeout=60)
    assert status["status"] == "APPROVED" and status["path"] == "EMERGENCY"
    history = [h["status"] for h in (await participant(http, system, reader, patient))["history"]]
    # Eligibility reads the deactivation (bulk) and the emergency (urgent) on two topics: on a loaded machine the
    # emergency may come first, wait PENDING for its deactivation (the grace recheck), then be approved.
    assert history in (["INACTIVE", "ACTIVE"], ["INACTIVE", "REACTIVATION_PENDING", "ACTIVE"]), history

    async def texts() -> list[str]:
        sent = (await http.get(system.url("simulator") + "/_sim/messages")).json()
        return [m["text"] for m in sent if m["to"] == "+6281234500001" and "DARURAT" in m["text"]]

    [text] = await eventually(texts, timeout=60)
    assert patient not in text and "3674********" in text


async def test_regular_request_waits_for_facts_then_is_approved(
    system: RunningSystem, keys: Keys, http: httpx.AsyncClient
) -> None:
    writer, dinsos = await keys.issue("events:write"), await keys.issue("reactivations:write")
    reader = await keys.issue("participants:read")
    person = nik(2)
    await post_events(http, system, writer, recent_deactivation(person))
    await eventually(lambda: has_status(http, system, reader, person, "INACTIVE"), timeout=60)
    r = await http.post(
        system.url("intake") + "/v1/reactivations",
        headers={"Authorization": f"Bearer {dinsos}"},
        json={"nik": person, "path": "REGULAR", "channel": "VILLAGE"},
    )
    request_id = r.json()["request_id"]
    await eventually(lambda: has_status(http, system, reader, person, "REACTIVATION_PENDING"), timeout=60)
    await post_events(
        http,
        system,
        writer,
        fact(person, "participant.desil_updated", desil=3, effective_on=TODAY.date().isoformat()),
        fact(person, "participant.biometric_recorded", recorded_on=TODAY.date().isoformat()),
    )
    await eventually(lambda: has_status(http, system, reader, person, "ACTIVE"), timeout=60)

    async def approved() -> dict:
        r = await http.get(
            system.url("intake") + f"/v1/reactivations/{request_id}", headers={"Authorization": f"Bearer {dinsos}"}
        )
        return r.json() if r.json()["status"] == "APPROVED" else {}

    s = await eventually(approved, timeout=60)  # intake's read model follows the decision topic too
    assert s["reasons"] == [] and s["decided_at"]


async def test_late_request_is_rejected_and_the_person_expired(
    system: RunningSystem, keys: Keys, http: httpx.AsyncClient
) -> None:
    writer, dinsos = await keys.issue("events:write"), await keys.issue("reactivations:write")
    reader = await keys.issue("participants:read")
    person = nik(3)
    await post_events(http, system, writer, recent_deactivation(person, days_ago=200))
    # Their window closed weeks ago: the registry has them EXPIRED as soon as the list arrives (DOMAIN.md).
    await eventually(lambda: has_status(http, system, reader, person, "EXPIRED"), timeout=60)
    r = await http.post(
        system.url("intake") + "/v1/reactivations",
        headers={"Authorization": f"Bearer {dinsos}"},
        json={"nik": person, "path": "REGULAR", "channel": "DINSOS"},
    )
    request_id = r.json()["request_id"]

    async def decided() -> dict:
        s = (
            await http.get(
                system.url("intake") + f"/v1/reactivations/{request_id}", headers={"Authorization": f"Bearer {dinsos}"}
            )
        ).json()
        return s if s["status"] not in ("RECEIVED", "PENDING") else {}

    s = await eventually(decided, timeout=60)
    assert s["status"] == "REJECTED" and "WINDOW_EXPIRED" in s["reasons"]
    await eventually(lambda: has_status(http, system, reader, person, "EXPIRED"), timeout=60)


async def test_scope_matrix(system: RunningSystem, keys: Keys, http: httpx.AsyncClient) -> None:
    """Every endpoint x every scope (per event type too) x no key: 401 without a key, 403 without the
    scope, 2xx with it (tests/integration/test_scope_matrix.py covers every event type)."""
    scoped = {s: await keys.issue(s, ["3674R001"] if s == "emergency:write" else None) for s in SCOPES}
    someone = nik(4)
    endpoints = [
        ("POST", "intake", "/v1/events", recent_deactivation(someone), {"events:write", "events:deactivations"}),
        (
            "POST",
            "intake",
            "/v1/reactivations",
            {"nik": someone, "path": "REGULAR", "channel": "DINSOS"},
            {"reactivations:write"},
        ),
        (
            "POST",
            "intake",
            "/v1/reactivations",
            {
                "nik": someone,
                "path": "EMERGENCY",
                "channel": "HOSPITAL",
                "documents": {
                    "hospital_letter": {
                        "facility_code": "3674R001",
                        "letter_no": "L/2",
                        "issued_on": TODAY.date().isoformat(),
                    }
                },
            },
            {"emergency:write"},
        ),
        (
            "POST",
            "intake",
            "/v1/hospital/emergency-reactivations",
            {"nik": someone, "facility_code": "3674R001", "letter_no": "L/1", "admitted_at": TODAY.isoformat()},
            {"emergency:write"},
        ),
        (
            "GET",
            "intake",
            f"/v1/reactivations/{uuid.uuid4()}",
            None,
            {"reactivations:write", "participants:read", "emergency:write"},
        ),
        ("GET", "registry", f"/v1/participants/{nik(5)}", None, {"participants:read", "dashboard:read"}),
        ("GET", "registry", "/v1/stats", None, {"participants:read", "dashboard:read"}),
        ("GET", "registry", "/dashboard/snapshot", None, {"dashboard:read"}),
        ("GET", "registry", f"/v1/participants/{nik(5)}/access-log", None, {"privacy:admin"}),
        ("DELETE", "registry", f"/v1/participants/{nik(6)}/personal-data", None, {"privacy:admin"}),
    ]
    for method, service, path, body, allowed in endpoints:
        url = system.url(service) + path
        assert (await http.request(method, url, json=body)).status_code == 401, path
        for scope, key in scoped.items():
            code = (await http.request(method, url, json=body, headers={"Authorization": f"Bearer {key}"})).status_code
            if scope in allowed:
                assert code in (200, 202, 404), (path, scope, code)  # 404: an unknown id is still authorised
            else:
                assert code == 403, (path, scope, code)


async def test_logs_never_contain_a_whole_nik_or_phone(
    system: RunningSystem, keys: Keys, http: httpx.AsyncClient
) -> None:
    """This test's own person (whichever tests ran before it) goes through intake to the registry and on to
    eligibility and the notifier: no log line holds the NIK or the number whole. The scan ending the run
    checks every test's logs, written until the services stop, the same way."""
    writer, reader = await keys.issue("events:write"), await keys.issue("participants:read")
    person, phone = nik(7), "081234500007"
    await post_events(http, system, writer, recent_deactivation(person, phone=phone))
    await eventually(lambda: has_status(http, system, reader, person, "INACTIVE"), timeout=60)
    logs = system.logs()
    assert logs, "the services wrote no logs"
    assert person not in logs and phone[1:] not in logs
    assert not leaks(logs)
