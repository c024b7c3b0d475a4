"""Honest builds: a deprecation in the project's own code fails the run instead of being hidden."""

from __future__ import annotations

import tomllib
import warnings
from pathlib import Path

import pytest

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def filters() -> list[str]:
    return tomllib.loads(PYPROJECT.read_text())["tool"]["pytest"]["ini_options"]["filterwarnings"]


def test_a_deprecation_in_our_code_is_an_error() -> None:
    with pytest.raises(DeprecationWarning, match="old way"):
        warnings.warn("the old way", DeprecationWarning, stacklevel=1)  # attributed to this tests.* module


def test_no_deprecation_is_ignored_wholesale() -> None:
    for f in filters():
        action, _, category, *rest = f.split(":", 3)
        module = rest[0] if rest else ""
        if action == "ignore" and "Deprecation" in category:
            # A third-party ignore names its module; ours are never ignored.
            assert module, f"{f!r} hides every deprecation"
            assert not any(module.startswith(p) for p in ("shared", "services", "pbi_cli", "tests", "testkit")), f
    assert any(f.startswith("error::DeprecationWarning:") for f in filters())
