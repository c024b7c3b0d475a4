"""Issuing, hashing and checking API keys.

A key reads `pbi_<key_id>_<secret>`. Only HMAC-SHA256(pepper, secret) is stored; the key id
finds the row and the hashes are compared in constant time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from shared.auth.tables import SCHEMA, ApiKey
from shared.db import make_sessions, migrate, transaction

SCOPES = ("events:write", "reactivations:write", "emergency:write", "participants:read", "dashboard:read")
MIGRATIONS = Path(__file__).parent / "migrations"
CACHE_SECONDS = 5.0  # a revoked key stops working within this time on every replica


@dataclass(frozen=True)
class Principal:
    key_id: str
    name: str
    scopes: frozenset[str]
    facility_codes: frozenset[str] = field(default_factory=frozenset)


def generate_key() -> tuple[str, str, str]:
    """Returns (key, key_id, secret)."""
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    return f"pbi_{key_id}_{secret}", key_id, secret


def parse_key(key: str) -> tuple[str, str] | None:
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != "pbi" or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def hash_secret(secret: str, pepper: str) -> str:
    return hmac.new(pepper.encode(), secret.encode(), hashlib.sha256).hexdigest()


class ApiKeyStore:
    def __init__(self, engine: AsyncEngine, pepper: str) -> None:
        self.engine, self.pepper = engine, pepper
        self.sessions = make_sessions(engine)
        self._cache: dict[str, tuple[float, ApiKey | None]] = {}
        self._lock = asyncio.Lock()

    async def migrate(self) -> None:
        await migrate(self.engine, MIGRATIONS, SCHEMA)

    async def issue(self, name: str, scopes: list[str], facility_codes: list[str] | None = None) -> str:
        unknown = sorted(set(scopes) - set(SCOPES))
        if unknown or not scopes:
            raise ValueError(f"unknown scope(s): {', '.join(unknown) or '(none given)'}; known: {', '.join(SCOPES)}")
        if "emergency:write" in scopes and not facility_codes:
            raise ValueError("a key with emergency:write must be bound to at least one facility code (--facility)")
        key, key_id, secret = generate_key()
        async with transaction(self.sessions) as session:
            session.add(
                ApiKey(
                    key_id=key_id,
                    name=name,
                    secret_hash=hash_secret(secret, self.pepper),
                    scopes=sorted(set(scopes)),
                    facility_codes=sorted(set(facility_codes or [])),
                    created_at=dt.datetime.now(dt.UTC),
                )
            )
        return key

    async def revoke(self, key_id: str) -> bool:
        async with transaction(self.sessions) as session:
            result = await session.execute(
                update(ApiKey)
                .where(col(ApiKey.key_id) == key_id, col(ApiKey.revoked_at).is_(None))
                .values(revoked_at=dt.datetime.now(dt.UTC))
            )
        self._cache.pop(key_id, None)
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def list(self) -> list[ApiKey]:
        async with self.sessions() as session:
            return list((await session.exec(select(ApiKey).order_by(col(ApiKey.created_at)))).all())

    async def _row(self, key_id: str) -> ApiKey | None:
        hit = self._cache.get(key_id)
        if hit and time.monotonic() - hit[0] < CACHE_SECONDS:
            return hit[1]
        async with self.sessions() as session:
            row = await session.get(ApiKey, key_id)
        self._cache[key_id] = (time.monotonic(), row)
        return row

    async def authenticate(self, key: str) -> Principal | None:
        parsed = parse_key(key)
        if parsed is None:
            return None
        key_id, secret = parsed
        row = await self._row(key_id)
        expected = row.secret_hash if row else hash_secret("no-such-key", self.pepper)
        # Compare even when the row is missing, so timing does not reveal which key ids exist.
        matches = hmac.compare_digest(expected, hash_secret(secret, self.pepper))
        if row is None or not matches or row.revoked_at is not None:
            return None
        return Principal(row.key_id, row.name, frozenset(row.scopes), frozenset(row.facility_codes))
