"""The local Kafka cluster's plan (deploy/local/kafka.sh with KAFKA_BROKERS > 1) and the topics' replication
(shared.topics.replication_for, shared.kafka.topics_to_create): ports that never meet the single broker's,
one configuration per node that agrees with what the catalogue creates. No broker is started."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from shared.kafka import make_broker, topics_to_create
from shared.settings import Settings
from shared.topics import CATALOGUE, Replication, replication_for

SCRIPT = Path(__file__).resolve().parents[3] / "deploy" / "local" / "kafka.sh"
SINGLE_BROKER_PORTS = {9092, 9093, 9094}


def kafka_sh(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PBI_STATE_DIR": str(tmp_path / "state"), "PBI_CACHE_DIR": str(tmp_path / "cache")}
    for name in ("PBI_KAFKA_CLUSTER_PORT", "PBI_KAFKA_CLUSTER_CONTROLLER_PORT", "KAFKA_BROKERS"):
        full_env.pop(name, None)
    return subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, env=full_env | env, timeout=30, check=False
    )


def properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))


@pytest.mark.parametrize(
    ("brokers", "requested", "expected"),
    [
        (1, None, Replication(1, 1)),
        (2, None, Replication(2, 1)),
        (3, None, Replication(3, 2)),
        (5, None, Replication(3, 2)),
        (3, 1, Replication(1, 1)),
        (5, 5, Replication(5, 2)),
    ],
)
def test_replication_follows_the_broker_count_unless_asked(
    brokers: int, requested: int | None, expected: Replication
) -> None:
    assert replication_for(brokers, requested) == expected


@pytest.mark.parametrize(("brokers", "requested"), [(0, None), (1, 3), (3, 0)])
def test_impossible_replication_is_refused(brokers: int, requested: int | None) -> None:
    with pytest.raises(ValueError):
        replication_for(brokers, requested)


def test_every_topic_and_dead_letter_topic_gets_the_replication() -> None:
    settings = Settings(pbi_env="local", topic_prefix="t.", kafka_partitions_override=3)
    topics = topics_to_create(settings, CATALOGUE, Replication(3, 2))
    assert len(topics) == sum(2 if spec.has_dlq else 1 for spec in CATALOGUE)
    for topic in topics:
        assert topic.name.startswith("t.")
        assert topic.replication_factor == 3
        assert topic.topic_configs["min.insync.replicas"] == "2"
        assert topic.num_partitions == (1 if topic.name.endswith(".dlq") else 3)


def test_the_cluster_plan_keeps_clear_of_the_single_broker(tmp_path: Path) -> None:
    result = kafka_sh(tmp_path, "plan", KAFKA_BROKERS="3")
    assert result.returncode == 0, result.stderr
    nodes = [line.split() for line in result.stdout.splitlines() if not line.startswith("#")]
    assert [n[0] for n in nodes] == ["1", "2", "3"]
    ports = [int(address.rsplit(":", 1)[1]) for n in nodes for address in n[1:3]]
    assert len(set(ports)) == 6 and not set(ports) & SINGLE_BROKER_PORTS
    data = [Path(n[3]) for n in nodes]
    assert len(set(data)) == 3 and all(d.is_relative_to(tmp_path / "state" / "kafka-cluster") for d in data)
    assert "replication 3, min.insync.replicas 2" in result.stdout


def test_bootstrap_names_every_node_and_the_single_broker_by_default(tmp_path: Path) -> None:
    cluster = kafka_sh(tmp_path, "bootstrap", KAFKA_BROKERS="3", PBI_KAFKA_CLUSTER_PORT="29092")
    assert cluster.stdout.strip() == "127.0.0.1:29092,127.0.0.1:29093,127.0.0.1:29094"
    assert kafka_sh(tmp_path, "bootstrap").stdout.strip() == "127.0.0.1:9092"


@pytest.mark.parametrize("brokers", [2, 3, 5])
def test_each_node_config_is_one_voter_of_the_quorum_with_the_catalogues_replication(
    tmp_path: Path, brokers: int
) -> None:
    expected = replication_for(brokers)
    for node in range(1, brokers + 1):
        result = kafka_sh(tmp_path, "config", str(node), KAFKA_BROKERS=str(brokers))
        assert result.returncode == 0, result.stderr
        config = properties(result.stdout)
        assert config["node.id"] == str(node)
        assert config["process.roles"] == "broker,controller"
        assert len(config["controller.quorum.voters"].split(",")) == brokers
        assert f"{node}@127.0.0.1:{19192 + node - 1}" in config["controller.quorum.voters"]
        assert config["advertised.listeners"] == f"PLAINTEXT://127.0.0.1:{19092 + node - 1}"
        assert config["default.replication.factor"] == config["offsets.topic.replication.factor"]
        assert int(config["default.replication.factor"]) == expected.factor
        assert int(config["min.insync.replicas"]) == expected.min_insync
        assert config["unclean.leader.election.enable"] == "false"
        assert config["log.dirs"] == str(tmp_path / "state" / "kafka-cluster" / f"node-{node}" / "data")


def test_a_broker_count_that_is_not_a_number_is_refused(tmp_path: Path) -> None:
    result = kafka_sh(tmp_path, "start", KAFKA_BROKERS="three")
    assert result.returncode != 0
    assert "KAFKA_BROKERS must be a number of brokers" in result.stderr


def test_services_reach_every_broker_of_a_cluster() -> None:
    # FastStream takes one string as one address: a cluster's comma-separated list must arrive split.
    broker = make_broker(Settings(pbi_env="local", kafka_bootstrap_servers="127.0.0.1:19092, 127.0.0.1:19093"), "t")
    assert broker._connection_kwargs["bootstrap_servers"] == ["127.0.0.1:19092", "127.0.0.1:19093"]  # noqa: SLF001
    assert broker._connection_kwargs["acks"] == "all" and broker._connection_kwargs["enable_idempotence"]  # noqa: SLF001
