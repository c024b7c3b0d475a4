"""Fixtures for end-to-end and browser tests (registered in tests/conftest.py): the running system, keys, HTTP."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from shared.auth import ApiKeyStore
from shared.db import make_engine
from shared.kafka import ensure_topics
from shared.settings import Settings
from tests import log_scan
from tests.conftest import _create_database, _drop_database, new_test_prefix
from tests.e2e.otlp import OtlpReceiver
from tests.e2e.system import PBI, RunningSystem, start_system
from tests.infra import Infra

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="session")
def otlp() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    yield receiver
    receiver.stop()
    # What the trace backend would hold, for the personal-data scan that ends the run (tests/log_scan.py):
    # written after the services stopped (system's teardown runs first), so their last spans are in.
    spans = receiver.received()
    if spans:
        (ARTIFACTS / "e2e-logs").mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "e2e-logs" / f"traces-{uuid.uuid4().hex[:8]}.log").write_text(log_scan.span_lines(spans))


@pytest.fixture(scope="session")
def system(infra: Infra, sweep_leftover_test_topics: None, otlp: OtlpReceiver) -> Iterator[RunningSystem]:
    name = f"pbi_e2e_{uuid.uuid4().hex[:8]}"
    url = asyncio.run(_create_database(infra.database_url, name))
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
    asyncio.run(_drop_database(infra.database_url, name))


class Keys:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def issue(self, scopes: str, facility: list[str] | None = None) -> str:
        store = ApiKeyStore(make_engine(self.settings), self.settings.api_key_pepper.get_secret_value())
        await store.migrate()
        try:
            return await store.issue("e2e", scopes.split(","), facility)
        finally:
            await store.engine.dispose()


@pytest.fixture(scope="session")
def keys(system: RunningSystem) -> Keys:
    return Keys(Settings(database_url=system.env["DATABASE_URL"]))


@pytest.fixture
async def http() -> AsyncIterator[object]:
    import httpx

    async with httpx.AsyncClient(timeout=30) as client:
        yield client
