"""The deploy checks' tools (kustomize, kubeconform, promtool, Kubernetes schemas) come from
deploy/tools.sh, which installs a pinned version into ~/.cache/pbi/tools when it is missing. A test that
needs one skips, saying why, only when the script cannot install it (no Go, no network to the registries)."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
TOOLS_SH = ROOT / "deploy" / "tools.sh"
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("local", "production")


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
