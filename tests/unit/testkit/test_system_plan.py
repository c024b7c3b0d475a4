"""The testkit's runner starts what `make up` starts: roles, and replicas of each consumer role."""

import subprocess
import sys
from pathlib import Path

import pytest

from shared.settings import BULK_PORT_OFFSET
from testkit.system import SERVICES, RunningSystem, _bindable, plan_processes


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


def test_every_port_is_free_and_below_the_ephemeral_range() -> None:
    """Outgoing connections take their local ports from the ephemeral range: a port chosen there (or a bulk
    port, +100, never checked) could be taken before the process binds it."""
    _, ports = plan_processes(roles=True, replicas=2)
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    assert all(port < low for port in ports.values())
    assert all(_bindable(port) for port in ports.values())


def test_a_process_that_exited_is_reported_with_its_log(tmp_path: Path) -> None:
    (tmp_path / "registry-bulk.log").write_text("[Errno 98] address already in use\n")
    done = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    done.wait()
    system = RunningSystem({}, {}, tmp_path, {"registry-bulk": done})
    with pytest.raises(RuntimeError, match=r"registry-bulk exited \(3\):\n\[Errno 98\]"):
        system.check_running()
