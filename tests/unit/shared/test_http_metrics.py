"""Every service's HTTP surface has a request-duration histogram per route template (measured by
prometheus-fastapi-instrumentator), never labelled with a raw path that could hold a NIK."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from prometheus_client import REGISTRY

from shared.observability import health_router, instrument

NIK = "3674015708900001"


def duration_count(service: str, route: str, method: str = "GET") -> float:
    labels = {"service": service, "route": route, "method": method}
    return REGISTRY.get_sample_value("pbi_http_request_duration_seconds_count", labels) or 0.0


def app_for(service: str) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/participants/{nik}")
    async def participant(nik: str) -> dict[str, str]:
        return {"ok": "yes"}

    app.include_router(health_router({}))
    instrument(app, service)
    return app


async def test_each_request_is_timed_under_its_route_template() -> None:
    for service in ("unit-a", "unit-b"):  # several apps in one process each report (the metric is defined once)
        transport = httpx.ASGITransport(app=app_for(service))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get(f"/v1/participants/{NIK}")).status_code == 200
            assert (await client.get(f"/v1/nothing/{NIK}")).status_code == 404
        assert duration_count(service, "/v1/participants/{nik}") == 1
        assert duration_count(service, "unmatched") == 1
    exposed = (await _metrics_text()).splitlines()
    timed = [line for line in exposed if line.startswith("pbi_http_request_duration_seconds_bucket{")]
    assert timed and not any(NIK in line for line in exposed)


async def _metrics_text() -> str:
    transport = httpx.ASGITransport(app=app_for("unit-c"))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return (await client.get("/metrics")).text


async def test_metrics_can_be_asked_for_by_name() -> None:
    """`?name[]=...` (prometheus_client's own convention): only those metrics, for a watcher that polls one
    counter twice a second (make bench) without every histogram being rendered each time."""
    transport = httpx.ASGITransport(app=app_for("unit-d"))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        await client.get(f"/v1/participants/{NIK}")
        everything = (await client.get("/metrics")).text
        only = (await client.get("/metrics", params={"name[]": "pbi_http_request_duration_seconds_count"})).text
    names = {line.split("{")[0].split(" ")[0] for line in only.splitlines() if not line.startswith("#")}
    assert names == {"pbi_http_request_duration_seconds_count"}
    assert "pbi_http_request_duration_seconds_bucket" in everything and len(only) < len(everything)
