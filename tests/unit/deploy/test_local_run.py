"""`make up`'s plan (deploy/local/run.py): each service as an urgent and a bulk process, bulk ones at a
lower CPU priority, replicas of each consumer role on ports of their own."""

from __future__ import annotations

from deploy.local.run import plan
from shared.process import BULK_NICENESS


def test_each_service_runs_an_urgent_and_a_bulk_process_the_urgent_one_on_the_contracts_port() -> None:
    processes = {p.name: p for p in plan(1)}
    assert set(processes) == {"simulator"} | {
        f"{svc}-{role}" for svc in ("intake", "registry", "notifier", "eligibility") for role in ("urgent", "bulk")
    }
    urgent_ports = {n: p.port for n, p in processes.items() if n.endswith("-urgent")}
    assert urgent_ports == {
        "intake-urgent": 8080,
        "registry-urgent": 8081,
        "notifier-urgent": 8082,
        "eligibility-urgent": 8083,
    }
    assert processes["registry-bulk"].port == 8181 and processes["registry-bulk"].argv == ("registry", "--role", "bulk")


def test_bulk_processes_run_at_lower_cpu_priority_and_urgent_ones_at_the_default() -> None:
    for p in plan(2):
        assert p.niceness == (BULK_NICENESS if "-bulk" in p.name else 0), p.name
    assert BULK_NICENESS > 0


def test_two_replicas_double_each_consumer_role_on_distinct_ports() -> None:
    one, two = plan(1), plan(2)
    added = {p.name for p in two} - {p.name for p in one}
    # Intake's urgent process is the HTTP API alone (no consumer): it keeps port 8080 to itself.
    assert added == {
        f"{svc}-{role}-2" for svc in ("registry", "notifier", "eligibility") for role in ("urgent", "bulk")
    } | {"intake-bulk-2"}
    ports = [p.port for p in two]
    assert len(ports) == len(set(ports))
    replica = {p.name: p for p in two}
    assert (replica["registry-urgent-2"].port, replica["registry-bulk-2"].port) == (8281, 8381)
    assert replica["registry-bulk-2"].http_port == 8281  # `pbi run --role bulk` adds its 100 itself
