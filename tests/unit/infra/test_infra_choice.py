"""The one switch that says where the tests' Kafka and PostgreSQL come from, and the Kafka container
the testcontainers branch builds (checked against the compose file: Docker is not on every machine)."""

from __future__ import annotations

import pytest
import yaml

from testkit import infra


def _compose_kafka() -> dict[str, object]:
    return yaml.safe_load(infra.COMPOSE_FILE.read_text())["services"]["kafka"]


@pytest.mark.parametrize("choice", ["env", "testcontainers", "local", " LOCAL "])
def test_an_explicit_choice_wins(choice: str) -> None:
    environ = {"PBI_TEST_INFRA": choice, "KAFKA_BOOTSTRAP_SERVERS": "elsewhere:9092"}
    assert infra.chosen_infra(environ) == choice.strip().lower()


def test_an_unknown_choice_is_refused_with_the_valid_ones() -> None:
    with pytest.raises(RuntimeError, match="env, testcontainers, local"):
        infra.chosen_infra({"PBI_TEST_INFRA": "docker"})


def test_running_services_named_in_the_environment_are_used_when_nothing_is_chosen() -> None:
    assert infra.chosen_infra({"DATABASE_URL": "postgresql+asyncpg://db/pbi"}) == "env"


def test_without_local_services_docker_is_used_when_it_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(infra, "_reachable", lambda _: False)
    monkeypatch.setattr(infra, "_docker_available", lambda: True)
    assert infra.chosen_infra({}) == "testcontainers"
    monkeypatch.setattr(infra, "_docker_available", lambda: False)
    assert infra.chosen_infra({}) == "local"  # and start_infra then says how to start them


def test_the_kafka_container_is_the_compose_broker_advertised_on_the_bound_port() -> None:
    compose = _compose_kafka()
    image, env = infra.kafka_container_config(40123)
    assert image == compose["image"]
    assert image.startswith("apache/kafka:")
    changed = {"KAFKA_LISTENERS", "KAFKA_ADVERTISED_LISTENERS", "KAFKA_CONTROLLER_QUORUM_VOTERS"}
    same = {k: str(v) for k, v in compose["environment"].items() if k not in changed}
    assert {k: v for k, v in env.items() if k not in changed} == same
    # KRaft, one combined node, formatted by the image from CLUSTER_ID: what the compose broker is.
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["CLUSTER_ID"]
    assert "EXTERNAL://localhost:40123" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert "EXTERNAL://:29092" in env["KAFKA_LISTENERS"]
    protocols = dict(p.split(":") for p in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    listeners = {part.split("://")[0] for part in env["KAFKA_LISTENERS"].split(",")}
    assert listeners <= set(protocols)
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@localhost:9093"


def test_the_postgres_container_uses_the_compose_image() -> None:
    compose = yaml.safe_load(infra.COMPOSE_FILE.read_text())["services"]["postgres"]
    assert infra.postgres_image() == compose["image"]


def test_testcontainers_without_docker_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PBI_TEST_INFRA", "testcontainers")
    monkeypatch.setattr(infra, "_docker_available", lambda: False)
    from contextlib import ExitStack

    with ExitStack() as stack, pytest.raises(RuntimeError, match="needs a Docker engine"):
        infra.start_infra(stack)


@pytest.mark.parametrize("choice", ["env", "testcontainers"])
def test_infra_script_starts_nothing_when_tests_bring_their_own(choice: str, tmp_path) -> None:
    import os
    import subprocess

    script = infra.COMPOSE_FILE.parents[1] / "local" / "infra.sh"
    # PATH without java/postgres tools: starting anything would fail loudly.
    env = {**os.environ, "PBI_TEST_INFRA": choice, "PBI_STATE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(["bash", str(script), "up"], capture_output=True, text=True, env=env, timeout=30)
    assert result.returncode == 0, result.stderr
    assert f"PBI_TEST_INFRA={choice}: not starting" in result.stdout + result.stderr
