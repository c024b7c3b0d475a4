"""The suite's pytest fixtures, each a thin call into the testkit (what they stand on is there, shared with
the benchmarks): real infrastructure, per-test isolation (own database, own topics), and the whole running
system for the end-to-end and browser tests (started once per session, only when a test asks for it)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack

import httpx
import pytest

from shared.kafka import ensure_topics
from shared.settings import Settings
from testkit import log_scan
from testkit.infra import (
    DatabasePool,
    Infra,
    create_database,
    delete_prefixed_topics,
    delete_topics,
    drop_database,
    is_leftover_test_topic,
    new_test_prefix,
    start_infra,
)
from testkit.keys import Keys
from testkit.otlp import OtlpReceiver
from testkit.system import ARTIFACTS, PBI, RunningSystem, start_system

# Tests are local development: fixed local secrets are allowed (shared/secrets.py), in this process and in
# every service process the e2e fixtures start (they inherit the environment).
os.environ.setdefault("PBI_ENV", "local")

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


# --- infrastructure and per-test isolation ---------------------------------------------------------------


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    with ExitStack() as stack:
        yield start_infra(stack)


@pytest.fixture(scope="session")
async def database_pool(infra: Infra) -> AsyncIterator[DatabasePool]:
    """The session's throwaway databases, made once and emptied between tests (testkit.infra.DatabasePool:
    dropping and creating one per test cost seconds each, a checkpoint per drop)."""
    pool = DatabasePool(infra.database_url)
    yield pool
    await pool.close()


@pytest.fixture
async def database_url(database_pool: DatabasePool) -> AsyncIterator[str]:
    """An empty database for this test alone (emptied afterwards: every schema dropped)."""
    url = await database_pool.take()
    yield url
    await database_pool.give_back(url)


@pytest.fixture
def topic_prefix() -> str:
    return new_test_prefix("t")


@pytest.fixture(scope="session")
async def topic_deletions() -> AsyncIterator[set[asyncio.Task[None]]]:
    """Deletions of tests' topics still going on: a test's topics are deleted while the next test runs (nobody
    waits for it), and the session ends once every deletion has."""
    pending: set[asyncio.Task[None]] = set()
    yield pending
    await asyncio.gather(*pending)


@pytest.fixture
async def settings(
    infra: Infra,
    database_url: str,
    topic_prefix: str,
    sweep_leftover_test_topics: None,
    topic_deletions: set[asyncio.Task[None]],
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
    deletion = asyncio.create_task(delete_prefixed_topics(infra.kafka_bootstrap_servers, topic_prefix))
    topic_deletions.add(deletion)
    deletion.add_done_callback(topic_deletions.discard)


@pytest.fixture(scope="session")
def sweep_leftover_test_topics(infra: Infra) -> None:
    """Topics left by interrupted earlier runs (only the test prefixes; never a run still going on)."""
    now = time.time()
    asyncio.run(delete_topics(infra.kafka_bootstrap_servers, lambda name: is_leftover_test_topic(name, now)))


# --- the running system (end-to-end and browser tests) -----------------------------------------------------


@pytest.fixture(scope="session")
def otlp() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    yield receiver
    receiver.stop()
    # What the trace backend would hold, for the personal-data scan that ends the run (testkit/log_scan.py):
    # written after the services stopped (system's teardown runs first), so their last spans are in.
    spans = receiver.received()
    if spans:
        (ARTIFACTS / "e2e-logs").mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "e2e-logs" / f"traces-{uuid.uuid4().hex[:8]}.log").write_text(log_scan.span_lines(spans))


@pytest.fixture(scope="session")
def system(infra: Infra, sweep_leftover_test_topics: None, otlp: OtlpReceiver) -> Iterator[RunningSystem]:
    name = f"pbi_e2e_{uuid.uuid4().hex[:8]}"
    url = asyncio.run(create_database(infra.database_url, name))
    prefix = new_test_prefix("e2e")
    asyncio.run(
        ensure_topics(
            Settings(
                kafka_bootstrap_servers=infra.kafka_bootstrap_servers, topic_prefix=prefix, kafka_partitions_override=3
            )
        )
    )
    # Tracing on, as an operator switches it on: the endpoint variable (spans go to the test's receiver).
    tracing = {"OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "300"}
    running = start_system(
        url, infra.kafka_bootstrap_servers, prefix, ARTIFACTS / "e2e-logs" / prefix.rstrip("."), tracing
    )
    # As an operator would: the hospitals the tests post for are registered facilities.
    subprocess.run(
        [PBI, "facilities", "add", "3674R001", "RSUD Kota Tangerang Selatan"],
        env=running.env,
        check=True,
        capture_output=True,
    )
    yield running
    running.stop()
    # Every dead-letter header (reasons may quote provider errors) joins the personal-data scan.
    dead = asyncio.run(log_scan.dead_letter_headers(infra.kafka_bootstrap_servers, prefix))
    (running.log_dir / "dead-letters.log").write_text(log_scan.dead_letter_lines(dead))
    asyncio.run(drop_database(infra.database_url, name))


@pytest.fixture(scope="session")
def keys(system: RunningSystem) -> Keys:
    return Keys(Settings(database_url=system.env["DATABASE_URL"]))


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client
