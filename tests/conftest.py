"""Session-wide fixtures: real infrastructure and per-test isolation (own database, own topics)."""

from __future__ import annotations

import asyncio
import os
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from shared.kafka import ensure_topics
from shared.settings import Settings
from tests import log_scan
from tests.infra import Infra, start_infra

# Tests are local development: fixed local secrets are allowed (shared/secrets.py), in this process and in
# every service process the e2e fixtures start (they inherit the environment).
os.environ.setdefault("PBI_ENV", "local")

# The whole running system (e2e and browser tests): started once per session, only when a test asks for it.
pytest_plugins = ["tests.e2e.fixtures"]
_SESSION_STARTED = log_scan.now()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The whole run's service logs (e2e, browser, demo, chaos) hold no whole NIK or phone number, and
    every line of them is one JSON object."""
    report = log_scan.scan_logs_written_since(_SESSION_STARTED - 1)
    if report:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_sep("=", "service logs: personal data, or lines that are not JSON", red=True)
            for path, found in report.items():
                reporter.write_line(f"{path}: {', '.join(found)}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    with ExitStack() as stack:
        yield start_infra(stack)


async def _create_database(admin_url: str, name: str) -> str:
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f'create database "{name}"'))
    await engine.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


async def _drop_database(admin_url: str, name: str) -> None:
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f'drop database if exists "{name}" with (force)'))
    await engine.dispose()


@pytest.fixture
async def database_url(infra: Infra) -> AsyncIterator[str]:
    """A fresh, empty database for this test alone (dropped afterwards)."""
    name = f"pbi_t_{uuid.uuid4().hex[:12]}"
    url = await _create_database(infra.database_url, name)
    yield url
    await _drop_database(infra.database_url, name)


def new_test_prefix(kind: str) -> str:
    """A topic prefix stamped with its creation time, so a sweep can tell an abandoned run's topics
    from those of a run going on beside this one (another `make test`, a helper's tests)."""
    return f"{kind}{int(time.time()):08x}{uuid.uuid4().hex[:6]}."


@pytest.fixture
def topic_prefix() -> str:
    return new_test_prefix("t")


@pytest.fixture
async def settings(
    infra: Infra, database_url: str, topic_prefix: str, sweep_leftover_test_topics: None
) -> AsyncIterator[Settings]:
    """Settings for one test: its own database and its own topics (created, 2 partitions each, deleted after)."""
    s = Settings(
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        database_url=database_url,
        topic_prefix=topic_prefix,
        kafka_partitions_override=2,
        log_json=False,
    )
    await ensure_topics(s)
    yield s
    await delete_topics(infra.kafka_bootstrap_servers, lambda name: name.startswith(topic_prefix))


# Prefixes of topics that tests create; never the real topics, nor a benchmark's or chaos run's (which may be
# running beside the tests and delete their own topics when they end). Stamped ones are swept once older than
# any test session; unstamped ones are from runs before the stamp existed.
STAMPED_TEST_TOPIC = re.compile(r"^(?:t|e2e)([0-9a-f]{8})[0-9a-f]{6}\.")
UNSTAMPED_TEST_TOPIC = re.compile(r"^(t[0-9a-f]{10}|e2e[0-9a-f]{8}|chaos[0-9a-f]{6}|pp[0-9a-f]{6})\.")
LEFTOVER_AFTER_S = 3 * 3600


def is_leftover_test_topic(name: str, now: float) -> bool:
    stamped = STAMPED_TEST_TOPIC.match(name)
    if stamped:
        return now - int(stamped.group(1), 16) > LEFTOVER_AFTER_S
    return bool(UNSTAMPED_TEST_TOPIC.match(name))


async def delete_topics(bootstrap: str, wanted) -> None:  # type: ignore[no-untyped-def]
    """Keeps the shared broker lean: thousands of leftover partitions make it slow to restart."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        await admin.start()
        names = [n for n in await admin.list_topics() if wanted(n)]
        for i in range(0, len(names), 200):
            await admin.delete_topics(names[i : i + 200])
    except Exception:  # noqa: BLE001 - cleanup is best effort; never fail a test on it
        pass
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def sweep_leftover_test_topics(infra: Infra) -> None:
    """Topics left by interrupted earlier runs (only the test prefixes above; never a run still going on)."""
    now = time.time()
    asyncio.run(delete_topics(infra.kafka_bootstrap_servers, lambda name: is_leftover_test_topic(name, now)))


async def eventually(check, timeout: float = 20.0, interval: float = 0.1):  # type: ignore[no-untyped-def]  # noqa: ASYNC109
    """Poll an async `check` until it returns something truthy; fail with its last value."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last = None
    while loop.time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")
