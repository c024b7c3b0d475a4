"""Alert rules as code (deploy/monitoring): valid for promtool, unit-tested with promtool, loaded by
compose's Prometheus as they are and by the cluster as generated PrometheusRules, every metric they read
documented and defined, every alert linked to a runbook heading that exists in docs/operations.md."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy import gen_k8s_rules
from testkit.deploy_tools import ROOT, defined_metric_names, promql_metric_names, run, tool

# The first test to need a tool may build it (deploy/tools.sh; promtool takes minutes on a fresh machine).
pytestmark = pytest.mark.timeout(2400)

MONITORING = ROOT / "deploy" / "monitoring"
RULE_FILES = sorted((MONITORING / "rules").glob("*.yaml"))
TEST_FILES = sorted((MONITORING / "tests").glob("*.yaml"))
OPERATIONS = ROOT / "docs" / "operations.md"
RUNBOOKS = "https://github.com/example/pbi-reactivation/blob/main/docs/operations.md#"
# Read from outside the services: Prometheus' own scrape health and Kafka Exporter (Strimzi's kafkaExporter,
# compose's kafka-exporter), both listed in the metrics table too.
EXTERNAL_METRICS = {"up", "kafka_consumergroup_lag"}


def alerts() -> list[dict[str, Any]]:
    return [r for f in RULE_FILES for g in yaml.safe_load(f.read_text())["groups"] for r in g["rules"] if "alert" in r]


def test_promtool_checks_the_rules() -> None:
    out = run([tool("promtool"), "check", "rules", *map(str, RULE_FILES)])
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_rules_pass_their_unit_tests() -> None:
    out = run([tool("promtool"), "test", "rules", *map(str, TEST_FILES)])
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("SUCCESS") == len(TEST_FILES)


def test_promtool_test_catches_a_wrong_threshold(tmp_path: Path) -> None:
    """The unit tests are not vacuous: the lag alert at 30,000 instead of 10,000 fails them."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "tests").mkdir()
    rules = (MONITORING / "rules" / "pbi.yaml").read_text()
    (tmp_path / "rules" / "pbi.yaml").write_text(rules.replace("> 10000", "> 30000"))
    (tmp_path / "tests" / "pbi.test.yaml").write_text((MONITORING / "tests" / "pbi.test.yaml").read_text())
    out = run([tool("promtool"), "test", "rules", str(tmp_path / "tests" / "pbi.test.yaml")])
    assert out.returncode != 0 and "PbiConsumerLagHigh" in out.stdout + out.stderr


def test_every_alert_is_unit_tested() -> None:
    tested = {
        case["alertname"]
        for f in TEST_FILES
        for t in yaml.safe_load(f.read_text())["tests"]
        for case in t.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert {a["alert"] for a in alerts()} <= tested


def test_the_required_alerts_exist() -> None:
    names = {a["alert"] for a in alerts()}
    required = {
        "PbiEmergencySlaWarning",
        "PbiEmergencySlaBreach",
        "PbiConsumerLagHigh",
        "PbiDeadLetters",
        "PbiOutboxStuck",
        "PbiProviderFailureRate",
    }
    assert required <= names


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    slug = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return slug.replace(" ", "-")


def test_every_alert_links_to_a_runbook_that_exists() -> None:
    headings = re.findall(r"^#{2,4} (.+)$", OPERATIONS.read_text(), flags=re.MULTILINE)
    anchors = {github_anchor(h) for h in headings}
    for alert in alerts():
        url = alert["annotations"]["runbook_url"]
        assert url.startswith(RUNBOOKS), url
        assert url.removeprefix(RUNBOOKS) in anchors, f"{alert['alert']}: no heading for {url}"
        assert alert["labels"]["severity"] in ("warning", "critical")
        assert alert["annotations"]["summary"]


def test_the_anchor_rule_follows_github() -> None:
    assert github_anchor("Replaying a dead-letter topic") == "replaying-a-dead-letter-topic"
    assert github_anchor("Capacity: a national wave of 7 million") == "capacity-a-national-wave-of-7-million"


def test_alerts_read_metrics_that_exist_and_are_documented() -> None:
    documented = set(re.findall(r"^\| `([a-z_:][a-z0-9_:]*)`", OPERATIONS.read_text(), flags=re.MULTILINE))
    defined = defined_metric_names()
    for alert in alerts():
        for name in promql_metric_names(alert["expr"]):
            if name in EXTERNAL_METRICS:
                assert name == "up" or name in documented, name
                continue
            assert name in defined, f"{alert['alert']} reads {name}, which no service defines"
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            assert name in documented or base in documented, f"{name} is not in the docs/operations.md table"


def test_compose_prometheus_loads_the_same_rule_files() -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "compose" / "compose.yaml").read_text())
    prometheus = compose["services"]["prometheus"]
    mounts = dict(v.rsplit(":", 1)[0].split(":", 1) for v in prometheus["volumes"] if v.startswith("."))
    rules_dir = mounts["../monitoring/rules"]
    config = yaml.safe_load((ROOT / "deploy" / "compose" / "prometheus.yml").read_text())
    assert config["rule_files"] == [f"{rules_dir}/*.yaml"]
    assert prometheus["image"] == "prom/prometheus:v3.16.0"
    # The rules are checked by Debian's promtool (2.42: minutes sooner than building 3.16's from source);
    # they use nothing 3.x changed, and compose's 3.16 loads the same files.
    script = (ROOT / "deploy" / "tools.sh").read_text()
    assert re.search(r"^PROMTOOL_DEB_PACKAGE=prometheus\b", script, re.MULTILINE)


def test_the_cluster_gets_the_same_rules() -> None:
    assert gen_k8s_rules.TARGET.read_text() == gen_k8s_rules.render(), "run: .venv/bin/python -m deploy.gen_k8s_rules"
    generated = [d for d in yaml.safe_load_all(gen_k8s_rules.TARGET.read_text()) if d]
    assert [d["metadata"]["name"] for d in generated] == [f"pbi-{f.stem}" for f in RULE_FILES]
    for doc, f in zip(generated, RULE_FILES, strict=True):
        assert doc["spec"]["groups"] == yaml.safe_load(f.read_text())["groups"]


def test_rule_generator_check_mode_reports_a_stale_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert gen_k8s_rules.main(["--check"]) == 0
    stale = tmp_path / "prometheusrules.yaml"
    stale.write_text(gen_k8s_rules.render().replace("> 10000", "> 20000"))
    monkeypatch.setattr(gen_k8s_rules, "TARGET", stale)
    assert gen_k8s_rules.main(["--check"]) == 1
