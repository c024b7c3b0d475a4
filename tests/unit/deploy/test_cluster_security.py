"""The cluster as a neighbour pod would meet it (issue 16, items 10 and 11), checked in the manifests.

- Kafka: the only listener is TLS with a SCRAM-SHA-512 login, `authorization: simple`, and each service's
  KafkaUser may read exactly the topics and groups its subscribers use (recorded from the services' own
  wiring, not copied) and write exactly what its code publishes plus its dead letters.
- Every workload is selected by a default-deny NetworkPolicy; the flows allowed are the ones listed.
- Each service connects to PostgreSQL as its own role, over verify-full TLS in production; the API-key
  pepper reaches only intake and registry.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy import gen_k8s_users
from shared.settings import Role
from shared.topics import CATALOGUE

ROOT = Path(__file__).resolve().parents[3]
K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
SERVICES = ("intake", "registry", "notifier", "eligibility")
SPEC_NAMES = {
    "PARTICIPANT_EVENTS",
    "REACTIVATION_REQUESTS",
    "EMERGENCY_REQUESTS",
    "DECISIONS",
    "EMERGENCY_DECISIONS",
    "TIMER_EVENTS",
    "WINDOW_REMINDERS",
    "STATUS_CHANGES",
    "NOTIFICATION_EVENTS",
    "PRIVACY_EVENTS",
    "APPEALS",
}


def docs(root: Path = BASE) -> list[dict[str, Any]]:
    return [d for p in sorted(root.rglob("*.yaml")) for d in yaml.safe_load_all(p.read_text()) if d]


def of_kind(kind: str, all_docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in all_docs if d.get("kind") == kind]


def rendered(overlay: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        ["kubectl", "kustomize", str(K8S / "overlays" / overlay)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (kustomize) not installed")


# ---------- what the services really do (recorded / scanned from their code) ----------


def recorded_subscriptions(monkeypatch: pytest.MonkeyPatch, role: Role = Role.ALL) -> dict[str, set[tuple[str, str]]]:
    """(topic, group) of every subscriber each service registers in a process of `role` (all: both
    roles' consumers), with the cluster's empty topic prefix. Records the calls to
    shared.kafka.subscribe while the apps are built."""
    import services.eligibility.app as eligibility_app
    import services.intake.app as intake_app
    import services.notifier.app as notifier_app
    import services.notifier.privacy as notifier_privacy
    import services.registry.app as registry_app
    from services.notifier.settings import NotifierSettings
    from shared.settings import EligibilitySettings, IntakeSettings, RegistrySettings

    seen: dict[str, set[tuple[str, str]]] = defaultdict(set)

    def record(broker: object, spec: Any, *, group: str, service: str, **_: object) -> Any:
        seen[service].add((spec.name, group))
        return lambda handler: None

    for module in (intake_app, registry_app, notifier_app, eligibility_app, notifier_privacy):
        monkeypatch.setattr(module, "subscribe", record)
    monkeypatch.setenv("PBI_ENV", "local")
    monkeypatch.setenv("LOG_JSON", "false")
    intake_app.create_app(IntakeSettings(), role=role)
    notifier_app.create_app(NotifierSettings(), role=role)
    registry_app.create_app(RegistrySettings(), role=role)
    eligibility_app.create_app(EligibilitySettings(), role=role)
    return dict(seen)


def published_topics(service: str) -> set[str]:
    """What the service writes, beside the dead letters of what it reads: its AsyncAPI document's own
    publishers, which come from the objects that really produce (tests/unit/shared/test_asyncapi_publishers.py
    proves each service emits only to those)."""
    from pbi_cli.docs import system_document

    doc = system_document("")
    sends: set[str] = set()
    receives: set[str] = set()
    for key, op in doc["operations"].items():
        if key.split(":", 1)[0] != service:
            continue
        address = doc["channels"][op["channel"]["$ref"].rsplit("/", 1)[-1]]["address"]
        (sends if op["action"] == "send" else receives).add(address)
    return sends - {topic + ".dlq" for topic in receives}


def user_acls() -> dict[str, list[dict[str, Any]]]:
    users = of_kind("KafkaUser", docs(BASE / "kafka"))
    return {u["metadata"]["name"]: u["spec"]["authorization"]["acls"] for u in users}


def granted(acls: list[dict[str, Any]], kind: str, operation: str) -> set[str]:
    return {a["resource"]["name"] for a in acls if a["resource"]["type"] == kind and operation in a["operations"]}


# ---------- Kafka ----------


def test_kafka_listener_asks_for_scram_over_tls_and_acls_are_enforced() -> None:
    (kafka,) = of_kind("Kafka", docs(BASE / "kafka"))
    spec = kafka["spec"]["kafka"]
    assert spec["authorization"] == {"type": "simple"}
    for listener in spec["listeners"]:
        assert listener["tls"] is True, listener["name"]  # no plaintext listener left
        assert listener["authentication"]["type"] == "scram-sha-512", listener["name"]
        assert listener["networkPolicyPeers"], listener["name"]
    config = next(d for d in of_kind("ConfigMap", docs()) if d["metadata"]["name"] == "pbi-config")["data"]
    assert config["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL" and config["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    port = int(config["KAFKA_BOOTSTRAP_SERVERS"].rsplit(":", 1)[1])
    assert port == spec["listeners"][0]["port"]
    assert config["KAFKA_MANAGE_TOPICS"] == "false"  # the users may not create topics; Strimzi does


def test_committed_kafka_users_equal_the_generator() -> None:
    assert (BASE / "kafka" / "users.yaml").read_text() == gen_k8s_users.render(), (
        "run: .venv/bin/python -m deploy.gen_k8s_users"
    )
    assert "users.yaml" in yaml.safe_load((BASE / "kafka" / "kustomization.yaml").read_text())["resources"]


def test_user_generator_check_mode_reports_a_stale_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tmp_path / "users.yaml"
    stale.write_text(gen_k8s_users.render().replace("- Read\n", "- Read\n      - Write\n", 1))
    monkeypatch.setattr(gen_k8s_users, "TARGET", stale)
    assert gen_k8s_users.main(["--check"]) == 1


def test_each_service_reads_exactly_the_topics_and_groups_it_subscribes_to(monkeypatch: pytest.MonkeyPatch) -> None:
    subscriptions = recorded_subscriptions(monkeypatch)
    assert set(subscriptions) == set(SERVICES)
    acls = user_acls()
    for service in SERVICES:
        user = acls[f"pbi-{service}"]
        assert granted(user, "topic", "Read") == {t for t, _ in subscriptions[service]}, service
        assert granted(user, "group", "Read") == {g for _, g in subscriptions[service]}, service


def test_urgent_and_bulk_processes_together_subscribe_what_one_all_process_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """So one KafkaUser per service fits both of its Deployments, and no group is read by two roles."""
    whole = recorded_subscriptions(monkeypatch)
    urgent = recorded_subscriptions(monkeypatch, Role.URGENT)
    bulk = recorded_subscriptions(monkeypatch, Role.BULK)
    for service in SERVICES:
        assert urgent.get(service, set()) | bulk.get(service, set()) == whole[service], service
        assert not {g for _, g in urgent.get(service, set())} & {g for _, g in bulk.get(service, set())}, service


def test_each_bulk_deployment_scales_on_the_lag_of_exactly_its_roles_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    """The groups in a bulk role's KEDA query are the ones a `--role bulk` process joins (recorded from the
    apps), so a lagging urgent group never scales bulk pods and no bulk group is left out."""
    bulk = recorded_subscriptions(monkeypatch, Role.BULK)
    scaled = {o["spec"]["scaleTargetRef"]["name"]: o["spec"] for o in of_kind("ScaledObject", docs())}
    for service in SERVICES:
        (trigger,) = scaled[f"{service}-bulk"]["triggers"]
        (groups,) = re.findall(r'consumergroup=~"([^"]+)"', trigger["metadata"]["query"])
        assert set(groups.split("|")) == {g for _, g in bulk[service]}, service


def test_each_service_writes_exactly_what_it_publishes_and_its_dead_letters(monkeypatch: pytest.MonkeyPatch) -> None:
    subscriptions = recorded_subscriptions(monkeypatch)
    acls = user_acls()
    for service in SERVICES:
        dead_letters = {f"{t}.dlq" for t, _ in subscriptions[service]}
        expected = published_topics(service) | dead_letters
        assert granted(acls[f"pbi-{service}"], "topic", "Write") == expected, service


def test_a_neighbour_service_cannot_forge_a_decision_or_read_what_it_does_not_need() -> None:
    acls = user_acls()
    for decisions in ("pbi.decisions.v1", "pbi.emergency-decisions.v1"):  # every decision, an emergency's copy
        writers = {user for user, a in acls.items() if decisions in granted(a, "topic", "Write")}
        assert writers == {"pbi-eligibility", "pbi-operator"}  # the operator only replays dead letters
    assert "pbi.participant-events.v1" not in granted(acls["pbi-notifier"], "topic", "Write")
    assert granted(acls["pbi-intake"], "topic", "Read") == {"pbi.decisions.v1", "pbi.timer-events.v1"}
    for user, a in acls.items():
        patterns = {x["resource"]["patternType"] for x in a if x["resource"]["type"] == "topic"}
        assert patterns == {"literal"}, user  # no wildcard or prefix topic grants
        assert not granted(a, "cluster", "Alter") and not granted(a, "topic", "Create"), user
    # The dashboard's lag view may describe every topic and group, never read another's data.
    registry_reads = granted(acls["pbi-registry"], "topic", "Read")
    assert "pbi.status-changes.v1" not in registry_reads
    assert granted(acls["pbi-registry"], "topic", "Describe") >= {s.name for s in CATALOGUE}


def test_every_service_logs_in_as_its_own_kafka_user() -> None:
    users = {u["metadata"]["name"]: u for u in of_kind("KafkaUser", docs(BASE / "kafka"))}
    for service in SERVICES:
        for container in role_containers(service):
            env = {e["name"]: e for e in container["env"]}
            assert env["KAFKA_SASL_USERNAME"]["value"] == f"pbi-{service}"
            secret = {"name": f"pbi-{service}", "key": "password"}
            assert env["KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == secret
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            assert "/etc/pbi/kafka-ca" in mounts  # KAFKA_SSL_CAFILE: the broker's certificate is verified
        assert users[f"pbi-{service}"]["spec"]["authentication"]["type"] == "scram-sha-512"


# ---------- database roles and the pepper ----------


def role_containers(service: str, all_docs: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The container of each of the service's Deployments: `<service>-urgent` and `<service>-bulk`."""
    deps = {d["metadata"]["name"]: d for d in of_kind("Deployment", all_docs or docs())}
    out = []
    for role in (Role.URGENT, Role.BULK):
        (container,) = deps[f"{service}-{role.value}"]["spec"]["template"]["spec"]["containers"]
        out.append(container)
    return out


