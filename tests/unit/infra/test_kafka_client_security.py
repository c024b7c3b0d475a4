"""Every Kafka client the project creates logs in the way the settings say (shared/kafka_security.py).

Local `make up` stays PLAINTEXT with no options at all; the cluster's SASL_SSL + SCRAM-SHA-512 login
reaches the FastStream broker and every plain aiokafka producer, consumer and admin client.
The real SCRAM listener is exercised in tests/integration/test_kafka_sasl.py.
"""

from __future__ import annotations

import ast
import ssl
from pathlib import Path

import certifi
import pytest

from shared.kafka import make_broker
from shared.kafka_security import KafkaSecurityError, kafka_client_options, kafka_security
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
CLIENTS = {"AIOKafkaProducer", "AIOKafkaConsumer", "AIOKafkaAdminClient", "KafkaBroker"}
# Builds a broker only to describe the channels in AsyncAPI; it never connects.
NEVER_CONNECTED = {"services/intake/asyncapi.py"}


def scram(**extra: object) -> Settings:
    values: dict[str, object] = {
        "kafka_bootstrap_servers": "pbi-kafka-bootstrap:9093",
        "kafka_security_protocol": "SASL_SSL",
        "kafka_sasl_username": "pbi-intake",
        "kafka_sasl_password": "s3cret",
        "kafka_ssl_cafile": certifi.where(),
    }
    return Settings.model_validate({**values, **extra})


def test_local_plaintext_adds_nothing() -> None:
    settings = Settings()
    assert kafka_security(settings) is None
    assert kafka_client_options(settings) == {"bootstrap_servers": "127.0.0.1:9092"}


def test_cluster_login_is_scram_sha_512_over_verified_tls() -> None:
    options = kafka_client_options(scram())
    assert options["bootstrap_servers"] == "pbi-kafka-bootstrap:9093"
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("pbi-intake", "s3cret")
    context = options["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_sasl_plaintext_has_no_tls_and_ssl_alone_has_no_login() -> None:
    plain = kafka_client_options(scram(kafka_security_protocol="SASL_PLAINTEXT"))
    assert plain["security_protocol"] == "SASL_PLAINTEXT" and "ssl_context" not in plain
    tls = kafka_client_options(scram(kafka_security_protocol="SSL"))
    assert tls["security_protocol"] == "SSL" and "sasl_mechanism" not in tls


def test_the_faststream_broker_gets_the_same_login() -> None:
    broker = make_broker(scram(), "test")
    # What FastStream hands to every consumer and producer it builds.
    built = broker.config.broker_config.builder.keywords  # type: ignore[attr-defined]
    expected = kafka_client_options(scram())
    for key in ("security_protocol", "sasl_mechanism", "sasl_plain_username", "sasl_plain_password"):
        assert built[key] == expected[key], key
    assert built["ssl_context"].verify_mode == ssl.CERT_REQUIRED


def test_where_topics_are_the_clusters_no_client_tries_to_create_them() -> None:
    assert make_broker(Settings(), "test").config.broker_config.allow_auto_create_topics  # type: ignore[attr-defined]
    cluster = make_broker(scram(kafka_manage_topics=False), "test")
    assert cluster.config.broker_config.allow_auto_create_topics is False  # type: ignore[attr-defined]


@pytest.mark.parametrize("missing", [{"kafka_sasl_username": ""}, {"kafka_sasl_password": ""}])
def test_a_sasl_protocol_without_credentials_is_refused(missing: dict[str, str]) -> None:
    with pytest.raises(KafkaSecurityError, match="KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"):
        kafka_client_options(scram(**missing))


def test_settings_come_from_the_environment_and_the_password_stays_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "KAFKA_SASL_USERNAME": "pbi-notifier",
        "KAFKA_SASL_PASSWORD": "from-a-secret",
        "KAFKA_SSL_CAFILE": "/etc/kafka-ca/ca.crt",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.kafka_sasl_username == "pbi-notifier" and settings.kafka_ssl_cafile == "/etc/kafka-ca/ca.crt"
    assert settings.kafka_sasl_password.get_secret_value() == "from-a-secret"
    assert "from-a-secret" not in repr(settings)


def client_calls_without_login(path: Path, root: Path = ROOT) -> list[str]:
    """Kafka client constructions that name the bootstrap servers themselves (so get no TLS/SASL options)
    or, for the FastStream broker, pass no `security`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", getattr(node.func, "attr", ""))
        if name not in CLIENTS:
            continue
        keywords = {k.arg for k in node.keywords}
        unpacked = any(k.arg is None for k in node.keywords)
        ok = "security" in keywords if name == "KafkaBroker" else unpacked and "bootstrap_servers" not in keywords
        if not ok:
            found.append(f"{path.relative_to(root)}:{node.lineno} {name}")
    return found


def test_every_kafka_client_of_the_project_takes_the_login_from_the_settings() -> None:
    paths = [p for d in ("shared", "services", "pbi_cli") for p in (ROOT / d).rglob("*.py")]
    offenders = [
        hit for p in paths if str(p.relative_to(ROOT)) not in NEVER_CONNECTED for hit in client_calls_without_login(p)
    ]
    assert offenders == []


def test_the_client_check_catches_a_client_built_from_the_bootstrap_servers_alone(tmp_path: Path) -> None:
    source = tmp_path / "client.py"
    source.write_text(
        "p = AIOKafkaProducer(bootstrap_servers=s.kafka_bootstrap_servers, acks='all')\n"
        "q = AIOKafkaConsumer(**kafka_client_options(s), group_id='g')\n"
        "b = KafkaBroker(s.kafka_bootstrap_servers)\n"
    )
    assert client_calls_without_login(source, tmp_path) == ["client.py:1 AIOKafkaProducer", "client.py:3 KafkaBroker"]
