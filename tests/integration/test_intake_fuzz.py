"""Property-based fuzzing of intake from its own OpenAPI document (schemathesis): whatever the input,
valid or not, with or without a key, the answer is never a 5xx."""

from __future__ import annotations

import json
from typing import Any

import httpx
import hypothesis
import hypothesis.errors
import schemathesis
from hypothesis import HealthCheck, given
from schemathesis import GenerationMode

from services.intake.app import create_app
from services.intake.store import Facility
from shared.settings import IntakeSettings, Settings
from shared.topics import PARTICIPANT_EVENTS, all_topic_names
from testkit.apps import running

MAX_EXAMPLES = 30
SCOPES = ["events:write", "reactivations:write", "emergency:write", "participants:read"]


def draw_cases(openapi: dict[str, Any]) -> list[Any]:
    schema = schemathesis.openapi.from_dict(openapi)
    cases: list[Any] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @hypothesis.settings(
                max_examples=MAX_EXAMPLES // 2,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            def collect(case: Any) -> None:
                cases.append(case)

            try:
                collect()
            except hypothesis.errors.Unsatisfiable:  # nothing to make invalid (e.g. GET /healthz)
                assert mode is GenerationMode.NEGATIVE
    return cases


def as_request(case: Any, key: str | None) -> dict[str, Any]:
    kwargs = case.as_transport_kwargs(base_url="http://intake")
    headers = {k: v for k, v in (kwargs.get("headers") or {}).items() if k.lower() != "authorization"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    request: dict[str, Any] = {"method": kwargs["method"], "url": kwargs["url"], "headers": headers}
    if kwargs.get("params"):
        request["params"] = kwargs["params"]
    if "json" in kwargs:
        request["content"] = json.dumps(kwargs["json"]).encode()
        headers["Content-Type"] = "application/json"
    elif kwargs.get("data") is not None:
        request["content"] = kwargs["data"] if isinstance(kwargs["data"], bytes) else str(kwargs["data"]).encode()
    return request


async def send_all(client: httpx.AsyncClient, cases: list[Any], key: str) -> tuple[list[Any], set[int]]:
    """Every case, every fifth without a key: the 5xx answers, and every status seen."""
    failures, statuses = [], set()
    for i, case in enumerate(cases):
        request = as_request(case, key if i % 5 else None)
        response = await client.request(**request)
        statuses.add(response.status_code)
        if response.status_code >= 500:
            failures.append((request["method"], request["url"], response.status_code, response.text[:300]))
    return failures, statuses


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
