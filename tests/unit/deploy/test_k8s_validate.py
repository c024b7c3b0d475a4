"""Every rendered manifest of both overlays is valid against its schema: Kubernetes' own (Kubernetes 1.33,
from the kubernetes-validate wheel) and the vendored CRD schemas of Strimzi v1, KEDA and the
prometheus-operator (deploy/k8s/schemas), checked by kubeconform in strict mode (no unknown field).
Plus what a platform team checks by eye: images by digest, own ServiceAccounts without tokens, replicas
spread, every service pod scraped, bulk consumers scaled by KEDA."""

from __future__ import annotations

import re
from typing import Any

import pytest

from pbi_cli import serve
from testkit.deploy_tools import OVERLAYS, ROOT, SCHEMAS, docs, kubeconform, problems, rendered

# The first test to need a tool may build it (deploy/tools.sh; promtool takes minutes on a fresh machine).
pytestmark = pytest.mark.timeout(2400)

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "Job"}
DIGEST = re.compile(r"[^@:]+(:[^@]+)?@sha256:[0-9a-f]{64}")
EXACT_TAG = re.compile(r"[^@:]+:v?\d+\.\d+(\.\d+)?")  # 16.10, v3.16.0: not 16, not latest
LOCAL_BUILD = "pbi-reactivation:local"  # built on the machine and loaded into kind: no registry digest


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_manifest_is_valid_against_kubernetes_and_crd_schemas(overlay: str) -> None:
    result = kubeconform(rendered(overlay))
    summary, bad = problems(result)
    assert bad == [] and result.returncode == 0, "\n".join(bad) or result.stderr
    # Nothing skipped for want of a schema: every kind rendered was checked.
    assert summary["valid"] == len(docs(overlay)) and summary["skipped"] == 0, summary
    kinds = {d["kind"] for d in docs(overlay)}
    assert {"Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser", "ScaledObject", "PodMonitor"} <= kinds
    assert {"PrometheusRule", "NetworkPolicy", "ServiceAccount", "PriorityClass"} <= kinds


@pytest.mark.parametrize(
    ("manifest", "why"),
    [
        # The old API: Strimzi 1.x has no v1beta2 (and the vendored schemas neither).
        (
            "apiVersion: kafka.strimzi.io/v1beta2\nkind: Kafka\nmetadata: {name: x}\nspec: {kafka: {listeners: []}}\n",
            "could not find schema",
        ),
        # v1 removed spec.zookeeper.
        (
            "apiVersion: kafka.strimzi.io/v1\nkind: Kafka\nmetadata: {name: x}\n"
            "spec: {kafka: {listeners: []}, zookeeper: {replicas: 3}}\n",
            "zookeeper",
        ),
        # A typo in a Deployment field: strict mode refuses unknown fields.
        (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n"
            "spec: {replica: 2, selector: {matchLabels: {a: b}}, template: {metadata: {labels: {a: b}},"
            " spec: {containers: [{name: c, image: 'i@sha256:" + "0" * 64 + "'}]}}}\n",
            "replica",
        ),
        ("apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: x}\nspec: {triggers: []}\n", ""),
    ],
)
def test_the_validator_refuses_what_a_cluster_would(manifest: str, why: str) -> None:
    result = kubeconform(manifest)
    _, bad = problems(result)
    assert result.returncode != 0 and len(bad) == 1, bad
    assert why in bad[0]


def workloads(overlay: str) -> list[dict[str, Any]]:
    return [d for d in docs(overlay) if d["kind"] in WORKLOAD_KINDS]


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_workload_image_is_a_floating_tag(overlay: str) -> None:
    images = {c["image"] for w in workloads(overlay) for c in pod_spec(w)["containers"]}
    if overlay == "production":
        # What reaches a real cluster: digests only (kustomization `images:` with `digest:`).
        assert all(DIGEST.fullmatch(i) for i in images), images
    else:
        floating = {i for i in images if i != LOCAL_BUILD and not (DIGEST.fullmatch(i) or EXACT_TAG.fullmatch(i))}
        assert floating == set(), floating


def test_the_image_check_sees_floating_tags() -> None:
    for floating in ("postgres:16", "postgres", "ghcr.io/example/pbi-reactivation:latest", "x:0.1.0"):
        assert not DIGEST.fullmatch(floating)
    assert EXACT_TAG.fullmatch("postgres:16.10") and not EXACT_TAG.fullmatch("postgres:16")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_workload_runs_as_its_own_service_account_without_a_token(overlay: str) -> None:
    """One account per workload, a service's two roles being one workload (one database role, one
    KafkaUser): what is granted to a service's identity later reaches both of its processes, nobody else."""
    accounts = {d["metadata"]["name"]: d for d in docs(overlay) if d["kind"] == "ServiceAccount"}
    used: dict[str, set[str]] = {}
    for w in workloads(overlay):
        spec = pod_spec(w)
        name = spec.get("serviceAccountName")
        assert name in accounts, f"{w['kind']} {w['metadata']['name']} runs as the namespace's default account"
        assert spec["automountServiceAccountToken"] is False
        workload = w["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/name", w["metadata"]["name"])
        used.setdefault(name, set()).add(workload)
    assert all(len(owners) == 1 for owners in used.values()), f"two workloads share a ServiceAccount: {used}"
    assert set(serve.SERVICES) <= set(used)
    assert all(a["automountServiceAccountToken"] is False for a in accounts.values())


