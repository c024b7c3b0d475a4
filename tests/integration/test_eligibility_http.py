"""The eligibility HTTP surface: health, readiness against real Kafka + PostgreSQL, and metrics."""

from __future__ import annotations

import httpx

from services.eligibility.app import create_app
from shared.events import ReactivationDecided
from shared.settings import Settings
from shared.topics import DECISIONS, REACTIVATION_REQUESTS
from tests.conftest import eventually
from tests.integration.helpers import TopicReader, produce, running
from tests.integration.test_eligibility_flow import elig_settings, regular


async def test_ready_and_metrics_count_decisions_by_outcome_and_reason(settings: Settings) -> None:
    app = create_app(elig_settings(settings))
    async with (
        running(app),
        TopicReader(settings, settings.topic_prefix + DECISIONS.name) as decisions,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://eligibility") as http,
    ):
        assert (await http.get("/healthz")).status_code == 200
        ready = await http.get("/readyz")
        assert ready.status_code == 200, ready.text

        request = regular("3174015708900002")  # nobody deactivated this NIK
        await produce(settings, REACTIVATION_REQUESTS, request)
        await decisions.wait_for(lambda e: isinstance(e, ReactivationDecided) and e.request_id == request.request_id)

        async def lag_sampled() -> str:
            text = (await http.get("/metrics")).text
            return text if "pbi_eligibility_consumer_lag_records{" in text else ""

        text = await eventually(lag_sampled, timeout=10)
        assert 'pbi_eligibility_decision_reasons_total{outcome="REJECTED",reason="NOT_DEACTIVATED"}' in text
        assert 'pbi_eligibility_decisions_total{outcome="REJECTED",path="REGULAR"}' in text
        assert f'pbi_eligibility_consumer_lag_records{{group="{settings.topic_prefix}eligibility-requests"}}' in text
        assert "pbi_eligibility_decision_latency_seconds_bucket" in text
