"""The reduced `make chaos` inside `make test` (testkit/chaos_scenarios.py, docs/chaos.md), on `make up`'s topology
(each service as an urgent and a bulk process): poison on every topic, each service but the notifier SIGKILLed
mid-wave (both its processes) and the registry's urgent process alone, each with a wave of deactivations and
reactivation requests. Nothing a client was told is accepted may be lost or applied twice: every event once in the
registry history, every request exactly one final decision, every due message exactly once at the
provider. (The provider-failure and restart scenarios run in `make chaos`: at least 40 s more each, and a
restart would stop the shared broker.)"""

from __future__ import annotations

import pytest

from shared.topics import CATALOGUE
from testkit.chaos_scenarios import run_scenarios
from testkit.infra import Infra

SCENARIOS = ["poison", "kill-eligibility", "kill-registry", "kill-intake", "kill-registry-urgent"]


@pytest.mark.timeout(1200)  # four scenarios with waves and restarts: minutes, more on a loaded machine
async def test_reduced_chaos_loses_and_duplicates_nothing(infra: Infra) -> None:
    outcomes = await run_scenarios(infra.kafka_bootstrap_servers, infra.database_url, 0.1, SCENARIOS, roles=True)
    assert [o.name for o in outcomes] == [
        "poison messages",
        "SIGKILL eligibility",
        "SIGKILL registry",
        "SIGKILL intake",
        "SIGKILL registry-urgent",
    ]
    assert {o.detail["topology"] for o in outcomes} == {"urgent and bulk processes"}
    for o in outcomes:
        d = o.detail
        assert o.events > 0 and o.requests > 0, o
        # Requests really got decided: a final decision in the registry and in intake's answer.
        assert d["requests_undecided"] == 0 and d["request_status_missing"] == 0, d["examples"]
        # Emergency messages are due at any hour, so some messages are always checked.
        assert d["messages_due"] > 0 and o.messages >= d["messages_due"], d
        # What was missing first (the report truncates `d`): the scenario's examples, then the end-of-run recount's.
        assert (o.lost, o.duplicated) == (0, 0), (o.name, d["examples"], d.get("at_end_of_run", {}).get("examples"), d)
        assert d["caught_up_in_time"], (o.name, d)
    poison, *kills = outcomes
    d = poison.detail
    # Three poison records on each topic of the catalogue, parked with a reason by every consumer group
    # reading that topic (at least one group on each consumed topic), and no partition stuck.
    assert d["poison_injected"] == 3 * len(CATALOGUE)
    assert d["poison_parked"] == d["poison_expected"] >= 3 * (len(CATALOGUE) - 1), d
    assert d["lag"] == 0
    assert poison.dead_lettered >= d["poison_expected"]
    # A killed service never parks valid records.
    assert [o.dead_lettered for o in kills] == [0, 0, 0, 0]
