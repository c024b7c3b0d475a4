"""The testkit's runner starts what `make up` starts: roles, and replicas of each consumer role."""

from pathlib import Path

import pytest

from shared.settings import BULK_PORT_OFFSET
from testkit.system import SERVICES, RunningSystem, plan_processes


def test_one_process_per_service_without_roles() -> None:
    names, _ = plan_processes(roles=False)
    assert names == list(SERVICES)


def test_replicas_add_a_process_per_consumer_role_each_on_its_own_port() -> None:
    names, ports = plan_processes(roles=True, replicas=2)
    system = RunningSystem({}, ports, Path("."))
    assert "intake-urgent-2" not in names  # the HTTP API alone: one process owns the contract's port
    assert {"registry-urgent-2", "registry-bulk-2", "eligibility-bulk-2", "notifier-urgent-2"} <= set(names)
    assert len(names) == 8 + 7
    service, role, http_port = system.command_of("registry-bulk-2")
    assert (service, role) == ("registry", "bulk")
    assert http_port + BULK_PORT_OFFSET == ports["registry-bulk-2"]
    assert system.command_of("registry-urgent-2")[2] == ports["registry-urgent-2"]
    first = {system.command_of(n)[2] for n in ("registry-urgent", "registry-bulk")}
    assert first == {ports["registry"]} and ports["registry-urgent-2"] not in first
    assert system.command_of("registry") == ("registry", "", ports["registry"])


def test_replicas_need_roles() -> None:
    with pytest.raises(ValueError, match="roles"):
        plan_processes(roles=False, replicas=2)
