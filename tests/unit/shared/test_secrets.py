"""Secrets have no silent default: outside local development (PBI_ENV=local) a missing secret or a known
placeholder refuses to start; in local mode the fixed local values stand in."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from services.notifier.settings import LOCAL_SECRETS, NotifierSettings
from shared.secrets import LOCAL_ENV_FILE, is_placeholder
from shared.settings import IntakeSettings, Settings

REAL = {
    "api_key_pepper": "9c1f0e7b5a3d48e2b6f4c0a1d9e8b7c6",
    "whatsapp_token": "EAAG-real-looking-token-4f9a",
    "whatsapp_app_secret": "3b9e0d1c7f2a4e5b8c6d",
    "whatsapp_verify_token": "verify-7c2e91",
    "twilio_auth_token": "f0e1d2c3b4a5968778695a4b3c2d1e0f",
}


def test_local_mode_fills_in_the_local_values() -> None:
    s = NotifierSettings(pbi_env="local")
    assert {k: getattr(s, k).get_secret_value() for k in LOCAL_SECRETS} == LOCAL_SECRETS
    intake = IntakeSettings(pbi_env="local")
    assert intake.api_key_pepper.get_secret_value() == "local-dev-pepper-change-me"
    assert "local-dev-pepper" not in repr(intake)  # SecretStr: never in a repr or a log line


def test_unset_is_production_and_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PBI_ENV", raising=False)
    monkeypatch.delenv("API_KEY_PEPPER", raising=False)
    with pytest.raises(ValidationError, match="API_KEY_PEPPER is not set"):
        IntakeSettings(_env_file=None)  # type: ignore[call-arg]  # not the .run/local.env of `make up`


@pytest.mark.parametrize(
    "pepper",
    ["local-dev-pepper-change-me", "compose-local-pepper-change-me", "CHANGE_ME_long_random_value", "short-but-real"],
)
def test_a_placeholder_or_short_pepper_is_refused_outside_local_mode(pepper: str) -> None:
    with pytest.raises(ValidationError, match="API_KEY_PEPPER"):
        Settings(pbi_env="production", api_key_pepper=pepper)


@pytest.mark.parametrize("name", sorted(LOCAL_SECRETS))
def test_each_provider_secret_is_required_and_no_placeholder_outside_local_mode(name: str) -> None:
    with pytest.raises(ValidationError, match=f"{name.upper()} is not set"):
        NotifierSettings(pbi_env="production", **{**REAL, name: ""})
    with pytest.raises(ValidationError, match=f"{name.upper()} is a placeholder"):
        NotifierSettings(pbi_env="production", **{**REAL, name: LOCAL_SECRETS[name]})


def test_real_values_start_and_stay_secret() -> None:
    s = NotifierSettings(pbi_env="production", **REAL)
    assert s.twilio_auth_token.get_secret_value() == REAL["twilio_auth_token"]
    assert REAL["twilio_auth_token"] not in repr(s) and REAL["api_key_pepper"] not in str(s.model_dump())


@pytest.mark.parametrize(
    ("value", "placeholder"),
    [("admin", True), ("CHANGE_ME", True), ("please-changeme", True), ("x7Qp2vLr9sK4", False)],
)
def test_known_placeholders(value: str, placeholder: bool) -> None:
    assert is_placeholder(value) is placeholder


def test_the_file_make_up_writes_puts_this_checkout_in_local_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make up` writes PBI_ENV=local to .run/local.env: the pbi CLI run by hand here then matches the services."""
    monkeypatch.delenv("PBI_ENV", raising=False)
    env_file = tmp_path / "local.env"
    env_file.write_text("PBI_ENV=local\n")
    s = IntakeSettings(_env_file=env_file)  # type: ignore[call-arg]
    assert s.pbi_env == "local" and s.api_key_pepper.get_secret_value() == "local-dev-pepper-change-me"
    assert LOCAL_ENV_FILE == Path(__file__).resolve().parents[3] / ".run" / "local.env"
    monkeypatch.setenv("PBI_ENV", "production")  # the environment wins over the file
    with pytest.raises(ValidationError, match="API_KEY_PEPPER is not set"):
        IntakeSettings(_env_file=env_file)  # type: ignore[call-arg]
