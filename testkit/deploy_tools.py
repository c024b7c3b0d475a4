"""What the deploy checks share: their tools (kustomize, kubeconform, promtool, Kubernetes schemas) come from
deploy/tools.sh, which installs a pinned version into ~/.cache/pbi/tools when it is missing (a test that
needs one skips, saying why, only when the script cannot install it: no Go, no network to the registries);
the rendered overlays, kubeconform's verdict on manifests, and the metric names PromQL uses and the code
defines."""

from __future__ import annotations

import functools
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
TOOLS_SH = ROOT / "deploy" / "tools.sh"
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("local", "production")
SCHEMAS = K8S / "schemas"  # the vendored CRD schemas


@functools.cache
def _path(name: str) -> tuple[str | None, str]:
    out = subprocess.run([str(TOOLS_SH), "path", name], capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        return None, out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"
    return out.stdout.strip(), ""


def tool(name: str) -> str:
    """Path of a deploy tool, installed by deploy/tools.sh on first use."""
    path, why = _path(name)
    if path is None:
        pytest.skip(f"deploy/tools.sh could not install {name}: {why}")
    return path


def run(args: list[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=ROOT)


@functools.cache
def rendered(overlay: str) -> str:
    out = run([tool("kustomize"), "build", str(K8S / "overlays" / overlay)])
    assert out.returncode == 0, out.stderr
    return out.stdout


def docs(overlay: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(rendered(overlay)) if d]


# --- manifests against their schemas ---------------------------------------------------------


def kubeconform(manifests: str) -> subprocess.CompletedProcess[str]:
    schemas = tool("k8s-schemas")
    return subprocess.run(
        [
            tool("kubeconform"),
            "-strict",
            "-summary",
            "-output=json",
            f"-kubernetes-version={tool('k8s-version')}",
            f"-schema-location={schemas}/{{{{.ResourceKind}}}}{{{{.KindSuffix}}}}.json",
            f"-schema-location={SCHEMAS}/{{{{.Group}}}}/{{{{.ResourceKind}}}}_{{{{.ResourceAPIVersion}}}}.json",
            "-",
        ],
        input=manifests,
        capture_output=True,
        text=True,
        timeout=300,
    )


def problems(result: subprocess.CompletedProcess[str]) -> tuple[dict[str, int], list[str]]:
    report = json.loads(result.stdout)
    bad = [f"{r['kind']} {r['name']}: {r['msg']}" for r in report["resources"] if r["status"] != "statusValid"]
    return report["summary"], bad


# --- metric names ---------------------------------------------------------------------------


PROMQL_WORDS = {
    "rate", "irate", "increase", "sum", "avg", "max", "min", "count", "by", "without", "histogram_quantile",
    "topk", "bottomk", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "clamp_min",
    "delta", "deriv", "time", "vector", "offset", "le",
}  # fmt: skip


def promql_metric_names(expr: str) -> set[str]:
    expr = re.sub(r'"[^"]*"', "", expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # range selectors
    expr = re.sub(r"\b\d+(ms|[smhdwy])\b", "", expr)  # durations (offset 15m)
    expr = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", expr)  # grouping labels
    tokens = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", expr))
    return {t for t in tokens if t not in PROMQL_WORDS and not re.fullmatch(r"\d.*", t)}


def defined_metric_names() -> set[str]:
    """Every prometheus_client metric name defined in shared/ and services/ (with exposition suffixes)."""
    names: set[str] = set()
    pattern = re.compile(r"\b(Counter|Gauge|Histogram|Summary)\(\s*\"([a-z_:][a-z0-9_:]*)\"")
    for path in [*ROOT.glob("shared/**/*.py"), *ROOT.glob("services/**/*.py")]:
        for kind, name in pattern.findall(path.read_text()):
            names.add(name)
            if kind == "Counter":
                names.add(name if name.endswith("_total") else name + "_total")
            if kind in ("Histogram", "Summary"):
                names |= {name + "_bucket", name + "_sum", name + "_count"}
    return names
