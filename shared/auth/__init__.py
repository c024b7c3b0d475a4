"""API keys with scopes, stored hashed in PostgreSQL (schema `auth`); shared by intake and registry."""

from shared.auth.keys import (
    SCOPES,
    ApiKeyStore,
    Principal,
    generate_key,
    hash_secret,
    parse_key,
)

__all__ = ["SCOPES", "ApiKeyStore", "Principal", "generate_key", "hash_secret", "parse_key"]
