"""What a test asks of the running system (testkit.system) through its public API, as a client would."""

from __future__ import annotations

from typing import Any

import httpx

from testkit.system import RunningSystem


async def post_events(http: httpx.AsyncClient, system: RunningSystem, key: str, *events: dict[str, Any]) -> None:
    """POST /v1/events to intake; fails the test unless accepted (202)."""
    r = await http.post(
        system.url("intake") + "/v1/events", json={"events": list(events)}, headers={"Authorization": f"Bearer {key}"}
    )
    assert r.status_code == 202, r.text


async def participant(http: httpx.AsyncClient, system: RunningSystem, key: str, nik: str) -> dict[str, Any]:
    """The registry's record of the person ({} while it has none)."""
    r = await http.get(system.url("registry") + f"/v1/participants/{nik}", headers={"Authorization": f"Bearer {key}"})
    return dict(r.json()) if r.status_code == 200 else {}


async def has_status(http: httpx.AsyncClient, system: RunningSystem, key: str, nik: str, status: str) -> bool:
    """Whether the registry shows the person in `status` (for `eventually`)."""
    return (await participant(http, system, key, nik)).get("status") == status