def test_each_service_connects_to_postgres_as_its_own_role() -> None:
    for service in SERVICES:
        for container in role_containers(service):
            env = {e["name"]: e for e in container["env"]}
            url = env["DATABASE_URL"]["value"]
            assert url.startswith(f"postgresql+asyncpg://pbi_{service}:$(DATABASE_PASSWORD)@"), service
            ref = env["DATABASE_PASSWORD"]["valueFrom"]["secretKeyRef"]
            assert ref == {"name": f"pbi-db-{service}", "key": "password"}, service
    (job,) = of_kind("Job", docs())
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", "shared.db_roles"]
    passwords = {e["name"]: e["valueFrom"]["secretKeyRef"]["name"] for e in container["env"]}
    assert {f"DB_PASSWORD_{s.upper()}": f"pbi-db-{s}" for s in SERVICES}.items() <= passwords.items()


def test_the_api_key_pepper_reaches_only_the_services_that_check_keys() -> None:
    holders = {
        (s, c["args"][-1])
        for s in SERVICES
        for c in role_containers(s)
        if any(e["name"] == "API_KEY_PEPPER" for e in c["env"])
    }
    # Both roles: the settings of a service that checks keys refuse to start without it.
    assert holders == {(s, r) for s in ("intake", "registry") for r in ("urgent", "bulk")}


