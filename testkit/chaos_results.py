"""chaos-results.json: one record per scenario, by name. The single-broker run (bench.chaos) and the cluster's
(bench.chaos_cluster) write the same file; each replaces its own scenarios and keeps the other's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from testkit.chaos_scenarios import Outcome


def results_json(outcomes: list[Outcome]) -> dict[str, Any]:
    return {
        "scenarios": [
            {
                "name": o.name,
                "events": o.events,
                "lost": o.lost,
                "duplicated": o.duplicated,
                "dead_lettered": o.dead_lettered,
                "recovery_s": o.recovery_s,
                "requests": o.requests,
                "messages": o.messages,
                "detail": o.detail,
            }
            for o in outcomes
        ]
    }


def merge_results(path: Path, outcomes: list[Outcome]) -> dict[str, Any]:
    """The file's scenarios with these added, replacing earlier results of the same names (an unreadable or
    missing file counts as empty)."""
    new = results_json(outcomes)["scenarios"]
    names = {s["name"] for s in new}
    try:
        old = [s for s in json.loads(path.read_text())["scenarios"] if s["name"] not in names]
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        old = []
    return {"scenarios": old + new}
