"""Errors of the real services are RFC 9457 problems (application/problem+json) on real Kafka and
PostgreSQL: 401, 403, 404, 409, 413, 422, 429 and 503 from intake, the registry and the notifier; and
every example the OpenAPI document shows for POST /v1/events is accepted as it stands."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from services.intake.app import create_app as intake_app
from services.notifier.app import create_app as notifier_app
from services.notifier.settings import NotifierSettings
from services.registry.app import create_app as registry_app
from shared.problems import PROBLEM_JSON
from shared.settings import IntakeSettings, RegistrySettings, Settings
from testkit.apps import running

NIK = "3674015708900001"


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["type"] == "about:blank" and body["status"] == status and body["title"] and body["detail"]
    return body


def client(app: Any, base_url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)


async def test_intake_answers_its_errors_as_problems_and_accepts_its_own_examples(settings: Settings) -> None:
    app = intake_app(IntakeSettings(**{**settings.model_dump(), "auth_failures_per_minute": 3}))
    async with running(app):
        events = {"Authorization": f"Bearer {await app.state.api_keys.issue('feed', ['events:write'])}"}
        dinsos = {"Authorization": f"Bearer {await app.state.api_keys.issue('dinsos', ['reactivations:write'])}"}
        examples = app.openapi()["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]
        async with client(app, "http://intake") as c:
            for name, example in examples["examples"].items():
                accepted = await c.post("/v1/events", json=example["value"], headers=events)
                assert accepted.status_code == 202, (name, accepted.text)
            assert "Bearer" in (await c.post("/v1/events", json={})).headers["www-authenticate"]
            problem(await c.post("/v1/events", json={}), 401)
            body = problem(
                await c.post("/v1/events", json=examples["examples"]["deactivated"]["value"], headers=dinsos), 403
            )
            assert "events:write" in body["detail"]
            too_big = await c.post(
                "/v1/reactivations", headers={**dinsos, "Content-Length": str(65 * 1024)}, content=b"{" * (65 * 1024)
            )
            problem(too_big, 413)
            bad = await c.post(
                "/v1/reactivations", json={"nik": NIK + "7", "path": "FAST", "channel": "DINSOS"}, headers=dinsos
            )
            body = problem(bad, 422)
            assert {tuple(e["loc"]) for e in body["errors"]} == {("body", "nik"), ("body", "path")}
            assert NIK not in bad.text and "FAST" not in bad.text
            lone = await c.post("/v1/events", json={"type": "participant.death_reported", "nik": NIK}, headers=events)
            assert {tuple(e["loc"]) for e in problem(lone, 422)["errors"]} == {
                ("body", "participant.death_reported", "occurred_at"),
                ("body", "participant.death_reported", "died_on"),
            }
            idem = {**dinsos, "Idempotency-Key": "k-1"}
            request = {"nik": NIK, "path": "REGULAR", "channel": "DINSOS"}
            assert (await c.post("/v1/reactivations", json=request, headers=idem)).status_code == 202
            conflict = await c.post("/v1/reactivations", json={**request, "channel": "VILLAGE"}, headers=idem)
            assert "Idempotency-Key" in problem(conflict, 409)["detail"]
            problem(await c.get(f"/v1/reactivations/{uuid.uuid4()}", headers=dinsos), 404)
            for _ in range(2):  # the two refusals above without a key were failed attempts too
                await c.post("/v1/events", json={}, headers={"Authorization": "Bearer pbi_wrong"})
            limited = await c.post("/v1/events", json={}, headers={"Authorization": "Bearer pbi_wrong"})
            assert problem(limited, 429) and int(limited.headers["retry-after"]) >= 1


async def test_intake_without_a_broker_answers_a_503_problem(settings: Settings) -> None:
    app = intake_app(IntakeSettings(**{**settings.model_dump(), "kafka_bootstrap_servers": "127.0.0.1:1"}))
    async with running(app):
        key = await app.state.api_keys.issue("dinsos", ["reactivations:write"])
        async with client(app, "http://intake") as c:
            r = await c.post(
                "/v1/reactivations",
                json={"nik": NIK, "path": "REGULAR", "channel": "DINSOS"},
                headers={"Authorization": f"Bearer {key}"},
            )
    assert "retry" in problem(r, 503)["detail"] and r.headers["retry-after"] == "5"


async def test_registry_answers_its_errors_as_problems(settings: Settings) -> None:
    app = registry_app(RegistrySettings(**settings.model_dump()))
    async with running(app):
        reader = {"Authorization": f"Bearer {await app.state.api_keys.issue('ops', ['participants:read'])}"}
        feed = {"Authorization": f"Bearer {await app.state.api_keys.issue('feed', ['events:write'])}"}
        async with client(app, "http://registry") as c:
            problem(await c.get("/v1/stats"), 401)
            problem(await c.get("/v1/stats", headers=feed), 403)
            problem(await c.get(f"/v1/participants/{NIK}", headers=reader), 404)
            bad = await c.get("/v1/participants/3674019999", headers=reader)
            assert [e["loc"] for e in problem(bad, 422)["errors"]] == [["path", "nik"]]
            stats = await c.get("/v1/stats", headers=reader)
    assert stats.status_code == 200 and stats.json()["emergency_sla"]["open"] == 0


async def test_notifier_answers_a_bad_signature_with_a_problem(settings: Settings) -> None:
    app = notifier_app(NotifierSettings(**settings.model_dump()))
    async with client(app, "http://notifier") as c:  # refused before the database is needed
        r = await c.post("/webhooks/whatsapp", content=b"{}", headers={"X-Hub-Signature-256": "sha256=00"})
    assert problem(r, 401)["detail"] == "missing or bad signature"
