"""`make demo` in CI size (DEMO_SCALE=small) on the session's running system: it finishes, decides every
request, and its printed summary agrees with what the registry says afterwards. It returns only once every
request it made is decided, and its people are none of the other tests' (seeded generator), so it may run
before or after them."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from shared.nik import mask_nik
from testkit.keys import Keys
from testkit.polling import eventually
from testkit.system import PBI, RunningSystem


# Its own limits (the demo's --timeout 240, the subprocess's 400 s) come before pytest's 300 s default.
@pytest.mark.timeout(600)
async def test_small_demo_runs_and_its_summary_matches_the_registry(
    system: RunningSystem, keys: Keys, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    summary_file = tmp_path / "summary.json"
    env = {
        **system.env,
        "PBI_INTAKE_URL": system.url("intake"),
        "PBI_REGISTRY_URL": system.url("registry"),
        "DEMO_SCALE": os.environ.get("DEMO_SCALE", "small"),
    }
    result = await asyncio.to_thread(
        subprocess.run,
        [
            PBI,
            "demo",
            "run",
            "--data-dir",
            str(tmp_path / "data"),
            "--timeout",
            "240",
            "--summary-json",
            str(summary_file),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Dashboard:" in result.stdout and "Decisions by outcome" in result.stdout
    summary = json.loads(summary_file.read_text())

    reader = await keys.issue("participants:read")
    stats = (await http.get(system.url("registry") + "/v1/stats", headers={"Authorization": f"Bearer {reader}"})).json()
    assert summary["decisions_by_outcome"] == stats["decisions_by_outcome"]
    assert summary["by_status"] == stats["by_status"]
    # The worklist (issue 21): the demo leaves work for people, and the work is what its requests wait for.
    ops, dinsos = await keys.issue("worklist:read"), await keys.issue("reactivations:write,events:write")
    items = await _open_items(http, system, ops)
    assert items, "the demo leaves no work on the worklist"
    waiting_for = {"BIOMETRIC_RECORDING": "BIOMETRIC_MISSING", "DESIL_REVERIFICATION": "DESIL_UNKNOWN"}
    followed = [i for i in items if i["kind"] in waiting_for and i["request_id"]][:40]
    assert followed, {i["kind"] for i in items}
    requests = {i["request_id"]: await _request(http, system, dinsos, i["request_id"]) for i in followed}
    for item in followed:
        request = requests[item["request_id"]]
        # A pending request's item names what it waits for; an approved one's is a follow-up to do.
        assert request["status"] == "APPROVED" or (
            request["status"] == "PENDING" and waiting_for[item["kind"]] in request["reasons"]
        ), (item, request)

    # Posting the missing fact closes the item and approves the request.
    niks = [json.loads(line)["nik"] for line in (tmp_path / "data" / "requests.jsonl").open()]
    by_mask: dict[str, list[str]] = {}
    for n in niks:
        by_mask.setdefault(mask_nik(n), []).append(n)
    candidates = [
        i
        for i in followed
        if i["kind"] == "BIOMETRIC_RECORDING"
        and requests[i["request_id"]]["reasons"] == ["BIOMETRIC_MISSING"]
        and len(by_mask.get(i["nik"], [])) == 1
    ]
    assert candidates, "no request waits for a biometric recording alone"
    item = candidates[0]
    [person] = by_mask[item["nik"]]
    recorded = {
        "type": "participant.biometric_recorded",
        "occurred_at": dt.datetime.now(dt.UTC).isoformat(),
        "source": "DUKCAPIL",
        "nik": person,
        "recorded_on": dt.date.today().isoformat(),
    }
    r = await http.post(
        system.url("intake") + "/v1/events", json=recorded, headers={"Authorization": f"Bearer {dinsos}"}
    )
    assert r.status_code == 202, r.text

    async def approved_and_closed() -> bool:
        request = await _request(http, system, dinsos, item["request_id"])
        still_open = {i["item_id"] for i in await _open_items(http, system, ops, kind="BIOMETRIC_RECORDING")}
        return request["status"] == "APPROVED" and item["item_id"] not in still_open

    await eventually(approved_and_closed, timeout=90)

    decided = sum(stats["decisions_by_outcome"].values())
    posted = sum(1 for _ in (tmp_path / "data" / "requests.jsonl").open()) + sum(
        1 for _ in (tmp_path / "data" / "emergencies.jsonl").open()
    )
    assert decided >= posted  # every request the demo made has a decision
    assert {"APPROVED", "REJECTED", "PENDING"} <= set(stats["decisions_by_outcome"])
    assert {"WINDOW_EXPIRED", "DECEASED", "DOCUMENT_MISSING"} <= set(stats["decisions_by_reason"])


async def _open_items(http: httpx.AsyncClient, system: RunningSystem, key: str, **filters: str) -> list[dict]:
    items: list[dict] = []
    params: dict[str, str | int] = {"state": "OPEN", "limit": 500, **filters}
    while True:
        r = await http.get(
            system.url("registry") + "/v1/worklist", params=params, headers={"Authorization": f"Bearer {key}"}
        )
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        if not r.json().get("next"):
            return items
        params["cursor"] = r.json()["next"]


async def _request(http: httpx.AsyncClient, system: RunningSystem, key: str, request_id: str) -> dict:
    r = await http.get(
        system.url("intake") + f"/v1/reactivations/{request_id}", headers={"Authorization": f"Bearer {key}"}
    )
    assert r.status_code == 200, r.text
    return r.json()
