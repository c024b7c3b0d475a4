"""Which chaos scenarios a topology runs (testkit.chaos_scenarios.for_topology), and which processes a kill
scenario's target names (RunningSystem.names_of): a service's every process, or one role's."""

from __future__ import annotations

from pathlib import Path

import pytest

from testkit.chaos_scenarios import ROLE_SCENARIOS, SEEDS, SYSTEM_SCENARIOS, for_topology, run_scenarios
from testkit.system import RunningSystem, plan_processes


def test_the_role_kills_run_only_with_roles() -> None:
    assert list(for_topology(SYSTEM_SCENARIOS, roles=False)) == list(SYSTEM_SCENARIOS)
    with_roles = list(for_topology(SYSTEM_SCENARIOS, roles=True))
    assert with_roles[: len(SYSTEM_SCENARIOS)] == list(SYSTEM_SCENARIOS)
    assert with_roles[len(SYSTEM_SCENARIOS) :] == [
        "kill-eligibility-urgent",
        "kill-registry-urgent",
        "kill-notifier-urgent",
    ]


def test_every_kill_target_has_a_wave_of_its_own() -> None:
    targets = [name.removeprefix("kill-") for name in [*SYSTEM_SCENARIOS, *ROLE_SCENARIOS] if name.startswith("kill-")]
    assert all(t in SEEDS for t in targets)
    assert len({SEEDS[t] for t in targets}) == len(targets)


async def test_a_role_kill_without_roles_is_refused_before_anything_starts() -> None:
    # Nothing is reachable at these addresses: the refusal must come before the database or Kafka is touched.
    with pytest.raises(SystemExit, match=r"kill-registry-urgent.*CHAOS_ROLES=1"):
        await run_scenarios("127.0.0.1:1", "postgresql+asyncpg://x@127.0.0.1:1/x", 0.1, ["kill-registry-urgent"])


@pytest.mark.parametrize(
    ("roles", "target", "victims"),
    [
        (False, "registry", ["registry"]),
        (True, "registry", ["registry-urgent", "registry-bulk"]),
        (True, "registry-urgent", ["registry-urgent"]),
        (True, "notifier-bulk", ["notifier-bulk"]),
    ],
)
def test_a_kill_target_names_a_service_or_one_role(roles: bool, target: str, victims: list[str]) -> None:
    names, ports = plan_processes(roles)
    system = RunningSystem(env={}, ports=ports, log_dir=Path("."), processes=dict.fromkeys(names))  # type: ignore[arg-type]
    assert system.names_of(target) == victims
