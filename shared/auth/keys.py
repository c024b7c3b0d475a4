"""Issuing, hashing and checking API keys.

A key reads `pbi_<key_id>_<secret>`. Only HMAC-SHA256(pepper, secret) is stored; the key id
finds the row and the hashes are compared in constant time. A key whose id or secret is not of the
issued shape is refused without a query, and the cache of rows (known and unknown ids alike) is
bounded in size and age, so a stream of made-up keys costs neither memory nor the database much.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from cachetools import TTLCache
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from shared.auth.region import bind_region, region_names
from shared.auth.scopes import SCOPES
from shared.auth.tables import SCHEMA, ApiKey
from shared.db import make_sessions, migrate, transaction

MIGRATIONS = Path(__file__).parent / "migrations"
CACHE_SECONDS = 5.0  # a revoked key stops working within this time on every replica
CACHE_ENTRIES = 10_000  # far more than the keys in use; the least recently used go first
# What generate_key makes: 12 hex digits, then token_urlsafe(32) (43 characters; some slack).
KEY_ID = re.compile(r"[0-9a-f]{12}")
SECRET = re.compile(r"[A-Za-z0-9_-]{32,64}")
SOURCE_MAX = 64  # an event's `source` (shared.events.Event)


@dataclass(frozen=True)
class Principal:
    key_id: str
    name: str
    scopes: frozenset[str]
    facility_codes: frozenset[str] = field(default_factory=frozenset)
    source: str = ""  # stamped on every event this key posts (the body's `source` is not trusted)
    province: str | None = None  # the region the key is bound to (Kemendagri codes); None: everywhere
    regency: str | None = None

    @property
    def region(self) -> tuple[str | None, str | None]:
        """The bound (province, regency) by name, as the registry stores regions; (None, None): unbound."""
        return region_names(self.province, self.regency)


def generate_key() -> tuple[str, str, str]:
    """Returns (key, key_id, secret)."""
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    return f"pbi_{key_id}_{secret}", key_id, secret


def parse_key(key: str) -> tuple[str, str] | None:
    """(key id, secret) of a key of the issued shape, else None (answered 401 without a query)."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != "pbi" or not KEY_ID.fullmatch(parts[1]) or not SECRET.fullmatch(parts[2]):
        return None
    return parts[1], parts[2]


def hash_secret(secret: str, pepper: str) -> str:
    return hmac.new(pepper.encode(), secret.encode(), hashlib.sha256).hexdigest()


class ApiKeyStore:
    def __init__(self, engine: AsyncEngine, pepper: str) -> None:
        self.engine, self.pepper = engine, pepper
        self.sessions = make_sessions(engine)
        self._cache: TTLCache[str, ApiKey | None] = TTLCache(maxsize=CACHE_ENTRIES, ttl=CACHE_SECONDS)

    async def migrate(self) -> None:
        await migrate(self.engine, MIGRATIONS, SCHEMA)

    async def issue(
        self,
        name: str,
        scopes: list[str],
        facility_codes: list[str] | None = None,
        source: str | None = None,
        province: str | None = None,
        regency: str | None = None,
    ) -> str:
        """`source` names the system the key's events come from (default: the key's name); `province` /
        `regency` (Kemendagri codes) bind the key to a region (shared.auth.region)."""
        unknown = sorted(set(scopes) - set(SCOPES))
        if unknown or not scopes:
            raise ValueError(f"unknown scope(s): {', '.join(unknown) or '(none given)'}; known: {', '.join(SCOPES)}")
        if "emergency:write" in scopes and not facility_codes:
            raise ValueError("a key with emergency:write must be bound to at least one facility code (--facility)")
        if source is not None and not 0 < len(source.strip()) <= SOURCE_MAX:
            raise ValueError(f"--source must be 1 to {SOURCE_MAX} characters")
        province, regency = bind_region(province, regency)
        key, key_id, secret = generate_key()
        async with transaction(self.sessions) as session:
            session.add(
                ApiKey(
                    key_id=key_id,
                    name=name,
                    secret_hash=hash_secret(secret, self.pepper),
                    scopes=sorted(set(scopes)),
                    facility_codes=sorted(set(facility_codes or [])),
                    source=source.strip() if source else None,
                    province=province,
                    regency=regency,
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
            return list((await session.scalars(select(ApiKey).order_by(col(ApiKey.created_at)))).all())

    async def _row(self, key_id: str) -> ApiKey | None:
        # One lookup, not `in` then `[]`: an entry can expire between the two, and the second then raised
        # KeyError (a 500 to a hospital, seen beside a running demo).
        try:
            return self._cache[key_id]
        except KeyError:
            pass
        async with self.sessions() as session:
            row = await session.get(ApiKey, key_id)
        self._cache[key_id] = row
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
        return Principal(
            row.key_id,
            row.name,
            frozenset(row.scopes),
            frozenset(row.facility_codes),
            row.source or row.name[:SOURCE_MAX],
            row.province,
            row.regency,
        )
