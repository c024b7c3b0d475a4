"""Operations can follow one request through the running system: the caller's correlation id comes
back in the response, rides the Kafka headers of every event it causes in every service and is on
their log lines; with the OTLP endpoint set, the services export one connected trace."""

from __future__ import annotations

import uuid

import asyncpg
import httpx
import psutil
from aiokafka import AIOKafkaConsumer
from sqlalchemy import make_url

from shared.correlation import HEADER
from shared.topics import DECISIONS, EMERGENCY_REQUESTS, NOTIFICATION_EVENTS, STATUS_CHANGES
from testkit.bodies import TODAY, nik, recent_deactivation
from testkit.clients import has_status, post_events
from testkit.keys import Keys
from testkit.otlp import OtlpReceiver
from testkit.polling import eventually
from testkit.system import RunningSystem

PATIENT = nik(71, district="02")


async def records_for(system: RunningSystem, topic: str, key: bytes) -> list[dict[str, str]]:
    """Headers of every record of `topic` keyed by `key` (the NIK), read from the beginning."""
    consumer = AIOKafkaConsumer(
        system.env["TOPIC_PREFIX"] + topic,
        bootstrap_servers=system.env["KAFKA_BOOTSTRAP_SERVERS"],
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        found: list[dict[str, str]] = []
        while batch := await consumer.getmany(timeout_ms=1500):
            for records in batch.values():
                found += [{k: v.decode() for k, v in r.headers} for r in records if r.key == key]
        return found
    finally:
        await consumer.stop()


async def notifier_has_number(system: RunningSystem, nik: str) -> bool:
    url = make_url(system.env["DATABASE_URL"]).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(url)
    try:
        return bool(
            await conn.fetchval("select count(*) from notifier.contacts where nik = $1 and phone is not null", nik)
        )
    finally:
        await conn.close()


async def test_one_correlation_id_follows_an_emergency_through_every_service(
    system: RunningSystem, keys: Keys, http: httpx.AsyncClient, otlp: OtlpReceiver
) -> None:
    writer, reader = await keys.issue("events:write"), await keys.issue("participants:read")
    hospital = await keys.issue("emergency:write", ["3674R001"])
    await post_events(http, system, writer, recent_deactivation(PATIENT, phone="081234500071"))
    await eventually(lambda: has_status(http, system, reader, PATIENT, "INACTIVE"), timeout=60)
    # The notifier files the number from the deactivation in a consumer group of its own: an approval it
    # handles before that has no number to message (no_phone_for_message), so no notification event.
    await eventually(lambda: notifier_has_number(system, PATIENT), timeout=60)

    cid = f"simrs-{uuid.uuid4().hex[:12]}"
    r = await http.post(
        system.url("intake") + "/v1/hospital/emergency-reactivations",
        headers={"Authorization": f"Bearer {hospital}", "X-Correlation-ID": cid},
        json={"nik": PATIENT, "facility_code": "3674R001", "letter_no": "IGD/71", "admitted_at": TODAY.isoformat()},
    )
    assert r.status_code == 202, r.text
    assert r.headers["X-Correlation-ID"] == cid
    await eventually(lambda: has_status(http, system, reader, PATIENT, "ACTIVE"), timeout=60)

    key = PATIENT.encode()
    # intake -> eligibility -> registry -> notifier: each one's events carry the id.
    for topic in (EMERGENCY_REQUESTS, DECISIONS, STATUS_CHANGES, NOTIFICATION_EVENTS):

        async def carried(topic: str = topic.name) -> list[dict[str, str]]:
            return [h for h in await records_for(system, topic, key) if h.get(HEADER) == cid]

        assert await eventually(carried, timeout=60), f"no {topic.name} record carries the correlation id"

    logs = {name: (system.log_dir / f"{name}.log").read_text(errors="replace") for name in ("intake", "eligibility")}
    assert f'"correlation_id": "{cid}"' in logs["intake"]  # request_accepted
    assert f'"correlation_id": "{cid}"' in logs["eligibility"]  # emergency_decided
    assert PATIENT not in logs["intake"] + logs["eligibility"]

    # Tracing: intake's HTTP span starts a trace that the eligibility and registry consumers continue.
    async def one_trace() -> set[str]:
        spans = otlp.received()
        roots = [s for s in spans if s.service == "pbi-intake" and s.attributes.get("pbi.correlation_id") == cid]
        if not roots:
            return set()
        trace_id = roots[0].trace_id
        services = {s.service for s in spans if s.trace_id == trace_id or trace_id in s.linked_trace_ids}
        return services if {"pbi-eligibility", "pbi-registry"} <= services else set()

    services = await eventually(one_trace, timeout=60)
    assert "pbi-intake" in services


async def test_errors_and_requests_are_counted_in_prometheus(system: RunningSystem, http: httpx.AsyncClient) -> None:
    assert (await http.get(system.url("intake") + "/v1/reactivations/not-a-uuid")).status_code in (401, 422)
    text = (await http.get(system.url("intake") + "/metrics")).text
    lines = [line for line in text.splitlines() if line.startswith("pbi_http_requests_total{")]
    assert any('route="/v1/reactivations/{request_id}"' in line for line in lines), lines
    assert all('service="intake"' in line for line in lines)


def test_no_service_changes_its_own_cpu_priority(system: RunningSystem) -> None:
    """Priority is the launcher's choice per role (make up nices bulk roles, Kubernetes uses PriorityClasses),
    never a service's own: processes run as `--role all` keep the priority they were started with."""
    nice = {name: psutil.Process(proc.pid).nice() for name, proc in system.processes.items()}
    inherited = psutil.Process().nice()
    assert set(nice.values()) == {inherited}, nice
