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


def test_a_model_serialised_with_a_value_of_the_wrong_type_fails_the_run() -> None:
    from shared.enums import Channel
    from shared.events import AppealRequested

    appeal = AppealRequested(
        occurred_at="2026-12-01T08:00:00+07:00",
        source="notifier",
        nik="3674060509135992",
        request_ref="3F2A9C1B",
        channel=Channel.WHATSAPP,
        appeal_id="0b7d2b0e-3c62-4a8e-9a55-2f1f6f0c2a11",
        phone="+6281234567890",
        received_at="2026-12-01T08:00:00+07:00",
    )
    with pytest.raises(UserWarning, match="Pydantic serializer warnings"):
        appeal.model_copy(update={"channel": "WHATSAPP"}).model_dump_json()  # model_copy does not validate
