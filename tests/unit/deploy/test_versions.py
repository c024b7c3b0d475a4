"""One Kafka version and one Python range everywhere (deploy/versions.toml, pyproject's requires-python):
every place that must carry its own literal is read and compared, so none drifts alone."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path
from typing import Any

import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from testkit import infra

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
VERSIONS = tomllib.loads((DEPLOY / "versions.toml").read_text())
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def maven_kafka_version(pom: Path) -> str:
    (version,) = re.findall(r"<kafka\.version>([^<]+)</kafka\.version>", pom.read_text())
    return version


def strimzi_kafka() -> dict[str, Any]:
    docs = yaml.safe_load_all((DEPLOY / "k8s" / "base" / "kafka" / "kafka.yaml").read_text())
    (kafka,) = [d for d in docs if d and d["kind"] == "Kafka"]
    return kafka


def kafka_versions() -> dict[str, str]:
    """Where each environment takes its Kafka version from."""
    compose = yaml.safe_load((DEPLOY / "compose" / "compose.yaml").read_text())
    image, _ = infra.kafka_container_config(29092)  # what testcontainers starts
    return {
        "local broker (deploy/local/kafka/pom.xml)": maven_kafka_version(DEPLOY / "local" / "kafka" / "pom.xml"),
        "local tools (deploy/local/kafka/tools/pom.xml)": maven_kafka_version(
            DEPLOY / "local" / "kafka" / "tools" / "pom.xml"
        ),
        "compose (apache/kafka image)": compose["services"]["kafka"]["image"].removeprefix("apache/kafka:"),
        "testcontainers (testkit/infra.py)": image.removeprefix("apache/kafka:"),
        "Strimzi (spec.kafka.version)": str(strimzi_kafka()["spec"]["kafka"]["version"]),
    }


def test_one_kafka_version_everywhere() -> None:
    wanted = VERSIONS["kafka"]["version"]
    assert kafka_versions() == dict.fromkeys(kafka_versions(), wanted)


def test_the_kafka_version_is_one_the_strimzi_operator_runs() -> None:
    kafka = VERSIONS["kafka"]
    assert kafka["version"] in kafka["strimzi_supported"], (
        f"Strimzi {kafka['strimzi_operator']} cannot run Kafka {kafka['version']}: choose one it ships"
    )


def test_the_version_check_sees_a_place_that_drifts(tmp_path: Path) -> None:
    pom = tmp_path / "pom.xml"
    pom.write_text((DEPLOY / "local" / "kafka" / "pom.xml").read_text().replace(VERSIONS["kafka"]["version"], "9.9.9"))
    assert maven_kafka_version(pom) == "9.9.9" != VERSIONS["kafka"]["version"]


# ---------- Python ----------


def requires_python() -> SpecifierSet:
    return SpecifierSet(PYPROJECT["project"]["requires-python"])


def dockerfile_python() -> str:
    (image,) = re.findall(
        r"^ARG PYTHON_IMAGE=python:(\d+\.\d+)-slim$", (DEPLOY / "Dockerfile").read_text(), re.MULTILINE
    )
    return image


def test_requires_python_is_the_documented_floor_and_ceiling() -> None:
    python = VERSIONS["python"]
    assert requires_python() == SpecifierSet(f">={python['floor']},<{python['ceiling_exclusive']}")


def test_this_interpreter_is_in_the_supported_range() -> None:
    """CI runs the suite on its interpreter: outside requires-python, the run fails here first."""
    running = ".".join(map(str, sys.version_info[:3]))
    assert Version(running) in requires_python(), f"Python {running} is outside {requires_python()}"


def test_image_makefile_and_linters_use_the_floor() -> None:
    floor = VERSIONS["python"]["floor"]
    assert Version(f"{dockerfile_python()}.0") in requires_python()
    assert dockerfile_python() == floor
    (make_py,) = re.findall(r"^PY \?= python(\d+\.\d+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert make_py == floor
    assert PYPROJECT["tool"]["ruff"]["target-version"] == "py" + floor.replace(".", "")
    assert PYPROJECT["tool"]["mypy"]["python_version"] == floor
