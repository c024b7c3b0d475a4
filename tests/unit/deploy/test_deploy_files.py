"""The deployment files agree with the code, so they cannot drift silently.

No Docker engine here: compose.yaml, the Dockerfile, the Kubernetes manifests and the Grafana
dashboard are parsed and checked against the CLI (`pbi run <svc>`), the settings classes
(env var = upper-cased field), the ports, the probes and the topic catalogue.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy import gen_k8s_topics
from pbi_cli import serve
from shared import settings as shared_settings
from shared.settings import Role, port_for
from shared.topics import CATALOGUE, DLQ_RETENTION_MS, all_topic_names
from testkit import deploy_tools
from testkit.deploy_tools import defined_metric_names, promql_metric_names

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose" / "compose.yaml"
K8S = DEPLOY / "k8s"
BASE = K8S / "base"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "pbi.json"
IMAGE_COMPOSE = "pbi-reactivation:local"

SETTINGS_CLASSES: dict[str, type[shared_settings.Settings]] = {
    "intake": shared_settings.IntakeSettings,
    "registry": shared_settings.RegistrySettings,
    "notifier": shared_settings.NotifierSettings,
    "eligibility": shared_settings.EligibilitySettings,
}
# Documented exceptions (docs/operations.md): provider credentials and endpoints of the notifier,
# and the simulator's own callback address (read with os.environ in services/notifier/simulator.py).
PROVIDER_PREFIXES = ("WHATSAPP_", "TWILIO_")
# Kubernetes only: the parts each Deployment builds its DATABASE_URL from (its own role's password, the
# host, TLS options), read by no settings class (docs/operations.md).
K8S_DATABASE_URL_PARTS = {"DATABASE_PASSWORD", "DATABASE_HOST", "DATABASE_NAME", "DATABASE_TLS"}
SIMULATOR_ONLY_VARS = {"SIMULATOR_WEBHOOK_BASE"}
# Metric names the dashboard may use before the code defines them; listed as planned in docs/operations.md.
PLANNED_METRICS = {"pbi_http_requests_total", "pbi_kafka_dead_letters_total"}
METRIC_PREFIXES = ("pbi_", "process_", "python_", "up")


# ---------- helpers (pure, so a test can show they catch drift) ----------


def settings_fields(service: str) -> set[str]:
    fields = set(SETTINGS_CLASSES[service].model_fields)
    if service == "notifier":
        try:  # the notifier's own subclass adds provider settings
            from services.notifier.settings import NotifierSettings

            fields |= set(NotifierSettings.model_fields)
        except ImportError:
            pass
    return {f.upper() for f in fields}


def unknown_env_vars(service: str, names: set[str]) -> set[str]:
    """Variables no settings class reads (OpenTelemetry's own OTEL_* ones are read by its SDK)."""
    known = settings_fields(service)
    return {n for n in names if n not in known and not n.startswith((*PROVIDER_PREFIXES, "OTEL_"))}


def default_port(service: str) -> int:
    return int(SETTINGS_CLASSES[service].model_fields["http_port"].default)


def consumed_partitions_bound(service: str) -> int:
    """Partitions of the largest catalogue topic the service imports in its app.py (the wiring place)."""
    tree = ast.parse((ROOT / "services" / service / "app.py").read_text())
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "shared.topics"
        for alias in node.names
    }
    import shared.topics as topics

    specs = [getattr(topics, name) for name in imported if getattr(topics, name, None) in CATALOGUE]
    assert specs, f"{service} consumes no catalogue topic?"
    return max(s.partitions for s in specs)


def yaml_docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def k8s_docs(kind: str, root: Path = BASE) -> list[dict[str, Any]]:
    return [d for p in sorted(root.rglob("*.yaml")) for d in yaml_docs(p) if d.get("kind") == kind]


# ---------- compose ----------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def pbi_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in compose["services"].items() if s.get("image") == IMAGE_COMPOSE and n != "simulator"}


