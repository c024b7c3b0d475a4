"""The local infrastructure scripts fail with messages a person can act on.

Each case runs deploy/local/kafka.sh with a private state/cache directory and fake tools,
so nothing on the machine is touched.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "deploy" / "local" / "kafka.sh"


def fake_tool(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text(f"#!/usr/bin/env bash\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def run_kafka_sh(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {
        **os.environ,
        "PBI_STATE_DIR": str(tmp_path / "state"),
        "PBI_CACHE_DIR": str(tmp_path / "cache"),
        "PBI_NO_INSTALL": "1",
        **env,
    }
    return subprocess.run(["bash", str(SCRIPT), "start"], capture_output=True, text=True, env=full_env, timeout=60)


def test_missing_java_is_reported(tmp_path: Path) -> None:
    result = run_kafka_sh(tmp_path, JAVA=str(tmp_path / "no-java-here"))
    assert result.returncode != 0
    assert "java not found" in result.stderr
    assert "openjdk-17-jre-headless missing" in result.stderr


def test_old_java_is_reported_with_its_version(tmp_path: Path) -> None:
    java = fake_tool(tmp_path, "java", "echo 'openjdk version \"11.0.2\" 2019-01-15' >&2")
    result = run_kafka_sh(tmp_path, JAVA=java)
    assert result.returncode != 0
    assert "needs Java 17 or newer; found Java 11" in result.stderr


def test_maven_offline_is_reported(tmp_path: Path) -> None:
    mvn = fake_tool(
        tmp_path,
        "mvn",
        'echo "[ERROR] Could not transfer artifact org.apache.kafka:kafka_2.13: Network is unreachable"; exit 1',
    )
    result = run_kafka_sh(tmp_path, MVN=mvn)
    assert result.returncode != 0
    assert "Maven could not resolve the Kafka jars (offline, or Maven Central unreachable?)" in result.stderr
    assert "Network is unreachable" in result.stderr


def test_port_taken_by_another_program_is_reported(tmp_path: Path) -> None:
    # A plain socket holds a free port the script is pointed at, so it can never start a broker here.
    libs = tmp_path / "cache" / f"kafka-{_kafka_version()}" / "libs"
    libs.mkdir(parents=True)
    (libs / ".complete").touch()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = run_kafka_sh(tmp_path, PBI_KAFKA_PORT=str(port), PBI_KAFKA_CONTROLLER_PORT=str(port))
    assert result.returncode != 0
    assert f"port {port} is already taken" in result.stderr
    assert not (tmp_path / "state" / "kafka" / "data").exists()


def _kafka_version() -> str:
    pom = (SCRIPT.parent / "kafka" / "pom.xml").read_text()
    return pom.split("<kafka.version>")[1].split("<")[0]


@pytest.mark.parametrize("command", ["bogus", ""])
def test_unknown_command_prints_usage(command: str) -> None:
    result = subprocess.run(["bash", str(SCRIPT), command], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "usage:" in result.stderr


def rendered_config(tmp_path: Path, **env: str) -> dict[str, str]:
    full_env = {**os.environ, "PBI_STATE_DIR": str(tmp_path / "state"), "PBI_CACHE_DIR": str(tmp_path / "cache"), **env}
    result = subprocess.run(["bash", str(SCRIPT), "config"], capture_output=True, text=True, env=full_env, timeout=30)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def test_local_kafka_has_a_scram_listener_beside_the_plaintext_one_on_loopback(tmp_path: Path) -> None:
    config = rendered_config(tmp_path, PBI_KAFKA_PORT="29092", PBI_KAFKA_SASL_PORT="29094")
    listeners = dict(item.split("://") for item in config["listeners"].split(","))
    assert listeners["PLAINTEXT"] == "127.0.0.1:29092" and listeners["SCRAM"] == "127.0.0.1:29094"
    assert all(address.startswith("127.0.0.1:") for address in listeners.values())  # `make up` stays local
    protocols = dict(item.split(":") for item in config["listener.security.protocol.map"].split(","))
    assert protocols["SCRAM"] == "SASL_PLAINTEXT" and protocols["PLAINTEXT"] == "PLAINTEXT"
    assert config["listener.name.scram.sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert "ScramLoginModule required" in config["listener.name.scram.scram-sha-512.sasl.jaas.config"]
    assert "SCRAM://127.0.0.1:29094" in config["advertised.listeners"]
    assert config["log.dirs"] == str(tmp_path / "state" / "kafka" / "data")


def test_scram_user_is_created_at_format_time_and_added_to_an_older_installation() -> None:
    script = SCRIPT.read_text()
    assert '--add-scram "SCRAM-SHA-512=[name=$SCRAM_USER' in script  # a fresh data directory
    assert "org.apache.kafka.tools.ConfigCommand" in script and "--add-config" in script  # an existing one
