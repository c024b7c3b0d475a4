"""Settings from environment variables (pydantic-settings). Defaults suit the local machine."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", env_file=None)

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/pbi"
    # Prepended to every topic name: lets tests (or tenants) share one cluster in isolation.
    topic_prefix: str = ""
    # Local runs and tests may use fewer partitions than the catalogue's production counts.
    kafka_partitions_override: int | None = None
    kafka_replication_factor: int = 1
    # How every Kafka client logs in (shared/kafka_security.py). Local `make up` is PLAINTEXT on 127.0.0.1;
    # the cluster is SASL_SSL with SCRAM-SHA-512, one user per service, the cluster CA in KAFKA_SSL_CAFILE.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    kafka_sasl_username: str = ""
    kafka_sasl_password: SecretStr = SecretStr("")
    kafka_ssl_cafile: str | None = None
    # False where topics are the cluster's (Strimzi KafkaTopic): a service's Kafka user may not create them.
    kafka_manage_topics: bool = True
    log_level: str = "INFO"
    log_json: bool = True
    api_key_pepper: SecretStr = SecretStr("local-dev-pepper-change-me")
    http_host: str = "127.0.0.1"
    db_pool_size: int = Field(default=10, ge=1)
    # Requests with a missing or unknown API key one client address may make per minute (then 429).
    auth_failures_per_minute: int = Field(default=30, ge=1)


class IntakeSettings(Settings):
    http_port: int = 8080


class RegistrySettings(Settings):
    http_port: int = 8081


class NotifierSettings(Settings):
    http_port: int = 8082


class EligibilitySettings(Settings):
    http_port: int = 8083
