"""The eligibility HTTP surface: health, readiness against real Kafka + PostgreSQL, and metrics."""

from __future__ import annotations

import datetime as dt

import httpx
from prometheus_client.parser import text_string_to_metric_families

from services.eligibility.app import create_app
from shared.events import ReactivationDecided
from shared.settings import Settings
from shared.topics import DECISIONS, REACTIVATION_REQUESTS
from testkit.apps import running
from testkit.eligibility import eligibility_settings
from testkit.events import regular
from testkit.kafka import TopicReader, produce
from testkit.polling import eventually


def sample(text: str, name: str, **labels: str) -> float:
    """One sample's value in a /metrics text (0 when absent): metrics are process-wide, so tests compare
    before and after rather than trusting absolute values."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0.0


async def test_ready_and_metrics_count_decisions_by_outcome_and_reason(settings: Settings) -> None:
    app = create_app(eligibility_settings(settings))
    async with (
        running(app),
        TopicReader(settings, settings.topic_prefix + DECISIONS.name) as decisions,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://eligibility") as http,
    ):
        assert (await http.get("/healthz")).status_code == 200
        ready = await http.get("/readyz")
        assert ready.status_code == 200, ready.text

        before = (await http.get("/metrics")).text
        # Nobody deactivated this NIK (yet): held PENDING for the grace period, which counts from the request's
        # receipt on the app's real clock. Received now, not at testkit.events.NOW (the session's start): a
        # loaded run's worker is more than the grace period old by the time it gets here, and the request
        # would be REJECTED at once.
        now = dt.datetime.now(dt.UTC)
        request = regular("3174015708900002").model_copy(update={"occurred_at": now, "received_at": now})
        await produce(settings, REACTIVATION_REQUESTS, request)
        decision = (
            await decisions.wait_for(
                lambda e: isinstance(e, ReactivationDecided) and e.request_id == request.request_id, timeout=60
            )
        )[0]
        assert (decision.outcome, [r.value for r in decision.reasons]) == ("PENDING", ["NOT_DEACTIVATED"])

        # The counters are this process's (the app runs in the test's process, alone on this test's topics),
        # moved right after the batch's commit; the lag gauge of this test's group is sampled every few seconds.
        reason = {"outcome": "PENDING", "reason": "NOT_DEACTIVATED"}
        name = "pbi_eligibility_decision_reasons_total"
        lag = f'pbi_eligibility_consumer_lag_records{{group="{settings.topic_prefix}eligibility-requests"}}'

        async def counted_and_lag_sampled() -> str:
            text = (await http.get("/metrics")).text
            return text if lag in text and sample(text, name, **reason) > sample(before, name, **reason) else ""

        text = await eventually(counted_and_lag_sampled, timeout=60)
        assert sample(text, name, **reason) == sample(before, name, **reason) + 1
        decided = {"outcome": "PENDING", "path": "REGULAR"}
        name = "pbi_eligibility_decisions_total"
        assert sample(text, name, **decided) == sample(before, name, **decided) + 1
        assert "pbi_eligibility_decision_latency_seconds_bucket" in text
