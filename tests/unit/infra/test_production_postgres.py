"""The production overlay's PostgreSQL is a CloudNativePG Cluster with a standby and automated failover, and
every service connects the way a failover needs: to the read-write Service, insisting on a writable primary,
over TLS verified against the operator's CA. Rendered with kustomize, validated with kubeconform against the
project's Cluster schema (deploy/k8s/schemas/postgresql.cnpg.io)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import pytest

from testkit.deploy_tools import docs, kubeconform, problems

pytestmark = pytest.mark.timeout(2400)  # the first deploy test may build kustomize (deploy/tools.sh)


def of_kind(kind: str, overlay: str = "production") -> list[dict[str, Any]]:
    return [d for d in docs(overlay) if d["kind"] == kind]


def the_cluster() -> dict[str, Any]:
    (cluster,) = of_kind("Cluster")
    assert cluster["apiVersion"] == "postgresql.cnpg.io/v1"
    return cluster


def test_production_runs_a_replicated_cloudnativepg_cluster_instead_of_a_statefulset() -> None:
    spec = the_cluster()["spec"]
    assert spec["instances"] >= 2
    assert spec["failoverDelay"] == 0 and spec["primaryUpdateStrategy"] == "unsupervised"
    # A committed transaction is on a standby too: the one promoted by a failover has it.
    sync = spec["postgresql"]["synchronous"]
    assert sync["number"] >= 1 and sync["dataDurability"] == "required" and sync["number"] < spec["instances"]
    assert spec["affinity"]["enablePodAntiAffinity"] is True
    assert not [s for s in of_kind("StatefulSet") if "postgres" in s["metadata"]["name"]]
    assert [s["metadata"]["name"] for s in of_kind("StatefulSet", "local")] == ["postgres"]  # the laptop keeps one


def test_the_database_runs_at_the_urgent_priority_as_every_urgent_process_does() -> None:
    # The emergency path needs the primary: after a failover its new instance must not wait behind bulk pods.
    classes = {c["metadata"]["name"]: c for c in of_kind("PriorityClass")}
    priority = the_cluster()["spec"]["priorityClassName"]
    assert priority == "pbi-urgent" and classes[priority]["value"] == max(c["value"] for c in classes.values())
    urgent = [d for d in of_kind("Deployment") if d["metadata"]["name"].endswith("-urgent")]
    assert urgent and {d["spec"]["template"]["spec"]["priorityClassName"] for d in urgent} == {priority}


def test_services_connect_to_the_primary_only_over_verified_tls() -> None:
    name = the_cluster()["metadata"]["name"]
    (config,) = [c for c in of_kind("ConfigMap") if c["metadata"]["name"] == "pbi-config"]
    assert config["data"]["DATABASE_HOST"].split(":")[0] == f"{name}-rw"
    options = parse_qs(config["data"]["DATABASE_TLS"].lstrip("?"))
    assert options["target_session_attrs"] == ["read-write"]
    assert options["sslmode"] == ["verify-full"]
    for workload in of_kind("Deployment") + of_kind("Job"):
        env = {e["name"]: e.get("value", "") for e in workload["spec"]["template"]["spec"]["containers"][0]["env"]}
        urls = [v for k, v in env.items() if k == "DATABASE_URL"]
        assert all(u.endswith("$(DATABASE_TLS)") for u in urls), workload["metadata"]["name"]
        volumes = {v["name"]: v for v in workload["spec"]["template"]["spec"]["volumes"]}
        assert volumes["pg-ca"]["secret"]["secretName"] == f"{name}-ca"  # the operator's CA


def test_only_the_clients_and_the_operator_reach_the_instances() -> None:
    name = the_cluster()["metadata"]["name"]
    policies = {p["metadata"]["name"]: p["spec"] for p in of_kind("NetworkPolicy")}
    clients = policies["postgres-clients"]
    assert clients["egress"][0]["to"] == [{"podSelector": {"matchLabels": {"cnpg.io/cluster": name}}}]
    instances = policies["postgres-instances"]
    assert instances["podSelector"] == {"matchLabels": {"cnpg.io/cluster": name}}
    admitted = instances["ingress"][0]["from"][0]["podSelector"]["matchExpressions"][0]["values"]
    assert admitted == clients["podSelector"]["matchExpressions"][0]["values"]


def test_the_cluster_schema_refuses_what_the_operator_would() -> None:
    typo = (
        "apiVersion: postgresql.cnpg.io/v1\nkind: Cluster\nmetadata: {name: x}\n"
        "spec: {instances: 2, postgresql: {synchronous: {method: any, number: 1, dataDurabilty: required}}}\n"
    )
    _, bad = problems(kubeconform(typo))
    assert len(bad) == 1 and "dataDurabilty" in bad[0]
    no_instances = "apiVersion: postgresql.cnpg.io/v1\nkind: Cluster\nmetadata: {name: x}\nspec: {}\n"
    _, bad = problems(kubeconform(no_instances))
    assert len(bad) == 1 and "instances" in bad[0]
