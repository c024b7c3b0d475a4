"""ApiKeyStore's cache of key rows: an entry that expires while it is read is looked up again, never a 500."""

from __future__ import annotations

import datetime as dt
from contextlib import asynccontextmanager
from typing import Any

from cachetools import TTLCache
from sqlalchemy.ext.asyncio import create_async_engine

from shared.auth.keys import ApiKeyStore, generate_key, hash_secret
from shared.auth.tables import ApiKey

PEPPER = "pepper"


class Ticking:
    """A clock that moves one second each time it is read: `in` and `[]` see different times."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def key_row(key_id: str, secret: str) -> ApiKey:
    return ApiKey(
        key_id=key_id,
        name="rs-fatmawati",
        secret_hash=hash_secret(secret, PEPPER),
        scopes=["events:write"],
        facility_codes=[],
        created_at=dt.datetime(2026, 11, 30, tzinfo=dt.UTC),
    )


class OneRowSessions:
    """Stands in for the session factory: every `get` finds the one row (counted)."""

    def __init__(self, row: ApiKey) -> None:
        self.row, self.gets = row, 0

    @asynccontextmanager
    async def __call__(self) -> Any:
        yield self

    async def get(self, _model: Any, key_id: str) -> ApiKey | None:
        self.gets += 1
        return self.row if key_id == self.row.key_id else None


async def test_a_cached_key_expiring_between_the_check_and_the_read_is_looked_up_again() -> None:
    key, key_id, secret = generate_key()
    store = ApiKeyStore(create_async_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none"), PEPPER)
    sessions = OneRowSessions(key_row(key_id, secret))
    store.sessions = sessions  # type: ignore[assignment]
    # ttl 1.5 on a clock moving 1 s per read: the entry is alive for `in` and gone for `[]`.
    store._cache = TTLCache(maxsize=10, ttl=1.5, timer=Ticking())
    store._cache[key_id] = sessions.row

    principal = await store.authenticate(key)  # a KeyError here was a 500

    assert principal is not None and principal.key_id == key_id


async def test_an_expired_key_is_read_again() -> None:
    key, key_id, secret = generate_key()
    store = ApiKeyStore(create_async_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none"), PEPPER)
    sessions = OneRowSessions(key_row(key_id, secret))
    store.sessions = sessions  # type: ignore[assignment]
    store._cache = TTLCache(maxsize=10, ttl=0.5, timer=Ticking())  # expired by the next read
    store._cache[key_id] = sessions.row

    assert await store.authenticate(key) is not None
    assert sessions.gets == 1


async def test_a_cached_key_is_not_read_again() -> None:
    key, key_id, secret = generate_key()
    store = ApiKeyStore(create_async_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none"), PEPPER)
    sessions = OneRowSessions(key_row(key_id, secret))
    store.sessions = sessions  # type: ignore[assignment]

    assert await store.authenticate(key) is not None
    assert await store.authenticate(key) is not None
    assert sessions.gets == 1