def test_services_without_the_pepper_start_without_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.notifier.settings import NotifierSettings
    from shared.settings import EligibilitySettings

    for name in ("PBI_ENV", "API_KEY_PEPPER"):
        monkeypatch.delenv(name, raising=False)
    for provider_secret in ("WHATSAPP_TOKEN", "WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN", "TWILIO_AUTH_TOKEN"):
        monkeypatch.setenv(provider_secret, "q7Rk2vLp9ZsT4wYn8HcB3mFd6JgX1aEu")
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "0" * 32)
    EligibilitySettings()
    NotifierSettings()


@needs_kubectl
def test_production_database_url_is_verify_full_against_a_mounted_ca() -> None:
    prod = rendered("production")
    config = next(d for d in of_kind("ConfigMap", prod) if d["metadata"]["name"] == "pbi-config")["data"]
    tls = config["DATABASE_TLS"]
    assert "sslmode=verify-full" in tls
    rootcert = re.search(r"sslrootcert=([^&]+)", tls).group(1)  # type: ignore[union-attr]
    for workload in [*of_kind("Deployment", prod), *of_kind("Job", prod)]:
        (container,) = workload["spec"]["template"]["spec"]["containers"]
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert str(Path(rootcert).parent) in mounts, workload["metadata"]["name"]
    for service in SERVICES:
        for container in role_containers(service, prod):
            env = {e["name"]: e for e in container["env"]}
            assert env["DATABASE_URL"]["value"].endswith("$(DATABASE_TLS)")