def compose_role(svc: dict[str, Any]) -> tuple[str, Role]:
    """(service, role) a compose service runs: `run <service> --role <role>`."""
    run, service, option, role = svc["command"]
    assert (run, option) == ("run", "--role"), svc["command"]
    return service, Role(role)


def test_compose_runs_each_cli_service_as_its_urgent_and_bulk_process(compose: dict[str, Any]) -> None:
    services = pbi_services(compose)
    assert set(serve.SERVICES) == {"intake", "registry", "notifier", "eligibility"}
    assert set(services) == set(serve.SERVICES) | {f"{s}-bulk" for s in serve.SERVICES}
    for name, svc in services.items():
        service, role = compose_role(svc)
        # The urgent process keeps the service's name: the others and the simulator call it by that name.
        assert name == (service if role is Role.URGENT else f"{service}-bulk")
        assert "entrypoint" not in svc  # the image's ENTRYPOINT ["pbi"]


def test_compose_bulk_processes_yield_the_cpu_to_the_urgent_ones(compose: dict[str, Any]) -> None:
    """One host, a cgroup per container: the bulk containers' CPU weight is below the default 1024 the urgent
    ones keep (as `make up` starts bulk roles at niceness 5)."""
    services = compose["services"]
    for service in serve.SERVICES:
        assert services[f"{service}-bulk"].get("cpu_shares", 1024) < services[service].get("cpu_shares", 1024)


