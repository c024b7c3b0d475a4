"""How every Kafka client of the project logs in: one place, from the settings.

The FastStream broker takes a security object (`kafka_security`); the plain aiokafka producers,
consumers and admin clients (outbox relay, intake publisher, CLI, dashboard) take keyword options
(`kafka_client_options`), derived from that same object, so the two can never disagree.

- PLAINTEXT (local `make up`): no options at all.
- SSL: TLS, the broker's certificate checked against KAFKA_SSL_CAFILE (or the system's CAs).
- SASL_PLAINTEXT / SASL_SSL: a SCRAM (or PLAIN) login with KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD.
"""

from __future__ import annotations

import ssl
from typing import Any

from faststream.kafka.security import parse_security
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from shared.settings import Settings

MECHANISMS: dict[str, type[SASLPlaintext] | type[SASLScram256] | type[SASLScram512]] = {
    "SCRAM-SHA-512": SASLScram512,
    "SCRAM-SHA-256": SASLScram256,
    "PLAIN": SASLPlaintext,
}


class KafkaSecurityError(ValueError):
    """The settings ask for a login they do not give enough to make."""


def ssl_context(settings: Settings) -> ssl.SSLContext:
    """Verifies the broker's certificate and host name (the default context), against the cluster CA."""
    return ssl.create_default_context(cafile=settings.kafka_ssl_cafile)


def kafka_security(settings: Settings) -> BaseSecurity | None:
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = ssl_context(settings) if protocol.endswith("SSL") else None
    if protocol == "SSL":
        return BaseSecurity(ssl_context=context, use_ssl=True)
    password = settings.kafka_sasl_password.get_secret_value()
    if not settings.kafka_sasl_username or not password:
        raise KafkaSecurityError(
            f"KAFKA_SECURITY_PROTOCOL={protocol} needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"
        )
    login = MECHANISMS[settings.kafka_sasl_mechanism]
    return login(settings.kafka_sasl_username, password, ssl_context=context, use_ssl=protocol == "SASL_SSL")


def kafka_client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for AIOKafkaProducer / AIOKafkaConsumer / AIOKafkaAdminClient, bootstrap included."""
    options = {k: v for k, v in parse_security(kafka_security(settings)).items() if v is not None}
    return {"bootstrap_servers": settings.kafka_bootstrap_servers, **options}
