"""A service's roles in the cluster (issue 20): `pbi run <svc> --role urgent|bulk` as two Deployments of their
own, generated from the apps' role tables (deploy/gen_k8s_services.py): the urgent one first in the
scheduler's queue and with its memory reserved, probed and scraped on the port its process serves."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy import gen_k8s_services
from pbi_cli import serve
from shared import settings as shared_settings
from shared.settings import Role, port_for

BASE = Path(gen_k8s_services.__file__).parent / "k8s" / "base"
DEPLOYED_ROLES = set(Role) - {Role.ALL}  # `all` is one process doing both: tests, compose, a small setup
SETTINGS: dict[str, type[shared_settings.Settings]] = {
    "intake": shared_settings.IntakeSettings,
    "registry": shared_settings.RegistrySettings,
    "notifier": shared_settings.NotifierSettings,
    "eligibility": shared_settings.EligibilitySettings,
}


def base_docs(kind: str) -> list[dict[str, Any]]:
    return [
        d for p in sorted(BASE.rglob("*.yaml")) for d in yaml.safe_load_all(p.read_text()) if d and d["kind"] == kind
    ]


def deployments() -> dict[tuple[str, Role], dict[str, Any]]:
    out = {}
    for d in base_docs("Deployment"):
        labels = d["spec"]["template"]["metadata"]["labels"]
        out[labels["app.kubernetes.io/name"], Role(labels["app.kubernetes.io/component"])] = d
    return out


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def test_committed_workloads_equal_the_generator() -> None:
    for target, text in gen_k8s_services.files().items():
        assert target.read_text() == text, "run: .venv/bin/python -m deploy.gen_k8s_services"
    assert gen_k8s_services.main(["--check"]) == 0


def test_generator_check_mode_reports_a_stale_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gen_k8s_services, "BASE", tmp_path)
    assert gen_k8s_services.main(["--check"]) == 1  # nothing written there yet


def test_every_service_has_a_deployment_per_role_running_that_role() -> None:
    deps = deployments()
    assert set(deps) == {(s, r) for s in serve.SERVICES for r in DEPLOYED_ROLES}
    for (service, role), dep in deps.items():
        assert dep["metadata"]["name"] == f"{service}-{role.value}"
        assert container(dep)["args"] == ["run", service, "--role", role.value]
        assert dep["spec"]["selector"]["matchLabels"] == {
            "app.kubernetes.io/name": service,
            "app.kubernetes.io/component": role.value,
        }


def test_the_roles_split_each_apps_consumers_as_its_role_table_does() -> None:
    for service in serve.SERVICES:
        table = importlib.import_module(f"services.{service}.app").consumers
        topics = {r: {getattr(e, "spec", e).name for e in table(r)} for r in Role}
        deployed = {r: {spec.name for spec, _ in gen_k8s_services.role_groups(service, r)} for r in DEPLOYED_ROLES}
        assert deployed == {r: topics[r] for r in DEPLOYED_ROLES}, service
        assert set().union(*deployed.values()) == topics[Role.ALL], service  # nothing consumed only by `all`


def test_urgent_pods_have_the_higher_priority_and_may_preempt_bulk_ones_never() -> None:
    classes = {c["metadata"]["name"]: c for c in base_docs("PriorityClass")}
    assert not any(c["globalDefault"] for c in classes.values())
    for (service, role), dep in deployments().items():
        own = classes[dep["spec"]["template"]["spec"]["priorityClassName"]]
        other_role = Role.BULK if role is Role.URGENT else Role.URGENT
        other = classes[deployments()[service, other_role]["spec"]["template"]["spec"]["priorityClassName"]]
        assert (own["value"] > other["value"]) == (role is Role.URGENT), dep["metadata"]["name"]
        expected = "PreemptLowerPriority" if role is Role.URGENT else "Never"
        assert own["preemptionPolicy"] == expected
    # What every emergency goes through runs at the urgent priority: an urgent pod never preempts a broker.
    (pool,) = base_docs("KafkaNodePool")
    assert pool["spec"]["template"]["pod"]["priorityClassName"] == "pbi-urgent"


def test_probes_hit_the_port_the_roles_process_serves() -> None:
    for (service, role), dep in deployments().items():
        c = container(dep)
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        contract = SETTINGS[service].model_fields["http_port"].default
        assert ports["http"] == port_for(contract, role) == contract + (100 if role is Role.BULK else 0)
        for probe, path in (("startupProbe", "/healthz"), ("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            target = c[probe]["httpGet"]
            assert target["path"] == path
            assert ports.get(target["port"], target["port"]) == port_for(contract, role), (service, role, probe)


def millicores(quantity: str) -> float:
    return float(quantity[:-1]) if quantity.endswith("m") else float(quantity) * 1000


def test_urgent_memory_is_reserved_and_bulk_requests_less() -> None:
    assert (millicores("250m"), millicores("1"), millicores("0.5")) == (250, 1000, 500)
    for (service, role), dep in deployments().items():
        resources = container(dep)["resources"]
        if role is Role.URGENT:
            assert resources["requests"]["memory"] == resources["limits"]["memory"], service
            bulk = container(deployments()[service, Role.BULK])["resources"]["requests"]
            assert millicores(resources["requests"]["cpu"]) > millicores(bulk["cpu"]), service
        else:
            assert resources["requests"]["memory"] != resources["limits"]["memory"], service
