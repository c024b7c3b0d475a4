"""Runs last among the e2e tests (file order): its load must not slow the others down.

`make demo` in CI size (DEMO_SCALE=small): it finishes, decides every request, and its printed
summary agrees with what the registry says afterwards."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import httpx

from tests.e2e.fixtures import Keys
from tests.e2e.system import PBI, RunningSystem


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
    decided = sum(stats["decisions_by_outcome"].values())
    posted = sum(1 for _ in (tmp_path / "data" / "requests.jsonl").open()) + sum(
        1 for _ in (tmp_path / "data" / "emergencies.jsonl").open()
    )
    assert decided >= posted  # every request the demo made has a decision
    assert {"APPROVED", "REJECTED", "PENDING"} <= set(stats["decisions_by_outcome"])
    assert {"WINDOW_EXPIRED", "DECEASED", "DOCUMENT_MISSING"} <= set(stats["decisions_by_reason"])
