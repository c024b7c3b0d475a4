"""compose.yaml holds no secret: every password, token and pepper is a `${VAR:?}` reference filled from
deploy/compose/.env, which `make compose-env` generates with random values and git ignores."""

from __future__ import annotations

import re
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy import gen_compose_env

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = ROOT / "deploy" / "compose" / "compose.yaml"
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|PEPPER|KEY", re.IGNORECASE)
REFERENCE = re.compile(r"^\$\{([A-Z_]+):\?[^}]*\}$")


def environments() -> dict[str, dict[str, Any]]:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    return {name: svc.get("environment") or {} for name, svc in services.items()}


def test_no_secret_is_written_in_compose() -> None:
    referenced: set[str] = set()
    for service, env in environments().items():
        for name, value in env.items():
            if SECRET_NAME.search(name) and name != "OTEL_EXPORTER_OTLP_ENDPOINT":
                match = REFERENCE.match(str(value))
                assert match, f"{service}: {name} is a literal, not ${{VAR:?...}}"
                referenced.add(match[1])
        if url := env.get("DATABASE_URL"):
            assert re.search(r"://[^:/@]+:\$\{POSTGRES_PASSWORD:\?[^}]*\}@", url), f"{service}: {url}"
    text = COMPOSE.read_text()
    for literal in ("admin/admin", "pbi:pbi@", "change-me", "local-whatsapp", "local-twilio"):
        assert literal not in text
    # Everything compose asks for is generated.
    assert referenced | {"POSTGRES_PASSWORD"} <= set(gen_compose_env.SECRETS)
    assert {"GRAFANA_ADMIN_PASSWORD", "API_KEY_PEPPER"} <= referenced


def test_the_services_run_outside_local_mode_and_share_the_provider_secrets() -> None:
    envs = environments()
    for service in ("intake", "registry", "notifier", "eligibility"):
        assert envs[service]["PBI_ENV"] == "production"
    for name in ("WHATSAPP_APP_SECRET", "TWILIO_AUTH_TOKEN", "WHATSAPP_TOKEN"):
        assert envs["notifier"][name] == envs["simulator"][name]


def test_the_generated_file_is_random_private_kept_and_gitignored(tmp_path: Path) -> None:
    first, second = tmp_path / "a.env", tmp_path / "b.env"
    assert gen_compose_env.write(first) == list(gen_compose_env.SECRETS)
    gen_compose_env.write(second)
    a, b = gen_compose_env.read(first), gen_compose_env.read(second)
    assert set(a) == set(gen_compose_env.SECRETS) and all(len(v) >= 24 for v in a.values())
    assert all(a[k] != b[k] for k in a)  # random, not a fixed default
    assert stat.S_IMODE(first.stat().st_mode) == 0o600
    # Running it again keeps every value (the database would otherwise lose its password).
    assert gen_compose_env.write(first) == [] and gen_compose_env.read(first) == a
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", str(gen_compose_env.ENV_FILE)], cwd=ROOT, check=False
    ).returncode
    assert ignored == 0


# --- the command line: `--check` and nothing taken for a file name that is not one ---------------------


def test_check_passes_on_a_file_it_wrote_and_prints_no_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = tmp_path / ".env"
    assert gen_compose_env.main([str(env)]) == 0
    text = env.read_text()
    assert gen_compose_env.main([str(env), "--check"]) == 0
    assert env.read_text() == text
    out = capsys.readouterr()
    assert "every secret set" in out.out
    assert not any(v in out.out + out.err for v in gen_compose_env.read(env).values())


def test_check_fails_naming_what_a_changed_copy_lacks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = tmp_path / ".env"
    gen_compose_env.write(env)
    capsys.readouterr()
    lines = env.read_text().splitlines()
    kept = [line for line in lines if not line.startswith(("API_KEY_PEPPER=", "WHATSAPP_TOKEN="))]
    env.write_text("\n".join(kept + ["WHATSAPP_TOKEN="]) + "\n")
    env.chmod(0o644)
    before = env.read_text()
    assert gen_compose_env.main([str(env), "--check"]) == 1
    assert env.read_text() == before  # nothing written
    err = capsys.readouterr().err
    assert f"{env}: no value for API_KEY_PEPPER" in err and f"{env}: no value for WHATSAPP_TOKEN" in err
    assert "mode 644" in err and f"{env} is stale: run python -m deploy.gen_compose_env {env}" in err
    assert "POSTGRES_PASSWORD" not in err
    assert not any(v and v in err for v in gen_compose_env.read(env).values())


def test_check_fails_on_an_absent_file_without_creating_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = tmp_path / ".env"
    assert gen_compose_env.main([str(env), "--check"]) == 1
    assert not env.exists() and "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--chek"], ["-c"], ["--check", "--force"], ["a.env", "b.env"]])
def test_an_unknown_option_is_an_error_never_a_file_name(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        gen_compose_env.main(argv)
    assert exit_.value.code == 2
    assert list(tmp_path.iterdir()) == []
