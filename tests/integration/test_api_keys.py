"""API-key look-ups on real PostgreSQL, as someone guessing keys would drive them: a malformed key
costs no query, made-up key ids cannot grow the cache without bound, a revoked key stops within the
cache's 5 s, and an address that keeps failing is answered 429 with Retry-After."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
from collections.abc import AsyncIterator

import httpx
import pytest
from cachetools import TTLCache
from sqlalchemy import event

from services.registry.app import create_app as create_registry
from shared.auth import ApiKeyStore
from shared.auth.keys import CACHE_ENTRIES, CACHE_SECONDS
from shared.db import make_engine
from shared.settings import RegistrySettings, Settings
from testkit.apps import running
from testkit.system import PBI


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[tuple[ApiKeyStore, list[str]]]:
    engine = make_engine(settings)
    queries: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute", lambda *a: queries.append(a[2]))
    s = ApiKeyStore(engine, settings.api_key_pepper.get_secret_value())
    await s.migrate()
    yield s, queries
    await engine.dispose()


def made_up_key() -> str:
    return f"pbi_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}"


@pytest.mark.parametrize(
    "key",
    [
        "pbi_0000_nope",
        "pbi_wrong_key",
        "pbi_' or 1=1 --_" + "a" * 43,
        "pbi_0123456789ab_short",
        "pbi_0123456789AB_" + "a" * 43,
        "pbi_" + "0" * 5000 + "_" + "a" * 43,
        "Bearer pbi_0123456789ab_" + "a" * 43,
    ],
)
async def test_a_malformed_key_is_refused_without_a_query(store, key: str) -> None:  # type: ignore[no-untyped-def]
    keys, queries = store
    queries.clear()
    assert await keys.authenticate(key) is None
    assert queries == []


async def test_made_up_key_ids_do_not_grow_the_cache_without_bound(store) -> None:  # type: ignore[no-untyped-def]
    keys, queries = store
    assert keys._cache.maxsize == CACHE_ENTRIES
    made_up = [made_up_key() for _ in range(300)]
    for key in made_up:
        assert await keys.authenticate(key) is None
    assert len(keys._cache) <= CACHE_ENTRIES
    queries.clear()
    assert await keys.authenticate(made_up[-1]) is None  # an unknown id seen just now: answered from the cache
    assert queries == []


async def test_the_cache_keeps_only_the_most_recent_entries(settings: Settings) -> None:
    engine = make_engine(settings)
    keys = ApiKeyStore(engine, settings.api_key_pepper.get_secret_value())
    await keys.migrate()
    try:
        keys._cache = type(keys._cache)(maxsize=50, ttl=CACHE_SECONDS)
        for _ in range(120):
            await keys.authenticate(made_up_key())
        assert len(keys._cache) == 50
    finally:
        await engine.dispose()


async def test_a_revoked_key_stops_within_the_cache_time_on_another_replica(settings: Settings, store) -> None:  # type: ignore[no-untyped-def]
    keys, _ = store
    # The cache's clock is the test's: what is asserted is the cache time, not how fast a loaded machine answers.
    now = [0.0]
    keys._cache = TTLCache(maxsize=CACHE_ENTRIES, ttl=CACHE_SECONDS, timer=lambda: now[0])
    key = await keys.issue("ops", ["participants:read"])
    assert await keys.authenticate(key) is not None
    other_engine = make_engine(settings)
    try:
        await ApiKeyStore(other_engine, settings.api_key_pepper.get_secret_value()).revoke(key.split("_")[1])
    finally:
        await other_engine.dispose()
    now[0] = CACHE_SECONDS * 0.9
    assert await keys.authenticate(key) is not None  # this replica has not looked again yet
    now[0] = CACHE_SECONDS
    assert await keys.authenticate(key) is None  # the cache time is over: it asks the database, revoked


async def test_an_address_that_keeps_failing_gets_429_with_retry_after(settings: Settings) -> None:
    app = create_registry(RegistrySettings(**{**settings.model_dump(), "auth_failures_per_minute": 5}))
    async with running(app):
        good = await app.state.api_keys.issue("ops", ["participants:read"])
        guesser = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=("203.0.113.7", 5000)), base_url="http://registry"
        )
        neighbour = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=("203.0.113.8", 5000)), base_url="http://registry"
        )
        async with guesser, neighbour:
            for _ in range(5):
                r = await guesser.get("/v1/stats", headers={"Authorization": f"Bearer {made_up_key()}"})
                assert r.status_code == 401
            blocked = await guesser.get("/v1/stats", headers={"Authorization": f"Bearer {good}"})
            assert blocked.status_code == 429 and 1 <= int(blocked.headers["Retry-After"]) <= 60
            assert (await neighbour.get("/v1/stats", headers={"Authorization": f"Bearer {good}"})).status_code == 200
            assert (await guesser.get("/healthz")).status_code == 200  # only the authenticated routes


async def test_the_cli_issues_a_key_bound_to_a_source_and_event_scopes(settings: Settings, store) -> None:  # type: ignore[no-untyped-def]
    keys, _ = store
    env = {**os.environ, "DATABASE_URL": settings.database_url, "PBI_ENV": "local"}
    issued = await asyncio.to_thread(
        subprocess.run,
        [PBI, "keys", "issue", "--name", "Dukcapil feed", "--scopes", "events:deaths,events:biometric"]
        + ["--source", "DUKCAPIL"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    principal = await keys.authenticate(issued.stdout.strip().splitlines()[-1])
    assert principal is not None and principal.source == "DUKCAPIL"
    assert principal.scopes == {"events:deaths", "events:biometric"}
    unknown = await asyncio.to_thread(
        subprocess.run,
        [PBI, "keys", "issue", "--name", "x", "--scopes", "events:teleports"],
        env=env,
        capture_output=True,
    )
    assert unknown.returncode != 0
