"""Secrets are never a silent default. Outside local development every secret must be set, and a value
that is a known placeholder (the old defaults, `CHANGE_ME`, ...) refuses to start the process.

Local development is explicit: `PBI_ENV=local`, set by the Makefile (`make up`, `make test`,
`make demo`, `make bench`), by the test suite and by the systems it starts. `make up` also writes it to
`.run/local.env` (ignored by git, never in an image), which every Settings reads, so the `pbi` CLI run
by hand on that checkout talks to the local system with the same local values. Only there do the
secrets fall back to the fixed local values below.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import SecretStr

LOCAL = "local"
LOCAL_ENV_FILE = Path(__file__).resolve().parents[1] / ".run" / "local.env"

# Every fixed value the project ever shipped, and the markers example files use.
KNOWN_PLACEHOLDERS = frozenset(
    {
        "local-dev-pepper-change-me",
        "compose-local-pepper-change-me",
        "local-whatsapp-token",
        "local-whatsapp-app-secret",
        "local-verify-token",
        "local-twilio-auth-token",
        "admin",
        "password",
        "secret",
        "pbi",
        "postgres",
    }
)
_MARKERS = ("change-me", "change_me", "changeme", "placeholder", "example", "xxxxxxxx")


class SecretsError(ValueError):
    """A secret missing or a placeholder outside local development (the message names the variable)."""


def is_placeholder(value: str) -> bool:
    lowered = value.strip().lower()
    return lowered in KNOWN_PLACEHOLDERS or any(marker in lowered for marker in _MARKERS)


def settle_secrets(
    settings: object, env: str, local_values: Mapping[str, str], min_length: Mapping[str, int] | None = None
) -> None:
    """Fill unset secrets with their local value in local mode; elsewhere refuse unset, placeholder or
    too short ones. Each secret is a SecretStr field; empty means unset."""
    for name, local_value in local_values.items():
        secret: SecretStr = getattr(settings, name)
        value = secret.get_secret_value()
        variable = name.upper()
        if env == LOCAL:
            if not value:
                setattr(settings, name, SecretStr(local_value))
            continue
        if not value:
            raise SecretsError(f"{variable} is not set (PBI_ENV={env}); for local development set PBI_ENV=local")
        if is_placeholder(value):
            raise SecretsError(f"{variable} is a placeholder value: refusing to start with it (PBI_ENV={env})")
        if len(value) < (min_length or {}).get(name, 0):
            raise SecretsError(f"{variable} is shorter than {(min_length or {})[name]} characters")
