"""Property-based fuzzing of the registry from its own OpenAPI document (schemathesis): whatever the
input, with or without a key, the answer is never a 5xx (the intake's twin: test_intake_fuzz.py)."""

from __future__ import annotations

import httpx

from services.registry.app import create_app
from shared.settings import RegistrySettings, Settings
from testkit.apps import running
from testkit.fuzz import draw_cases, send_all

STREAMS = {"/dashboard/events"}  # server-sent events never end: checked by the browser tests instead


async def test_no_input_gives_a_5xx(settings: Settings) -> None:
    app = create_app(RegistrySettings(**settings.model_dump()))
    async with running(app):
        key = await app.state.api_keys.issue("fuzz", ["participants:read", "dashboard:read"])
        cases = [c for c in draw_cases(app.openapi()) if c.path not in STREAMS]
        operations = {(c.method.upper(), c.path) for c in cases}
        assert {("GET", "/v1/participants/{nik}"), ("GET", "/v1/stats"), ("GET", "/dashboard/snapshot")} <= operations
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://registry") as client:
            failures, statuses = await send_all(client, cases, key)
    assert not failures, failures
    assert {200, 401} <= statuses and statuses & {404, 422}  # past authentication, into validation and lookups