def test_compose_environment_variables_are_settings_fields(compose: dict[str, Any]) -> None:
    for name, svc in pbi_services(compose).items():
        env = set(svc["environment"])
        assert {"KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "API_KEY_PEPPER", "HTTP_HOST", "HTTP_PORT"} <= env
        assert unknown_env_vars(compose_role(svc)[0], env) == set(), name
    sim_env = set(compose["services"]["simulator"]["environment"]) - SIMULATOR_ONLY_VARS
    assert unknown_env_vars("notifier", sim_env) == set()


def test_env_check_catches_a_variable_no_settings_class_reads() -> None:
    assert unknown_env_vars("intake", {"DATABASE_URL", "DATABSE_URL", "WHATSAPP_TOKEN"}) == {"DATABSE_URL"}
    assert unknown_env_vars("intake", {"PUBLIC_BASE_URL"}) == {"PUBLIC_BASE_URL"}  # notifier-only field
    assert unknown_env_vars("intake", {"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_ENDPOINT"}) == set()


def test_tracing_is_off_by_default_and_one_variable_away(compose: dict[str, Any]) -> None:
    for svc in pbi_services(compose).values():
        assert svc["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "${OTEL_EXPORTER_OTLP_ENDPOINT:-}"


def test_compose_ports_match_settings_defaults(compose: dict[str, Any]) -> None:
    expected = {"intake": 8080, "registry": 8081, "notifier": 8082, "eligibility": 8083}
    assert {s: default_port(s) for s in serve.SERVICES} == expected
    for svc in pbi_services(compose).values():
        service, role = compose_role(svc)
        port = default_port(service)
        assert int(svc["environment"]["HTTP_PORT"]) == port  # `pbi run --role bulk` adds 100 itself
        assert svc["environment"]["HTTP_HOST"] == "0.0.0.0"  # reachable from other containers
        if role is Role.URGENT:
            assert f"{port}:{port}" in svc["ports"]  # the image's HEALTHCHECK asks HTTP_PORT
        else:  # health and metrics only, inside the compose network; checked on the port it serves
            assert "ports" not in svc
            assert f"http://127.0.0.1:{port_for(port, role)}/healthz" in svc["healthcheck"]["test"][-1]


def test_compose_simulator_runs_the_simulator_factory_on_its_cli_port(compose: dict[str, Any]) -> None:
    sim = compose["services"]["simulator"]
    cli_port = inspect.signature(serve.simulator).parameters["port"].default
    assert cli_port == 8090
    target, *args = sim["command"]
    module, factory = target.split(":")
    source = (ROOT / (module.replace(".", "/") + ".py")).read_text()
    assert f"def {factory}(" in source
    assert args[args.index("--port") + 1] == str(cli_port)
    assert f"{cli_port}:{cli_port}" in sim["ports"]
    assert sim["environment"]["SIMULATOR_WEBHOOK_BASE"] == "http://notifier:8082"
    notifier_env = compose["services"]["notifier"]["environment"]
    assert notifier_env["WHATSAPP_API_BASE"] == notifier_env["TWILIO_API_BASE"] == f"http://simulator:{cli_port}"


def test_compose_kafka_is_a_single_kraft_node_of_the_official_image(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = kafka["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller" and env["CLUSTER_ID"]
    assert "kafka-data:" + env["KAFKA_LOG_DIRS"] in kafka["volumes"]  # data survives a restart
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == 1
    assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == 1
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    bootstrap = {s["environment"]["KAFKA_BOOTSTRAP_SERVERS"] for s in pbi_services(compose).values()}
    assert bootstrap == {"kafka:9092"}
    assert compose["services"]["postgres"]["image"] == "postgres:16.10"
    db_urls = {s["environment"]["DATABASE_URL"] for s in pbi_services(compose).values()}
    # The password comes from deploy/compose/.env (make compose-env): tests/unit/deploy/test_compose_secrets.py.
    assert db_urls == {"postgresql+asyncpg://pbi:${POSTGRES_PASSWORD:?run make compose-env}@postgres:5432/pbi"}


def test_prometheus_scrapes_every_service_metrics_on_its_port() -> None:
    config = yaml.safe_load((DEPLOY / "compose" / "prometheus.yml").read_text())
    targets = {
        t for job in config["scrape_configs"] if job.get("metrics_path", "/metrics") == "/metrics"
        for sc in job["static_configs"] for t in sc["targets"]
    }  # fmt: skip
    # Every service's two processes, plus Kafka Exporter for the consumer-lag alert (compose's kafka-exporter).
    urgent = {f"{s}:{default_port(s)}" for s in serve.SERVICES}
    bulk = {f"{s}-bulk:{port_for(default_port(s), Role.BULK)}" for s in serve.SERVICES}
    assert targets == urgent | bulk | {"kafka-exporter:9308"}
    # job = the service whichever role (the alerts' up{job=~"intake|..."}), as in the cluster; role tells them apart.
    labelled = [
        (job["job_name"], sc.get("labels", {})) for job in config["scrape_configs"] for sc in job["static_configs"]
    ]
    roles = {(job, labels["role"]) for job, labels in labelled if "role" in labels and labels["service"] == job}
    assert roles == {(s, r) for s in serve.SERVICES for r in ("urgent", "bulk")}


def test_grafana_provisioning_points_at_the_dashboard_folder(compose: dict[str, Any]) -> None:
    ds = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yaml").read_text())
    provider = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/pbi.yaml").read_text())
    path = provider["providers"][0]["options"]["path"]
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"../grafana/dashboards:{path}:ro" in mounts
    dashboard = json.loads(DASHBOARD.read_text())
    # Every panel and query reads the datasource variable, which defaults to the provisioned datasource:
    # imported elsewhere, the dashboard asks which Prometheus to use instead of pointing at a missing uid.
    (variable,) = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
    assert variable["query"] == "prometheus" and variable["current"]["value"] == ds["datasources"][0]["uid"]
    uids = {p["datasource"]["uid"] for p in dashboard["panels"] if p["type"] != "row"}
    uids |= {t["datasource"]["uid"] for p in dashboard["panels"] for t in p.get("targets", [])}
    assert uids == {"${" + variable["name"] + "}"}


# ---------- Dockerfile ----------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n\s*", " ", (DEPLOY / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            op, _, rest = line.partition(" ")
            out.append((op.upper(), rest.strip()))
    return out


def test_dockerfile_is_multi_stage_non_root_and_runs_pbi() -> None:
    ins = dockerfile_instructions()
    args = dict(a.split("=", 1) for op, a in ins if op == "ARG" and "=" in a)
    froms = [re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], a) for op, a in ins if op == "FROM"]
    assert len(froms) >= 2 and froms[-1].startswith("python:3.11-slim")
    assert any("pip install -c constraints.txt ." in a for op, a in ins if op == "RUN")
    assert any(a.startswith("--from=builder /opt/venv") for op, a in ins if op == "COPY")
    user = [a for op, a in ins if op == "USER"][-1]
    assert user.split(":")[0] not in ("root", "0")
    assert json.loads([a for op, a in ins if op == "ENTRYPOINT"][-1]) == ["pbi"]
    cmd = json.loads([a for op, a in ins if op == "CMD"][-1])
    assert cmd[0] == "run" and cmd[1] in serve.SERVICES
    healthcheck = [a for op, a in ins if op == "HEALTHCHECK"][-1]
    assert "/healthz" in healthcheck and "HTTP_PORT" in healthcheck
    env = " ".join(a for op, a in ins if op == "ENV")
    assert "HTTP_HOST=0.0.0.0" in env


def test_dockerignore_keeps_local_state_out_of_the_image() -> None:
    lines = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", ".env", "tests"} <= lines
    assert not lines & {"shared", "services", "pbi_cli", "constraints.txt", "pyproject.toml", "README.md"}


# ---------- Kubernetes ----------


def deployments() -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in k8s_docs("Deployment")}


def service_and_role(deployment: dict[str, Any]) -> tuple[str, Role]:
    """Each service runs as an urgent and a bulk Deployment (`<service>-<role>`, labelled so)."""
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    return labels["app.kubernetes.io/name"], Role(labels["app.kubernetes.io/component"])


def env_names(container: dict[str, Any]) -> set[str]:
    names = {e["name"] for e in container.get("env", [])}
    configmaps = {d["metadata"]["name"]: d for d in k8s_docs("ConfigMap")}
    for source in container.get("envFrom", []):
        names |= set(configmaps[source["configMapRef"]["name"]]["data"])
    return names


def test_k8s_deployments_run_each_cli_service_role_with_settings_env() -> None:
    deps = deployments()
    assert set(deps) == {f"{s}-{r}" for s in serve.SERVICES for r in ("urgent", "bulk")}
    for name, dep in deps.items():
        service, role = service_and_role(dep)
        assert name == f"{service}-{role.value}"
        (container,) = dep["spec"]["template"]["spec"]["containers"]
        assert container["args"] == ["run", service, "--role", role.value] and "command" not in container
        names = env_names(container)
        assert {"KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "HTTP_HOST", "HTTP_PORT"} <= names
        assert ("API_KEY_PEPPER" in names) == (service in ("intake", "registry"))  # only where keys are checked
        assert unknown_env_vars(service, names - K8S_DATABASE_URL_PARTS) == set(), name


def test_k8s_secrets_come_from_secret_refs_never_plain_values() -> None:
    for dep in deployments().values():
        (container,) = dep["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e for e in container["env"]}
        if "API_KEY_PEPPER" in env:
            assert env["API_KEY_PEPPER"]["valueFrom"]["secretKeyRef"]["name"] == "pbi-secrets"
        for var, entry in env.items():
            if var.endswith(("_TOKEN", "_SECRET", "_SID")):
                assert entry["valueFrom"]["secretKeyRef"]["name"] == "pbi-provider-secrets", var
            if var.endswith("PASSWORD"):
                assert "secretKeyRef" in entry["valueFrom"], var
        # The URL holds the password only as a reference to the secret's value.
        assert "$(DATABASE_PASSWORD)@" in env["DATABASE_URL"]["value"]
    for cm in k8s_docs("ConfigMap"):
        assert not {k for k in cm["data"] if k in ("DATABASE_URL", "API_KEY_PEPPER") or k.endswith("_TOKEN")}
    assert k8s_docs("Secret") == []  # real secrets never live in the base


def test_example_secrets_hold_placeholders_only() -> None:
    secrets = k8s_docs("Secret", K8S / "overlays" / "local")
    databases = {f"pbi-db-{s}" for s in serve.SERVICES}
    names = {s["metadata"]["name"] for s in secrets}
    assert names == {"pbi-secrets", "pbi-provider-secrets", "pbi-db-admin"} | databases
    for secret in secrets:
        for key, value in secret["stringData"].items():
            assert "CHANGE_ME" in value, key


def test_k8s_ports_and_probes_match_the_contract() -> None:
    """The urgent pods serve the contract's port behind the service's Service; a bulk pod serves its health
    and metrics on port + 100 (`pbi run --role bulk` derives it from the same HTTP_PORT), and no Service."""
    services = {s["metadata"]["name"]: s for s in k8s_docs("Service")}
    assert set(services) == set(serve.SERVICES)
    for dep in deployments().values():
        service, role = service_and_role(dep)
        port = default_port(service)
        (container,) = dep["spec"]["template"]["spec"]["containers"]
        assert container["ports"] == [{"name": "http", "containerPort": port_for(port, role), "protocol": "TCP"}]
        assert {e["name"]: e.get("value") for e in container["env"]}["HTTP_PORT"] == str(port)
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert services[service]["spec"]["ports"][0]["port"] == port
        selects_it = services[service]["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]
        assert selects_it == (role is Role.URGENT), dep["metadata"]["name"]


def mebibytes(quantity: str) -> float:
    units = {"Mi": 1, "Gi": 1024, "M": 1e6 / 2**20, "G": 1e9 / 2**20}
    for unit, factor in units.items():
        if quantity.endswith(unit):
            return float(quantity[: -len(unit)]) * factor
    return float(quantity) / 2**20


def test_k8s_resources_are_bounded_and_pods_run_as_non_root() -> None:
    for name, dep in deployments().items():
        pod = dep["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        res = container["resources"]
        assert 256 <= mebibytes(res["requests"]["memory"]) <= mebibytes(res["limits"]["memory"]) <= 1024, name
        assert res["requests"]["cpu"] and res["limits"]["cpu"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False


# The bulk roles scale on their consumer groups' lag (KEDA); intake's urgent role, the HTTP front door
# without consumers, on CPU; the other urgent roles keep their replicas (no rebalance mid-emergency).
LAG_SCALED = {f"{s}-bulk" for s in serve.SERVICES}
CPU_SCALED = {"intake-urgent"}


def scaling_bounds() -> dict[str, tuple[int, int]]:
    """(min, max) replicas per Deployment, from its HPA or its KEDA ScaledObject (never both), else fixed."""
    hpas = {h["spec"]["scaleTargetRef"]["name"]: h["spec"] for h in k8s_docs("HorizontalPodAutoscaler")}
    scaled = {o["spec"]["scaleTargetRef"]["name"]: o["spec"] for o in k8s_docs("ScaledObject")}
    assert not set(hpas) & set(scaled), "a Deployment under both an HPA and KEDA"
    assert set(scaled) == LAG_SCALED and set(hpas) == CPU_SCALED
    for spec in hpas.values():
        assert spec["scaleTargetRef"]["kind"] == "Deployment"
    bounds = {name: (d["spec"]["replicas"],) * 2 for name, d in deployments().items()}
    bounds |= {name: (spec["minReplicas"], spec["maxReplicas"]) for name, spec in hpas.items()}
    return bounds | {name: (spec["minReplicaCount"], spec["maxReplicaCount"]) for name, spec in scaled.items()}


def test_every_deployment_has_a_pdb_and_replicas_bounded_by_partitions() -> None:
    pdbs = {p["metadata"]["name"]: p["spec"] for p in k8s_docs("PodDisruptionBudget")}
    bounds = scaling_bounds()
    assert set(pdbs) == set(bounds) == set(deployments())
    for name, dep in deployments().items():
        service, role = service_and_role(dep)
        bound = consumed_partitions_bound(service)
        low, high = bounds[name]
        assert 1 <= low <= high <= bound, name
        assert low <= dep["spec"]["replicas"] <= high
        assert pdbs[name]["selector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]
        if role is Role.URGENT:  # always one up, and a node drain can always proceed
            assert 2 <= low and pdbs[name]["minAvailable"] < low, name
        else:  # bulk work waits: one pod at a time may go, whatever the count
            assert pdbs[name] == {"maxUnavailable": 1, "selector": pdbs[name]["selector"]}, name
    assert consumed_partitions_bound("eligibility") == 12


def test_consumers_scale_on_their_own_groups_lag() -> None:
    for obj in k8s_docs("ScaledObject"):
        service = obj["spec"]["scaleTargetRef"]["name"].removesuffix("-bulk")
        (trigger,) = obj["spec"]["triggers"]  # lag only: no CPU trigger beside it
        assert trigger["type"] == "prometheus"
        query = trigger["metadata"]["query"]
        assert promql_metric_names(query) == {"kafka_consumergroup_lag"}
        # Every group a service joins starts with its name: <service>-<topic> or <service>-<lane> (app.py);
        # which groups are the bulk role's: test_cluster_security.py.
        (groups,) = re.findall(r'consumergroup=~"([^"]+)"', query)
        assert all(g.startswith(f"{service}-") for g in groups.split("|")), query
        assert int(trigger["metadata"]["threshold"]) > 0
        assert obj["spec"]["fallback"]["replicas"] <= obj["spec"]["maxReplicaCount"]


def test_committed_kafka_topics_equal_the_catalogue() -> None:
    committed = (BASE / "kafka" / "topics.yaml").read_text()
    assert committed == gen_k8s_topics.render(), "run: .venv/bin/python -m deploy.gen_k8s_topics"
    topics = {d["spec"]["topicName"]: d for d in yaml.safe_load_all(committed) if d}
    assert set(topics) == set(all_topic_names())
    for spec in CATALOGUE:
        t = topics[spec.name]
        assert t["spec"]["partitions"] == spec.partitions
        assert t["spec"]["config"]["retention.ms"] == spec.retention_ms
        assert t["spec"]["config"]["cleanup.policy"] == spec.cleanup_policy
        assert topics[spec.dlq]["spec"]["config"]["retention.ms"] == DLQ_RETENTION_MS
    for t in topics.values():
        assert t["spec"]["replicas"] == 3
        assert t["spec"]["config"]["min.insync.replicas"] == 2
        assert t["metadata"]["labels"]["strimzi.io/cluster"] == "pbi"
    assert topics["pbi.participant-events.v1"]["spec"]["partitions"] == 12


def test_strimzi_cluster_has_three_kraft_brokers_replicating_three_ways() -> None:
    (kafka,) = k8s_docs("Kafka")
    (pool,) = k8s_docs("KafkaNodePool")
    assert kafka["metadata"]["name"] == pool["metadata"]["labels"]["strimzi.io/cluster"] == "pbi"
    # kafka.strimzi.io/v1 (Strimzi 1.x): KRaft with node pools is the only mode, the annotations are gone.
    assert kafka["apiVersion"] == pool["apiVersion"] == "kafka.strimzi.io/v1"
    assert "annotations" not in kafka["metadata"] and "zookeeper" not in kafka["spec"]
    assert kafka["spec"]["kafka"]["metricsConfig"]["type"] == "strimziMetricsReporter"
    assert kafka["spec"]["kafkaExporter"]["groupRegex"] == ".*"  # every group's lag: alerts and KEDA
    assert pool["spec"]["replicas"] == 3 and set(pool["spec"]["roles"]) == {"broker", "controller"}
    config = kafka["spec"]["kafka"]["config"]
    assert config["default.replication.factor"] == 3 and config["min.insync.replicas"] == 2
    assert config["auto.create.topics.enable"] is False
    bootstrap = {cm["data"].get("KAFKA_BOOTSTRAP_SERVERS") for cm in k8s_docs("ConfigMap")} - {None}
    assert bootstrap == {"pbi-kafka-bootstrap:9093"}  # the TLS + SCRAM listener (test_cluster_security.py)


def test_kustomizations_reference_files_that_exist() -> None:
    for kustomization in K8S.rglob("kustomization.yaml"):
        for resource in yaml.safe_load(kustomization.read_text())["resources"]:
            assert (kustomization.parent / resource).exists(), f"{kustomization}: {resource}"


@pytest.mark.timeout(1800)  # the first call may build kustomize (deploy/tools.sh)
@pytest.mark.parametrize("overlay", ["local", "production"])
def test_overlays_render_with_kustomize(overlay: str) -> None:
    docs = deploy_tools.docs(overlay)  # kustomize from deploy/tools.sh
    kinds = [d["kind"] for d in docs]
    assert kinds.count("KafkaTopic") == len(all_topic_names())
    names = {d["metadata"]["name"] for d in docs if d["kind"] == "Deployment"}
    assert {f"{s}-{r}" for s in serve.SERVICES for r in ("urgent", "bulk")} <= names
    images = {
        c["image"] for d in docs if d["kind"] == "Deployment" for c in d["spec"]["template"]["spec"]["containers"]
    }
    if overlay == "production":
        (image,) = images
        assert "Secret" not in kinds and re.fullmatch(r"ghcr\.io/example/pbi-reactivation@sha256:[0-9a-f]{64}", image)
    else:
        assert kinds.count("Secret") == 3 + len(serve.SERVICES) and images == {"pbi-reactivation:local"}


# ---------- Grafana ----------


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def test_dashboard_uses_documented_metric_names_defined_in_code() -> None:
    names = set().union(*(promql_metric_names(e) for e in dashboard_exprs()))
    assert "pbi_eligibility_decisions_total" in names
    assert all(n.startswith(METRIC_PREFIXES) for n in names), names
    undefined = {n for n in names if n.startswith("pbi_")} - defined_metric_names()
    assert undefined <= PLANNED_METRICS, f"metrics not defined in the code: {undefined - PLANNED_METRICS}"
    operations = (ROOT / "docs" / "operations.md").read_text()
    for planned in PLANNED_METRICS:
        assert planned in operations


def test_every_metric_in_the_code_is_in_the_operations_table() -> None:
    operations = (ROOT / "docs" / "operations.md").read_text()
    documented = set(re.findall(r"^\| `(pbi_[a-z0-9_]+)`", operations, flags=re.MULTILINE))
    base_names = {n for n in defined_metric_names() if not n.endswith(("_bucket", "_sum", "_count"))}
    in_code = {n for n in base_names if n + "_total" not in base_names}
    assert in_code - documented == set(), "add these metrics to the table in docs/operations.md"
    assert PLANNED_METRICS <= documented


def test_dashboard_has_the_panels_operators_look_for() -> None:
    titles = " | ".join(p["title"].lower() for p in json.loads(DASHBOARD.read_text())["panels"])
    for wanted in ("request rate", "decisions by outcome", "consumer lag", "dead letters", "sla"):
        assert wanted in titles


def test_promql_parser_finds_metrics_not_labels() -> None:
    expr = 'histogram_quantile(0.95, sum by (le, outcome) (rate(foo_seconds_bucket{job="x"}[5m]))) / bar_total'
    assert promql_metric_names(expr) == {"foo_seconds_bucket", "bar_total"}
    assert promql_metric_names("sum by (kind) (a_total unless a_total offset 15m)") == {"a_total"}


def test_topic_generator_check_mode_reports_a_stale_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert gen_k8s_topics.main(["--check"]) == 0
    stale = tmp_path / "topics.yaml"
    stale.write_text(gen_k8s_topics.render().replace("partitions: 12", "partitions: 24"))
    monkeypatch.setattr(gen_k8s_topics, "TARGET", stale)
    assert gen_k8s_topics.main(["--check"]) == 1


def test_a_generator_refuses_a_mistyped_option_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = tmp_path / "topics.yaml"
    stale.write_text("stale")
    monkeypatch.setattr(gen_k8s_topics, "TARGET", stale)
    assert gen_k8s_topics.main(["--chek"]) == 2
    assert stale.read_text() == "stale"
    assert "--chek" in capsys.readouterr().err
    assert gen_k8s_topics.main([]) == 0  # no option: written
    assert stale.read_text() == gen_k8s_topics.render()
