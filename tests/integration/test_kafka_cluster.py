"""The local 3-node Kafka cluster (deploy/local/kafka.sh with KAFKA_BROKERS=3) on private ports and a private
data directory: all three brokers come up, the catalogue's topics get three copies and min.insync.replicas=2,
and an acks=all idempotent write still succeeds with one node killed. The suite's single broker is never
touched. Three JVMs starting take 25 s on a quiet two-core machine and over a minute on a busy one, so the
module runs only when asked: PBI_TEST_KAFKA_CLUSTER=1 (`make test` leaves it out; docs/chaos.md)."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from shared.kafka import ensure_topics
from shared.settings import Settings
from shared.topics import CATALOGUE, PARTICIPANT_EVENTS
from testkit.infra import new_test_prefix

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "local" / "kafka.sh"


def free_run(n: int) -> int:
    """The first of n consecutive free ports (the cluster numbers its nodes' ports from a base)."""
    for base in range(31000 + os.getpid() % 2000 * 3, 45000, 7):
        sockets = []
        try:
            for port in range(base, base + n):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no run of free ports")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    if os.environ.get("PBI_TEST_KAFKA_CLUSTER") != "1":
        pytest.skip("starts a 3-node Kafka cluster (about a minute): set PBI_TEST_KAFKA_CLUSTER=1 to run it")
    if os.environ.get("PBI_TEST_INFRA", "local") != "local" or not shutil.which(os.environ.get("JAVA", "java")):
        pytest.skip("the local cluster needs Java and the local Kafka jars (deploy/local/kafka.sh)")
    client = free_run(3)
    env = {
        **os.environ,
        "KAFKA_BROKERS": "3",
        "PBI_STATE_DIR": str(tmp_path_factory.mktemp("kafka-cluster")),
        "PBI_KAFKA_CLUSTER_PORT": str(client),
        "PBI_KAFKA_CLUSTER_CONTROLLER_PORT": str(free_run(3) if client > 40000 else client + 3),
        "KAFKA_HEAP": "256m",
    }

    def script(*args: str) -> str:
        done = subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        return done.stdout

    try:
        script("start")
        yield script("bootstrap").strip(), env
    finally:
        script("reset")


async def test_three_brokers_and_the_catalogue_replicated_three_times(cluster: tuple[str, dict[str, str]]) -> None:
    bootstrap, _ = cluster
    assert len(bootstrap.split(",")) == 3
    settings = Settings(pbi_env="local", kafka_bootstrap_servers=bootstrap, topic_prefix=new_test_prefix("t"))
    made = await ensure_topics(settings)
    assert len(made) == sum(2 if spec.has_dlq else 1 for spec in CATALOGUE)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        assert len((await admin.describe_cluster())["brokers"]) == 3
        for topic in await admin.describe_topics(made):
            assert topic["partitions"] and all(len(p["replicas"]) == 3 for p in topic["partitions"]), topic
        resources = [ConfigResource(ConfigResourceType.TOPIC, name, {"min.insync.replicas": None}) for name in made]
        for response in await admin.describe_configs(resources):
            for resource in response.to_object()["resources"]:
                (entry,) = resource["config_entries"]
                assert entry["config_value"] == "2", resource["resource_name"]
    finally:
        await admin.close()


async def test_an_acknowledged_write_survives_one_node_killed(cluster: tuple[str, dict[str, str]]) -> None:
    bootstrap, env = cluster
    settings = Settings(pbi_env="local", kafka_bootstrap_servers=bootstrap, topic_prefix=new_test_prefix("t"))
    await ensure_topics(settings, [PARTICIPANT_EVENTS])
    topic = settings.topic_prefix + PARTICIPANT_EVENTS.name
    # Killed, not restarted: the module's cluster is reset after this (last) test.
    kill = ["bash", str(SCRIPT), "node-kill", "2"]
    await asyncio.to_thread(subprocess.run, kill, env=env, check=True, capture_output=True, timeout=60)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for i in range(12):  # every partition: some had their leader on the killed node
            meta = await producer.send_and_wait(topic, b"{}", key=f"nik-{i}".encode())
            assert meta.offset >= 0
    finally:
        await producer.stop()
