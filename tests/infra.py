"""Where the tests' Kafka and PostgreSQL come from, decided in this one place.

1. KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL set: use those (CI services, a shared cluster).
2. Otherwise, with a Docker engine reachable: start them with testcontainers.
3. Otherwise: the local ones `make infra-up` starts on 127.0.0.1 (the default here).
Tests never know which.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from contextlib import ExitStack
from dataclasses import dataclass

LOCAL_KAFKA = "127.0.0.1:9092"
LOCAL_DATABASE = "postgresql+asyncpg://postgres@127.0.0.1:5432/pbi"


@dataclass(frozen=True)
class Infra:
    kafka_bootstrap_servers: str
    database_url: str  # the admin database; tests create their own databases beside it
    how: str


def _docker_available() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0


def _reachable(host_port: str) -> bool:
    host, port = host_port.split(",")[0].rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
        return True
    except OSError:
        return False


def start_infra(stack: ExitStack) -> Infra:
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    database = os.environ.get("DATABASE_URL")
    if kafka or database:
        return Infra(kafka or LOCAL_KAFKA, database or LOCAL_DATABASE, "environment")
    if not (_reachable(LOCAL_KAFKA) and _reachable("127.0.0.1:5432")) and _docker_available():
        from testcontainers.kafka import KafkaContainer
        from testcontainers.postgres import PostgresContainer

        pg = stack.enter_context(PostgresContainer("postgres:16", driver="asyncpg"))
        kc = stack.enter_context(KafkaContainer("apache/kafka:4.1.0").with_kraft())
        return Infra(kc.get_bootstrap_server(), pg.get_connection_url(), "testcontainers")
    for name, target in (("Kafka", LOCAL_KAFKA), ("PostgreSQL", "127.0.0.1:5432")):
        if not _reachable(target):
            raise RuntimeError(
                f"{name} is not reachable on {target}: run `make infra-up` (or `make test`, "
                "which starts it), or set KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL."
            )
    return Infra(LOCAL_KAFKA, LOCAL_DATABASE, "local")