# ---------- NetworkPolicies ----------


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        if (
            (op == "In" and labels.get(key) not in values)
            or (op == "NotIn" and labels.get(key) in values)
            or (op == "Exists" and key not in labels)
            or (op == "DoesNotExist" and key in labels)
        ):
            return False
    return True


def workloads(all_docs: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    kinds = ("Deployment", "StatefulSet", "Job", "DaemonSet")
    return {
        f"{d['kind']}/{d['metadata']['name']}": d["spec"]["template"]["metadata"]["labels"]
        for d in all_docs
        if d.get("kind") in kinds
    }


def policies_for(labels: dict[str, str], all_docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p["spec"] for p in of_kind("NetworkPolicy", all_docs) if selects(p["spec"]["podSelector"], labels)]


def egress_ports(labels: dict[str, str], all_docs: list[dict[str, Any]]) -> set[int]:
    return {
        port["port"]
        for spec in policies_for(labels, all_docs)
        for rule in spec.get("egress", [])
        for port in rule.get("ports", [])
    }


def ingress_ports(labels: dict[str, str], all_docs: list[dict[str, Any]]) -> set[object]:
    return {
        port["port"]
        for spec in policies_for(labels, all_docs)
        for rule in spec.get("ingress", [])
        for port in rule.get("ports", [])
    }


def test_selector_matching_follows_kubernetes() -> None:
    sel = {"matchLabels": {"a": "1"}, "matchExpressions": [{"key": "b", "operator": "DoesNotExist"}]}
    assert selects(sel, {"a": "1"}) and not selects(sel, {"a": "1", "b": "x"}) and not selects(sel, {"a": "2"})
    assert selects({}, {"anything": "x"})
    assert selects({"matchExpressions": [{"key": "n", "operator": "In", "values": ["x"]}]}, {"n": "x"})


@pytest.mark.parametrize(
    "overlay", [pytest.param("local", marks=needs_kubectl), pytest.param("production", marks=needs_kubectl)]
)
def test_every_workload_is_under_a_default_deny_policy(overlay: str) -> None:
    all_docs = rendered(overlay)
    found = workloads(all_docs)
    assert {f"Deployment/{s}-{r}" for s in SERVICES for r in ("urgent", "bulk")} | {"Job/pbi-db-roles"} <= set(found)
    for name, labels in found.items():
        deny = [
            spec
            for spec in policies_for(labels, all_docs)
            if set(spec["policyTypes"]) == {"Ingress", "Egress"} and not spec.get("ingress") and not spec.get("egress")
        ]
        assert deny, f"{overlay}: {name} is not selected by a default-deny NetworkPolicy"


def test_the_flows_are_exactly_the_ones_the_services_need() -> None:
    """Both roles reach Kafka and PostgreSQL and are scraped on their own `http` port (a named port: 808x
    on urgent pods, 818x on bulk ones); only urgent pods take the ingress controller's requests, and only
    the notifier's pods reach the providers (each role's sender sends its own messages, the urgent one the
    escalations too)."""
    all_docs = docs()
    pods = {(s, r): workloads(all_docs)[f"Deployment/{s}-{r}"] for s in SERVICES for r in ("urgent", "bulk")}
    for (service, role), labels in pods.items():
        expected_out = {53, 9093, 5432, 4318} | ({443} if service == "notifier" else set())
        assert egress_ports(labels, all_docs) == expected_out, (service, role)
        assert ingress_ports(labels, all_docs) == {"http"}, (service, role)  # its own HTTP port only
    from_ingress = {
        key
        for key, labels in pods.items()
        for spec in policies_for(labels, all_docs)
        for rule in spec.get("ingress", [])
        for peer in rule["from"]
        if peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
        == "ingress-nginx"
    }
    # eligibility has no public HTTP surface; a bulk pod serves health and metrics only
    assert from_ingress == {("intake", "urgent"), ("registry", "urgent"), ("notifier", "urgent")}
    roles_job = {"app.kubernetes.io/name": "db-roles"}
    assert egress_ports(roles_job, all_docs) == {53, 5432}


def test_the_notifier_reaches_providers_only_at_public_addresses() -> None:
    (policy,) = [p for p in of_kind("NetworkPolicy", docs()) if p["metadata"]["name"] == "notifier-to-providers"]
    (rule,) = policy["spec"]["egress"]
    (peer,) = rule["to"]
    assert peer["ipBlock"]["cidr"] == "0.0.0.0/0"
    assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"} <= set(peer["ipBlock"]["except"])
    assert [p["port"] for p in rule["ports"]] == [443]


def test_pods_carry_no_kubernetes_api_token() -> None:
    for workload in [*of_kind("Deployment", docs()), *of_kind("Job", docs())]:
        assert workload["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
