"""Who may say what at intake (issue 16, items 2 and 3), on real Kafka + PostgreSQL: the emergency
fast-track only for a hospital key bound to the letter's facility, one scope per event type, and
each event's `source` taken from the key, never from the body."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from services.intake.app import create_app
from services.intake.events_body import parse_events
from services.intake.store import Facility
from shared.events import ReactivationRequested
from shared.settings import IntakeSettings, Settings
from shared.topics import EMERGENCY_REQUESTS, PARTICIPANT_EVENTS
from testkit.apps import running
from testkit.kafka import TopicReader

NIK = "3674015708900001"
NOW = "2026-11-24T08:00:00+07:00"


def fact(type_: str, nik: str = NIK, **fields: object) -> dict:
    extra: dict[str, object] = {
        "participant.deactivated": {"deactivated_on": "2026-11-01", "reason": "DESIL_ABOVE_5"},
        "participant.desil_updated": {"desil": 3, "effective_on": "2026-11-20"},
        "participant.biometric_recorded": {"recorded_on": "2026-11-20"},
        "participant.death_reported": {"died_on": "2026-11-20"},
        "participant.nik_conflict_reported": {},
        "participant.nik_conflict_resolved": {},
        "participant.id_semesta_assigned": {"id_semesta": "0001234567890"},
    }[type_]
    return {"type": type_, "occurred_at": NOW, "source": "DUKCAPIL", "nik": nik, **extra, **fields}


Intake = tuple[httpx.AsyncClient, dict[str, str]]


async def post(intake: Intake, path: str, body: dict, key: str) -> httpx.Response:
    client, keys = intake
    return await client.post(path, json=body, headers={"Authorization": keys[key]})


def letter(facility: str) -> dict:
    return {"hospital_letter": {"facility_code": facility, "letter_no": "IGD/7", "issued_on": "2026-11-24"}}


@pytest.fixture
async def intake(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    app = create_app(IntakeSettings(**settings.model_dump()))
    async with running(app):
        store = app.state.api_keys
        keys = {
            "all_events": await store.issue("legacy feed", ["events:write"]),
            "siks": await store.issue("SIKS-NG feed", ["events:deactivations"], source="SIKS-NG"),
            "dukcapil": await store.issue("Dukcapil", ["events:deaths", "events:biometric"]),
            "village": await store.issue("Desa Pamulang", ["reactivations:write"]),
            "hospital": await store.issue("RSUD Tangsel", ["emergency:write"], ["3674R001"]),
            "hospital_and_village": await store.issue(
                "RS+desa", ["emergency:write", "reactivations:write"], ["3674R001"]
            ),
        }
        async with app.state.sessions() as session, session.begin():
            session.add(Facility(code="3674R001", name="RSUD Tangsel"))
            session.add(Facility(code="3674R002", name="RS Lain"))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake") as client:
            yield client, {k: f"Bearer {v}" for k, v in keys.items()}


# --- item 2: the emergency fast-track ---------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "facility", "expected"),
    [
        ("village", "3674R001", 403),  # reactivations:write alone: never the fast-track
        ("village", "3674R002", 403),
        ("hospital", "3674R002", 403),  # a hospital for another facility's letter
        ("hospital_and_village", "3674R002", 403),
        ("hospital", "3674R001", 202),
        ("hospital_and_village", "3674R001", 202),
    ],
)
async def test_emergency_path_needs_emergency_write_for_the_letters_facility(
    intake: Intake, key: str, facility: str, expected: int
) -> None:
    client, keys = intake
    body = {"nik": NIK, "path": "EMERGENCY", "channel": "HOSPITAL", "documents": letter(facility)}
    r = await client.post("/v1/reactivations", json=body, headers={"Authorization": keys[key]})
    assert r.status_code == expected, r.text


async def test_emergency_path_without_a_letter_names_the_missing_letter(intake: Intake) -> None:
    client, keys = intake
    body = {"nik": NIK, "path": "EMERGENCY", "channel": "HOSPITAL"}
    assert (
        await client.post("/v1/reactivations", json=body, headers={"Authorization": keys["village"]})
    ).status_code == 403
    r = await client.post("/v1/reactivations", json=body, headers={"Authorization": keys["hospital"]})
    assert r.status_code == 422 and ["body", "documents", "hospital_letter"] in [e["loc"] for e in r.json()["errors"]]


async def test_a_hospital_emergency_via_reactivations_goes_to_the_emergency_lane(settings: Settings, intake) -> None:  # type: ignore[no-untyped-def]
    client, keys = intake
    async with TopicReader(settings, settings.topic_prefix + EMERGENCY_REQUESTS.name) as lane:
        body = {"nik": NIK, "path": "EMERGENCY", "channel": "HOSPITAL", "documents": letter("3674R001")}
        r = await client.post("/v1/reactivations", json=body, headers={"Authorization": keys["hospital"]})
        assert r.status_code == 202
        [event] = await lane.wait_for(lambda e: isinstance(e, ReactivationRequested))
    assert event.facility_registered is True and event.sla_deadline is not None


async def test_other_paths_still_need_reactivations_write(intake: Intake) -> None:
    client, keys = intake
    body = {"nik": NIK, "path": "REGULAR", "channel": "VILLAGE"}
    assert (
        await client.post("/v1/reactivations", json=body, headers={"Authorization": keys["hospital"]})
    ).status_code == 403
    assert (
        await client.post("/v1/reactivations", json=body, headers={"Authorization": keys["village"]})
    ).status_code == 202


# --- item 3: one scope per event type, source from the key ------------------------------------


@pytest.mark.parametrize(
    ("key", "type_", "expected"),
    [
        ("siks", "participant.deactivated", 202),
        ("siks", "participant.death_reported", 403),
        ("siks", "participant.desil_updated", 403),
        ("dukcapil", "participant.death_reported", 202),
        ("dukcapil", "participant.biometric_recorded", 202),
        ("dukcapil", "participant.deactivated", 403),
        ("dukcapil", "participant.id_semesta_assigned", 403),
        ("all_events", "participant.death_reported", 202),  # events:write: every type, as before
        ("all_events", "participant.nik_conflict_resolved", 202),
        ("village", "participant.deactivated", 403),
    ],
)
async def test_each_event_type_needs_its_scope(intake: Intake, key: str, type_: str, expected: int) -> None:
    client, keys = intake
    r = await client.post("/v1/events", json=fact(type_), headers={"Authorization": keys[key]})
    assert r.status_code == expected, r.text
    if expected == 403 and key != "village":
        assert type_ in r.json()["detail"]


@pytest.mark.parametrize("size", [3, 400])  # the event loop's path and the bulk worker's
async def test_a_batch_with_a_forbidden_type_is_refused_whole_naming_it(settings: Settings, intake, size: int) -> None:  # type: ignore[no-untyped-def]
    client, keys = intake
    events = [fact("participant.deactivated", f"3674015708{i:06d}") for i in range(1, size)]
    events.insert(size // 2, fact("participant.death_reported"))
    r = await client.post("/v1/events", json={"events": events}, headers={"Authorization": keys["siks"]})
    assert r.status_code == 403 and "participant.death_reported" in r.json()["detail"]
    async with TopicReader(settings, settings.topic_prefix + PARTICIPANT_EVENTS.name) as topic:
        await topic.poll()
        assert topic.raw == []


@pytest.mark.parametrize("size", [2, 400])
async def test_the_source_is_the_keys_whatever_the_body_claims(settings: Settings, intake: Intake, size: int) -> None:
    client, keys = intake
    events = [fact("participant.deactivated", f"3674015708{i:06d}", source="BPJS") for i in range(1, size + 1)]
    async with TopicReader(settings, settings.topic_prefix + PARTICIPANT_EVENTS.name) as topic:
        r = await client.post("/v1/events", json={"events": events}, headers={"Authorization": keys["siks"]})
        assert r.status_code == 202, r.text
        got = await topic.wait_for(lambda e: True)
        while len(got) < size:
            got = await topic.wait_for(lambda e: True)
    assert {e.source for e in got} == {"SIKS-NG"}


async def test_a_key_without_source_stamps_its_name_and_the_body_may_omit_it(settings: Settings, intake) -> None:  # type: ignore[no-untyped-def]
    client, keys = intake
    body = fact("participant.death_reported")
    del body["source"]
    async with TopicReader(settings, settings.topic_prefix + PARTICIPANT_EVENTS.name) as topic:
        r = await client.post("/v1/events", json=body, headers={"Authorization": keys["dukcapil"]})
        assert r.status_code == 202, r.text
        [event] = await topic.wait_for(lambda e: True)
    assert event.source == "Dukcapil"


def test_the_same_event_from_two_sources_gets_two_ids_and_from_one_source_one() -> None:
    body = fact("participant.deactivated")
    [a], [b], [c] = parse_events(body, "SIKS-NG"), parse_events(body, "SIKS-NG"), parse_events(body, "BPJS")
    assert a.event_id == b.event_id != c.event_id and (a.source, c.source) == ("SIKS-NG", "BPJS")
