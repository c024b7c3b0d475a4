"""The Helm chart made from the Kustomize base (deploy/gen_helm_chart.py) renders to the same manifests
as `kustomize build deploy/k8s/base`, with the image set through values (by digest), and each of them
is valid against the schemas like the overlays'."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy import gen_helm_chart
from testkit.deploy_tools import ROOT, kubeconform, problems, run, tool

# The first test to need helm may build it (deploy/tools.sh).
pytestmark = pytest.mark.timeout(2400)
DIGEST = "sha256:" + "ab" * 32


def documents(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def key(doc: dict[str, Any]) -> tuple[str, str]:
    return doc["kind"], doc["metadata"]["name"]


@pytest.fixture(scope="module")
def chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tool("kustomize")
    target = tmp_path_factory.mktemp("chart") / "pbi"
    gen_helm_chart.write(target)
    return target


def helm_template(chart: Path, *args: str) -> str:
    out = run([tool("helm"), "template", "pbi", str(chart), *args])
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_the_chart_renders_exactly_the_kustomize_base(chart: Path) -> None:
    from_helm = {key(d): d for d in documents(helm_template(chart))}
    base = run([tool("kustomize"), "build", str(ROOT / "deploy" / "k8s" / "base")])
    from_kustomize = {key(d): d for d in documents(base.stdout)}
    assert from_helm.keys() == from_kustomize.keys()
    for k, doc in from_kustomize.items():
        assert from_helm[k] == doc, k  # the alert templates' {{ }} included, verbatim


def test_the_image_comes_from_values_by_digest(chart: Path) -> None:
    docs = documents(helm_template(chart, "--set", f"image.digest={DIGEST}"))
    images = {
        c["image"]
        for d in docs
        if d["kind"] in ("Deployment", "Job")
        for c in d["spec"]["template"]["spec"]["containers"]
    }
    assert images == {f"ghcr.io/example/pbi-reactivation@{DIGEST}"}
    assert re.search(r"^  digest: sha256:0{64}$", (chart / "values.yaml").read_text(), re.MULTILINE)


def test_the_chart_is_valid_against_the_schemas(chart: Path) -> None:
    result = kubeconform(helm_template(chart, "--set", f"image.digest={DIGEST}"))
    summary, bad = problems(result)
    assert bad == [] and result.returncode == 0, "\n".join(bad) or result.stderr
    assert summary["skipped"] == 0


def test_helm_braces_in_manifests_are_escaped() -> None:
    text = 'summary: "{{ $labels.job }} is down"'
    escaped = gen_helm_chart.escape_for_helm(text)
    assert escaped == 'summary: "{{ "{{" }} $labels.job {{ "}}" }} is down"'


# --- the command line: `--check` and nothing taken for a directory that is not one ------------------------

FAKE_BASE = f"kind: Deployment\nimage: {gen_helm_chart.IMAGE_REPOSITORY}@{gen_helm_chart.UNRELEASED}\n"


@pytest.fixture
def fake_base(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The rendered base, without kustomize: the list's last text (a test may append another)."""
    bases = [FAKE_BASE]
    monkeypatch.setattr(gen_helm_chart, "rendered_base", lambda: bases[-1])
    return bases


def test_check_passes_on_the_chart_the_base_makes(chart: Path) -> None:
    assert gen_helm_chart.main([str(chart), "--check"]) == 0


def test_check_passes_on_a_chart_just_written_and_writes_nothing(
    fake_base: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "pbi"
    assert gen_helm_chart.main([str(target)]) == 0
    before = {p: p.stat().st_mtime_ns for p in target.rglob("*")}
    assert gen_helm_chart.main([str(target), "--check"]) == 0
    assert {p: p.stat().st_mtime_ns for p in target.rglob("*")} == before
    assert "current" in capsys.readouterr().out


def test_check_fails_naming_each_file_of_a_changed_copy(
    fake_base: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "pbi"
    gen_helm_chart.main([str(target)])
    capsys.readouterr()
    (target / "templates" / "manifests.yaml").write_text("edited by hand\n")
    (target / "values.yaml").unlink()
    (target / "templates" / "extra.yaml").write_text("kind: ConfigMap\n")
    assert gen_helm_chart.main([str(target), "--check"]) == 1
    err = capsys.readouterr().err
    assert f"{target}/templates/manifests.yaml: differs" in err
    assert f"{target}/values.yaml: missing" in err
    assert f"{target}/templates/extra.yaml: not generated" in err
    assert f"{target} is stale: run python -m deploy.gen_helm_chart {target}" in err
    assert "Chart.yaml" not in err


def test_check_fails_when_the_base_changed_since_the_chart_was_written(fake_base: list[str], tmp_path: Path) -> None:
    target = tmp_path / "pbi"
    gen_helm_chart.main([str(target)])
    fake_base.append(FAKE_BASE + "replicas: 3\n")
    assert gen_helm_chart.main([str(target), "--check"]) == 1
    assert gen_helm_chart.main([str(tmp_path / "never-written"), "--check"]) == 1


@pytest.mark.parametrize("argv", [["--chek"], ["-c"], ["--check", "--verbose"], ["a", "b"]])
def test_an_unknown_option_is_an_error_never_a_directory(
    argv: list[str], fake_base: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        gen_helm_chart.main(argv)
    assert exit_.value.code == 2
    assert list(tmp_path.iterdir()) == []
