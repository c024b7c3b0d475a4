"""The reduced `make chaos` inside `make test`: services killed mid-wave and poison on every topic;
nothing a client was told is accepted may be lost or applied twice."""

from __future__ import annotations

from bench.chaos import run

SCENARIOS = ["poison", "kill-registry", "kill-eligibility", "kill-intake"]


async def test_reduced_chaos_loses_and_duplicates_nothing() -> None:
    outcomes = await run(scale=0.1, scenarios=SCENARIOS)
    assert [o.name for o in outcomes] == [
        "poison messages",
        "SIGKILL registry",
        "SIGKILL eligibility",
        "SIGKILL intake",
    ]
    for o in outcomes:
        assert o.events > 0, o
        assert (o.lost, o.duplicated) == (0, 0), o
    poison = outcomes[0]
    # Three poison records on each of the seven topics, parked by every consumer group reading that topic.
    assert poison.dead_lettered >= 21
