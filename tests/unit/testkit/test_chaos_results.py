"""chaos-results.json keeps both runs' scenarios: each run replaces only its own, by name."""

import json

from testkit.chaos_results import merge_results
from testkit.chaos_scenarios import Outcome


def outcome(name: str, lost: int = 0) -> Outcome:
    return Outcome(name=name, events=10, lost=lost, duplicated=0, dead_lettered=0, recovery_s=1.0)


def test_a_run_replaces_its_own_scenarios_and_keeps_the_others(tmp_path):
    path = tmp_path / "chaos-results.json"
    path.write_text(json.dumps(merge_results(path, [outcome("leader"), outcome("baseline", lost=3)])))

    merged = merge_results(path, [outcome("baseline")])

    assert [(s["name"], s["lost"]) for s in merged["scenarios"]] == [("leader", 0), ("baseline", 0)]


def test_a_missing_or_unreadable_file_counts_as_empty(tmp_path):
    path = tmp_path / "chaos-results.json"
    assert [s["name"] for s in merge_results(path, [outcome("baseline")])["scenarios"]] == ["baseline"]
    path.write_text("not json")
    assert [s["name"] for s in merge_results(path, [outcome("baseline")])["scenarios"]] == ["baseline"]
