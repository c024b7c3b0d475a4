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
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

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
    wait_for_topics,
)
from testkit.keys import Keys
from testkit.otlp import OtlpReceiver
from testkit.system import ARTIFACTS, PBI, RunningSystem, start_system

# Tests are local development: fixed local secrets are allowed (shared/secrets.py), in this process and in
# every service process the e2e fixtures start (they inherit the environment).
os.environ.setdefault("PBI_ENV", "local")

# Hypothesis checks properties, not speed: no per-example deadline and no "too slow" health check, which
# would fail a test because the machine is busy (the suite runs on several workers beside other work).
hypothesis_settings.register_profile("suite", deadline=None, suppress_health_check=[HealthCheck.too_slow])
hypothesis_settings.load_profile("suite")

_SESSION_STARTED = log_scan.now()
TESTS = Path(__file__).resolve().parent


def _is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The whole run's service logs (e2e, browser, demo, chaos) hold no whole NIK or phone number, and
    every line of them is one JSON object. Under pytest-xdist the controller scans once, after every
    worker has finished (their systems stopped, their spans and dead letters written)."""
    _remember_durations(session.config)
    if _is_xdist_worker(session.config):
        return
    report = log_scan.scan_logs_written_since(_SESSION_STARTED - 1)
    if report:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_sep("=", "service logs: personal data, or lines that are not JSON", red=True)
            for path, found in report.items():
                reporter.write_line(f"{path}: {', '.join(found)}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# --- running in parallel (pytest-xdist: `make test` runs `pytest -n 4`) -------------------------------------
# Every test works in its own database and topic prefix, so any test may run beside any other. What stands on
# the session's running system (`system`) is one scope of the scheduler below, so it runs on one worker and
# starts one system there: the end-to-end tests (the demo among them) one, the browser tests another. (The demo
# on a system of its own found one of its 46 requests undecided after its 240 s: its check counts the system's
# decisions, which the e2e tests before it add to; left as it was, in file order, see docs/testing.md.)
# (xdist's own `--dist loadgroup` cannot do it with pytest 9: it renames node ids through an attribute pytest 9
# no longer has.) xdist hands out the multi-test scopes first, then the other tests one by one in collection
# order, which the workers sort by module, longest first (the durations of the last run in this checkout,
# `.pytest_cache`; before any, by tier), so no long test starts last.
SYSTEM_GROUPS = {"e2e/": "e2e-system", "browser/": "browser-system"}
WITHOUT_SYSTEM = ("e2e/test_chaos_reduced.py",)  # starts systems of its own
TIER_SECONDS = {"e2e": 60.0, "browser": 60.0, "integration": 3.0, "unit": 0.05}  # before any run is known
DURATIONS_KEY = "pbi/durations"


def _where(item: pytest.Item) -> str:
    return Path(item.path).resolve().relative_to(TESTS).as_posix()


def system_group(where: str) -> str | None:
    """The scope of the test at `where` (its path under tests/) when it stands on a running system."""
    if where.startswith(WITHOUT_SYSTEM):
        return None
    return next((group for prefix, group in SYSTEM_GROUPS.items() if where.startswith(prefix)), None)


@pytest.hookimpl(tryfirst=True, optionalhook=True)  # before xdist's own; absent with -p no:xdist
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """xdist's load-by-scope scheduling, each test its own scope but a running system's tests one."""
    if config.getvalue("dist") != "load":
        return None  # another --dist chosen by hand
    from xdist.scheduler import LoadScopeScheduling

    class SystemScopes(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return system_group(nodeid.split("::", 1)[0].removeprefix("tests/")) or nodeid

    return SystemScopes(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not _is_xdist_worker(config):
        return  # one process: the tiers in their order, the fastest first
    # A module's tests stay together (its module-scoped fixtures are made once per worker), modules longest first.
    cache = getattr(config, "cache", None)  # None with -p no:cacheprovider
    known: dict[str, float] = cache.get(DURATIONS_KEY, {}) if cache else {}

    # A running system's tests keep their file order (one scope: they run one after another anyway; the demo's
    # count of decided requests relies on the e2e tests before it, docs/testing.md).
    def unit(item: pytest.Item) -> str:
        return system_group(_where(item)) or _where(item)

    seconds: dict[str, float] = {}
    for item in items:
        expected = known.get(item.nodeid, TIER_SECONDS.get(_where(item).split("/")[0], 1.0))
        seconds[unit(item)] = seconds.get(unit(item), 0.0) + expected
    items.sort(key=lambda item: -seconds[unit(item)])  # stable: a module's or a system's own order is kept


_durations: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Setup, call and teardown of every test (on the controller too: xdist hands it the workers' reports)."""
    _durations[report.nodeid] = _durations.get(report.nodeid, 0.0) + report.duration


def _remember_durations(config: pytest.Config) -> None:
    cache = getattr(config, "cache", None)  # None with -p no:cacheprovider
    if _is_xdist_worker(config) or cache is None or not _durations:
        return
    known: dict[str, float] = cache.get(DURATIONS_KEY, {})
    cache.set(DURATIONS_KEY, {**known, **{k: round(v, 2) for k, v in _durations.items()}})


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
    """Settings for one test: its own database and its own topics (created, 2 partitions each, served by the
    broker before the test starts, deleted after)."""
    s = Settings(
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        database_url=database_url,
        topic_prefix=topic_prefix,
        kafka_partitions_override=2,
        log_json=False,
    )
    await wait_for_topics(infra.kafka_bootstrap_servers, await ensure_topics(s))
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
    topics = Settings(
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers, topic_prefix=prefix, kafka_partitions_override=3
    )
    asyncio.run(wait_for_topics(infra.kafka_bootstrap_servers, asyncio.run(ensure_topics(topics))))
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
    asyncio.run(delete_prefixed_topics(infra.kafka_bootstrap_servers, prefix))
    asyncio.run(drop_database(infra.database_url, name))


@pytest.fixture(scope="session")
def keys(system: RunningSystem) -> Keys:
    return Keys(Settings(database_url=system.env["DATABASE_URL"]))


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client
