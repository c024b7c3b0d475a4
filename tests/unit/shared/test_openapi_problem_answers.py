"""Every error answer is an RFC 9457 problem (application/problem+json) once an app installs
shared.problems, the front door's own 401/413/429 included; a 422 names each bad field under
`errors` and never sends back what was posted."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import Body, Depends, FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from shared.auth import Principal
from shared.auth.dependencies import require_any_scope
from shared.http_guard import FrontDoor, KiB
from shared.problems import PROBLEM_JSON, install_problem_details, problem_responses

GOOD = "pbi_0123456789ab_" + "s" * 43
PRINCIPAL = Principal("0123456789ab", "feed", frozenset({"events:write"}))
NIK = "3674015708900001"


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    nik: str = Field(pattern=r"^\d{16}$")
    count: int


async def authenticate(key: str) -> Principal | None:
    return PRINCIPAL if key == GOOD else None


def make_app() -> FastAPI:
    app = FastAPI()
    install_problem_details(app)
    app.add_middleware(FrontDoor, authenticate=authenticate, protected=("/v1/",), failures_per_minute=3)

    @app.post("/v1/items", responses=problem_responses(403, 409))
    async def items(item: Item, who: Principal = Depends(require_any_scope("events:write"))) -> dict:
        raise HTTPException(409, "already there", headers={"Retry-After": "1"})

    @app.post("/v1/admin")
    async def admin(body: Any = Body(), who: Principal = Depends(require_any_scope("privacy:admin"))) -> dict:
        return {}

    @app.get("/v1/structured")
    async def structured(who: Principal = Depends(require_any_scope("events:write"))) -> dict:
        raise HTTPException(409, {"detail": "an appeal is open", "appeal_id": "a-1"})

    return app


def client(app: FastAPI, address: str = "10.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 1234))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["type"] == "about:blank" and body["status"] == status and body["title"] and body["detail"]
    return body


async def test_the_front_doors_refusals_are_problems() -> None:
    app = make_app()
    async with client(app) as c:
        missing = await c.post("/v1/items", json={})
        body = assert_problem(missing, 401)
        assert body["title"] == "Unauthorized" and body["detail"].startswith("missing API key")
        assert missing.headers["www-authenticate"] == "Bearer"
        too_big = await c.post("/v1/items", content=b"x" * (65 * KiB), headers={"Authorization": f"Bearer {GOOD}"})
        assert assert_problem(too_big, 413)["title"] == "Request Entity Too Large"
        for _ in range(2):  # the missing key above was the first failed attempt
            assert_problem(await c.post("/v1/items", headers={"Authorization": "Bearer wrong"}), 401)
        limited = await c.post("/v1/items", headers={"Authorization": "Bearer wrong"})
        assert_problem(limited, 429)
        assert int(limited.headers["retry-after"]) >= 1


async def test_a_422_names_every_bad_field_and_never_echoes_the_input() -> None:
    async with client(make_app()) as c:
        r = await c.post(
            "/v1/items",
            json={"nik": NIK + "9", "count": "many", NIK: 1},
            headers={"Authorization": f"Bearer {GOOD}"},
        )
    body = assert_problem(r, 422)
    assert [e["loc"][:2] for e in body["errors"]] == [["body", "nik"], ["body", "count"], ["body", "3674********0001"]]
    assert all(set(e) == {"loc", "msg", "type"} for e in body["errors"])
    assert "body.nik" in body["detail"] and "body.count" in body["detail"]
    assert NIK not in r.text and "many" not in r.text


async def test_route_errors_keep_their_detail_and_headers_as_problems() -> None:
    auth = {"Authorization": f"Bearer {GOOD}"}
    async with client(make_app()) as c:
        forbidden = await c.post("/v1/admin", json={}, headers=auth)
        conflict = await c.post("/v1/items", json={"nik": NIK, "count": 1}, headers=auth)
        structured = await c.get("/v1/structured", headers=auth)
        unknown = await c.get("/nowhere")
    assert assert_problem(forbidden, 403)["detail"] == "this key lacks the scope privacy:admin"
    assert assert_problem(conflict, 409)["detail"] == "already there" and conflict.headers["retry-after"] == "1"
    assert assert_problem(structured, 409).items() >= {"detail": "an appeal is open", "appeal_id": "a-1"}.items()
    assert_problem(unknown, 404)


def test_the_document_names_the_front_doors_answers_on_protected_routes_only() -> None:
    app = make_app()

    @app.get("/open")
    async def open_route() -> dict:
        return {}

    paths = app.openapi()["paths"]
    assert set(paths["/v1/items"]["post"]["responses"]) == {"200", "401", "403", "409", "413", "422", "429"}
    assert set(paths["/v1/admin"]["post"]["responses"]) == {"200", "401", "403", "413", "422", "429"}
    assert set(paths["/open"]["get"]["responses"]) == {"200"}
