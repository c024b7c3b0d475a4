"""Property-based fuzzing of a service from its own OpenAPI document (schemathesis): cases drawn valid and
invalid for every operation, and sent with and without a key."""

from __future__ import annotations

import json
from typing import Any

import httpx
import hypothesis
import hypothesis.errors
import schemathesis
from hypothesis import HealthCheck, given
from schemathesis import GenerationMode

MAX_EXAMPLES = 30  # per operation, half valid and half invalid


def draw_cases(openapi: dict[str, Any]) -> list[Any]:
    """Up to MAX_EXAMPLES cases per operation of the document, derandomised (the same every run)."""
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
