"""Settings from environment variables (pydantic-settings). Defaults suit the local machine, except
secrets: they have none outside local development (PBI_ENV=local, see shared/secrets.py)."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.secrets import LOCAL_ENV_FILE, settle_secrets


class Role(StrEnum):
    """Which of a service's consumers one process runs (`pbi run <svc> --role`; docs/operations.md, "Roles").

    URGENT: what a patient's path needs (emergency requests, decisions, SLA timers) and the service's
    public HTTP port; BULK: the rest (a wave's facts, regular requests, appeals, privacy, sweeps),
    serving only health and metrics; ALL: both in one process (tests, a small deployment). `make up`,
    compose and Kubernetes run each service as an urgent and a bulk process."""

    URGENT = "urgent"
    BULK = "bulk"
    ALL = "all"

    @property
    def runs_urgent(self) -> bool:
        return self is not Role.BULK

    @property
    def runs_bulk(self) -> bool:
        return self is not Role.URGENT


# A bulk process serves /healthz, /readyz and /metrics on its service's port + 100 (8180-8183), so both
# roles of a service run side by side on one machine; the urgent (or all) process keeps the contract's port.
BULK_PORT_OFFSET = 100


def port_for(http_port: int, role: Role) -> int:
    return http_port + BULK_PORT_OFFSET if role is Role.BULK else http_port


class Settings(BaseSettings):
    # .run/local.env exists only where `make up` ran (PBI_ENV=local); the environment wins over it.
    model_config = SettingsConfigDict(extra="ignore", env_file=LOCAL_ENV_FILE)

    # "local" for development and tests (fixed local secrets allowed); anything else is a deployment.
    pbi_env: Literal["local", "production"] = "production"

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
    api_key_pepper: SecretStr = SecretStr("")  # required outside local mode (at least 16 characters)
    http_host: str = "127.0.0.1"
    db_pool_size: int = Field(default=10, ge=1)
    # Requests with a missing or unknown API key one client address may make per minute (then 429).
    auth_failures_per_minute: int = Field(default=30, ge=1)

    # Only the services that check API keys (intake, registry) and the CLI need the pepper; the cluster
    # mounts it into those pods alone (docs/security.md, "Cluster"), so the others must start without it.
    checks_api_keys: ClassVar[bool] = True

    @model_validator(mode="after")
    def _secrets_set_outside_local_mode(self) -> Settings:
        if self.checks_api_keys:
            pepper = {"api_key_pepper": "local-dev-pepper-change-me"}
            settle_secrets(self, self.pbi_env, pepper, {"api_key_pepper": 16})
        return self


class IntakeSettings(Settings):
    http_port: int = 8080


class RegistrySettings(Settings):
    http_port: int = 8081
    # The window-close sweep (services/registry/sweep.py): how often it looks for closed windows.
    window_sweep_interval_s: float = Field(default=60.0, gt=0)


class NotifierSettings(Settings):
    checks_api_keys: ClassVar[bool] = False
    http_port: int = 8082
    # Retention (UU PDP, CONTRACT.md): message texts and stored dead-letter copies are kept this many days
    # at most; the sweep (services/notifier/retention.py) looks for older ones this often.
    personal_data_retention_days: int = Field(default=90, ge=1)
    retention_sweep_interval_s: float = Field(default=3600.0, gt=0)


class EligibilitySettings(Settings):
    checks_api_keys: ClassVar[bool] = False
    http_port: int = 8083
