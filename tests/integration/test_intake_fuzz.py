"""Property-based fuzzing of intake from its own OpenAPI document (schemathesis): whatever the input,
valid or not, with or without a key, the answer is never a 5xx."""

from __future__ import annotations

import httpx

from services.intake.app import create_app
from services.intake.store import Facility
from shared.settings import IntakeSettings, Settings
from shared.topics import PARTICIPANT_EVENTS, all_topic_names
from testkit.apps import running
from testkit.fuzz import draw_cases, send_all

SCOPES = ["events:write", "reactivations:write", "emergency:write", "participants:read"]


async def test_no_input_gives_a_5xx(settings: Settings) -> None:
    app = create_app(IntakeSettings(**settings.model_dump()))
    async with running(app):
        key = await app.state.api_keys.issue("fuzz", SCOPES, ["3674R001", "A"])
        async with app.state.sessions() as session, session.begin():
            session.add(Facility(code="3674R001", name="RSUD Tangsel"))
        cases = draw_cases(app.openapi())
        operations = {(c.method.upper(), c.path) for c in cases}
        assert {
            ("POST", "/v1/events"),
            ("POST", "/v1/reactivations"),
            ("GET", "/v1/reactivations/{request_id}"),
        } <= operations
        assert ("POST", "/v1/hospital/emergency-reactivations") in operations
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake") as client:
            assert (await client.get("/docs")).status_code == 200
            channels = (await client.get("/asyncapi.json")).json()["channels"]
            addresses = {c["address"] for c in channels.values()}  # what intake reads and writes
            assert settings.topic_prefix + PARTICIPANT_EVENTS.name in addresses
            assert addresses <= set(all_topic_names(settings.topic_prefix))
            failures, statuses = await send_all(client, cases, key)
    assert not failures, failures
    assert {401, 404, 422} <= statuses  # the fuzzing reached past authentication, into validation and lookups
