"""Packaging conventions: an SPDX licence with its file, and no runtime dependency nobody imports."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# Distribution name -> the module the code imports (where they differ).
IMPORT_NAME = {
    "python-stdnum": "stdnum",
    "prometheus-client": "prometheus_client",
    "pydantic-settings": "pydantic_settings",
    "opentelemetry-sdk": "opentelemetry.sdk",
    "opentelemetry-exporter-otlp-proto-http": "opentelemetry.exporter.otlp.proto.http",
    "opentelemetry-instrumentation-fastapi": "opentelemetry.instrumentation.fastapi",
    "opentelemetry-instrumentation-sqlalchemy": "opentelemetry.instrumentation.sqlalchemy",
    "pyyaml": "yaml",
}
# Used without an import of their own: openpyxl parses through defusedxml when it is installed;
# SQLAlchemy loads asyncpg from the `postgresql+asyncpg://` URL.
USED_INDIRECTLY = {"defusedxml", "asyncpg"}


def _runtime_sources() -> str:
    files = [p for d in ("services", "shared", "pbi_cli", "deploy") for p in (ROOT / d).rglob("*.py")]
    return "\n".join(p.read_text() for p in files)


def test_the_licence_is_an_spdx_expression_with_its_file() -> None:
    assert PYPROJECT["project"]["license"] == "Apache-2.0"
    assert PYPROJECT["project"]["license-files"] == ["LICENSE"]
    assert "Apache License" in (ROOT / "LICENSE").read_text()[:200]


def test_every_runtime_dependency_is_imported_by_the_code() -> None:
    sources = _runtime_sources()
    unused = []
    for requirement in PYPROJECT["project"]["dependencies"]:
        name = re.split(r"[\[<>=; ]", requirement, maxsplit=1)[0].lower()
        if name in USED_INDIRECTLY:
            continue
        module = IMPORT_NAME.get(name, name.replace("-", "_"))
        if not re.search(rf"^\s*(from|import) {re.escape(module)}\b", sources, re.MULTILINE):
            unused.append(name)
    assert not unused, f"runtime dependencies nothing imports (drop them or move them to dev): {unused}"


def test_the_testkit_is_installed_with_the_project() -> None:
    """Tests and benchmarks import `testkit` wherever they run from (docs/CONVENTIONS.md, Tests)."""
    assert "testkit*" in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    assert (ROOT / "testkit" / "__init__.py").exists()
