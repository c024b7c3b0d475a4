"""Where the tests' Kafka and PostgreSQL come from, decided in this one place.

`PBI_TEST_INFRA` chooses (the same variable tells `deploy/local/infra.sh` whether to start anything):
- `env`: KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL name running services (CI services, a shared cluster).
- `testcontainers`: start Kafka and PostgreSQL in Docker, configured like deploy/compose/compose.yaml.
- `local`: the ones `make infra-up` starts on 127.0.0.1 (the default on a machine without Docker).
Unset: `env` when either variable is set, else `local` when it answers, else `testcontainers` when a
Docker engine answers. Tests never know which.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

LOCAL_KAFKA = "127.0.0.1:9092"
LOCAL_DATABASE = "postgresql+asyncpg://postgres@127.0.0.1:5432/pbi"
CHOICES = ("env", "testcontainers", "local")
COMPOSE_FILE = Path(__file__).resolve().parents[1] / "deploy" / "compose" / "compose.yaml"


@dataclass(frozen=True)
class Infra:
    kafka_bootstrap_servers: str
    database_url: str  # the admin database; tests create their own databases beside it
    how: str


def _docker_available() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _reachable(host_port: str) -> bool:
    host, port = host_port.split(",")[0].rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
        return True
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def chosen_infra(environ: dict[str, str] | os._Environ[str] = os.environ) -> str:
    """The source of Kafka and PostgreSQL for this run (see the module docstring)."""
    choice = environ.get("PBI_TEST_INFRA", "").strip().lower()
    if choice:
        if choice not in CHOICES:
            raise RuntimeError(f"PBI_TEST_INFRA={choice!r}: expected one of {', '.join(CHOICES)}")
        return choice
    if environ.get("KAFKA_BOOTSTRAP_SERVERS") or environ.get("DATABASE_URL"):
        return "env"
    if _reachable(LOCAL_KAFKA) and _reachable("127.0.0.1:5432"):
        return "local"
    return "testcontainers" if _docker_available() else "local"


def _compose_service(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE_FILE.read_text())["services"][name])


def kafka_container_config(host_port: int) -> tuple[str, dict[str, str]]:
    """Image and environment of a one-node KRaft broker: the compose file's settings, with the
    listener clients use advertised on `host_port` of this machine (bound 1:1 by the container)."""
    service = _compose_service("kafka")
    env = {k: str(v) for k, v in service["environment"].items()}
    env["KAFKA_LISTENERS"] = "PLAINTEXT://:9092,CONTROLLER://:9093,EXTERNAL://:29092"
    env["KAFKA_ADVERTISED_LISTENERS"] = f"PLAINTEXT://localhost:9092,EXTERNAL://localhost:{host_port}"
    env["KAFKA_CONTROLLER_QUORUM_VOTERS"] = f"{env['KAFKA_NODE_ID']}@localhost:9093"
    return str(service["image"]), env


def postgres_image() -> str:
    return str(_compose_service("postgres")["image"])


def _start_containers(stack: ExitStack) -> Infra:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy
    from testcontainers.postgres import PostgresContainer

    pg = stack.enter_context(PostgresContainer(postgres_image(), driver="asyncpg"))
    port = _free_port()
    image, env = kafka_container_config(port)
    kafka = DockerContainer(image).with_envs(**env).with_bind_ports(29092, port)
    kafka = kafka.waiting_for(LogMessageWaitStrategy("Kafka Server started"))
    stack.enter_context(kafka)
    return Infra(f"127.0.0.1:{port}", pg.get_connection_url(), "testcontainers")


def start_infra(stack: ExitStack) -> Infra:
    how = chosen_infra()
    if how == "env":
        kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", LOCAL_KAFKA)
        return Infra(kafka, os.environ.get("DATABASE_URL", LOCAL_DATABASE), "environment")
    if how == "testcontainers":
        if not _docker_available():
            raise RuntimeError("PBI_TEST_INFRA=testcontainers needs a Docker engine (`docker info` failed)")
        return _start_containers(stack)
    for name, target in (("Kafka", LOCAL_KAFKA), ("PostgreSQL", "127.0.0.1:5432")):
        if not _reachable(target):
            raise RuntimeError(
                f"{name} is not reachable on {target}: run `make infra-up` (or `make test`, "
                "which starts it), set PBI_TEST_INFRA=env with KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL, "
                "or PBI_TEST_INFRA=testcontainers on a machine with Docker."
            )
    return Infra(LOCAL_KAFKA, LOCAL_DATABASE, "local")
