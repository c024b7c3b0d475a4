"""Settings from environment variables (pydantic-settings). Defaults suit the local machine."""

from __future__ import annotations

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
    log_level: str = "INFO"
    log_json: bool = True
    api_key_pepper: SecretStr = SecretStr("local-dev-pepper-change-me")
    http_host: str = "127.0.0.1"
    db_pool_size: int = Field(default=10, ge=1)


class IntakeSettings(Settings):
    http_port: int = 8080


class RegistrySettings(Settings):
    http_port: int = 8081


class NotifierSettings(Settings):
    http_port: int = 8082


class EligibilitySettings(Settings):
    http_port: int = 8083