def test_service_replicas_spread_over_zones_and_nodes() -> None:
    for d in docs("production"):
        if d["kind"] != "Deployment":
            continue
        own_pods = d["spec"]["selector"]["matchLabels"]  # this Deployment's, not the other role's
        constraints = pod_spec(d)["topologySpreadConstraints"]
        assert {c["topologyKey"] for c in constraints} == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
        for c in constraints:
            assert c["labelSelector"]["matchLabels"] == own_pods
            assert c["maxSkew"] == 1 and c["whenUnsatisfiable"] == "ScheduleAnyway"  # never blocks a rollout


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """matchLabels and the In operator (all the monitors use)."""
    matched = all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())
    for expr in selector.get("matchExpressions", []):
        assert expr["operator"] == "In", expr
        matched = matched and labels.get(expr["key"]) in expr["values"]
    return matched


def test_every_service_pod_of_both_roles_is_scraped_and_kafka_too() -> None:
    rendered_docs = docs("production")
    monitors = {d["metadata"]["name"]: d["spec"] for d in rendered_docs if d["kind"] == "PodMonitor"}
    assert not [d for d in rendered_docs if d["kind"] == "ServiceMonitor"]  # a bulk pod has no Service
    services = monitors["pbi-services"]
    # job = the service's name, as the alerts' up{job=~"intake|..."} expect; role = urgent or bulk.
    assert services["jobLabel"] == "app.kubernetes.io/name"
    (endpoint,) = services["podMetricsEndpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("http", "/metrics")
    assert {r["targetLabel"] for r in endpoint["relabelings"]} == {"role"}
    scraped = set()
    for d in rendered_docs:
        if d["kind"] == "Deployment" and selects(services["selector"], d["spec"]["template"]["metadata"]["labels"]):
            (container,) = pod_spec(d)["containers"]
            assert "http" in {p["name"] for p in container["ports"]}
            scraped.add(d["metadata"]["name"])
    assert scraped == {f"{s}-{r}" for s in serve.SERVICES for r in ("urgent", "bulk")}
    kafka = monitors["pbi-kafka"]
    assert kafka["selector"]["matchLabels"] == {"strimzi.io/cluster": "pbi"}
    assert kafka["podMetricsEndpoints"][0]["port"] == "tcp-prometheus"


def test_consumers_have_no_cpu_hpa_beside_keda() -> None:
    rendered_docs = docs("production")
    scaled = {d["spec"]["scaleTargetRef"]["name"] for d in rendered_docs if d["kind"] == "ScaledObject"}
    hpas = {d["spec"]["scaleTargetRef"]["name"] for d in rendered_docs if d["kind"] == "HorizontalPodAutoscaler"}
    assert scaled == {f"{s}-bulk" for s in serve.SERVICES} and hpas == {"intake-urgent"}


def test_vendored_crd_schemas_are_the_v1_apis() -> None:
    names = sorted(str(p.relative_to(SCHEMAS)) for p in SCHEMAS.rglob("*.json"))
    assert names == [
        "kafka.strimzi.io/kafka_v1.json",
        "kafka.strimzi.io/kafkanodepool_v1.json",
        "kafka.strimzi.io/kafkatopic_v1.json",
        "kafka.strimzi.io/kafkauser_v1.json",
        "keda.sh/scaledobject_v1alpha1.json",
        "monitoring.coreos.com/podmonitor_v1.json",
        "monitoring.coreos.com/prometheusrule_v1.json",
        "monitoring.coreos.com/servicemonitor_v1.json",
        "postgresql.cnpg.io/cluster_v1.json",  # written for this repository (schemas/README.md)
    ]
    readme = (SCHEMAS / "README.md").read_text()
    assert "CRDs-catalog" in readme


def test_the_tools_script_pins_every_version() -> None:
    script = (ROOT / "deploy" / "tools.sh").read_text()
    for name in ("KUSTOMIZE_VERSION", "KUBECONFORM_VERSION", "HELM_VERSION", "KUBERNETES_VERSION"):
        (value,) = re.findall(rf"^{name}=(\S+)", script, re.MULTILINE)
        assert value not in ("latest", "")
    assert "@latest" not in script
