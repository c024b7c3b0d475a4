"""API keys with scopes, stored hashed in PostgreSQL (schema `auth`); shared by intake and registry."""

from shared.auth.keys import (
    ApiKeyStore,
    Principal,
    generate_key,
    hash_secret,
    parse_key,
)
from shared.auth.scopes import ALL_EVENTS, EVENT_SCOPES, SCOPES, forbidden_event_types

__all__ = [
    "ALL_EVENTS",
    "EVENT_SCOPES",
    "SCOPES",
    "ApiKeyStore",
    "Principal",
    "forbidden_event_types",
    "generate_key",
    "hash_secret",
    "parse_key",
]
