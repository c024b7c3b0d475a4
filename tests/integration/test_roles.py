"""Urgent and bulk processes on real Kafka + PostgreSQL (`pbi run <svc> --role`, shared.settings.Role):
together they do what one process did, replicas of a role share its partitions, readiness covers
every consumer, and intake's validation worker never outlives the intake process that owns it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from typing import Any

import httpx
import psutil
from sqlalchemy import select

from services.eligibility.app import create_app as eligibility_app
from services.eligibility.store import FactsRow
from services.intake.api import THREAD_BATCH
from services.registry.app import create_app as registry_app
from shared.auth import ApiKeyStore
from shared.db import make_engine
from shared.enums import Outcome
from shared.events import ReactivationDecided
from shared.settings import EligibilitySettings, IntakeSettings, RegistrySettings, Role, Settings
from shared.topics import DECISIONS, EMERGENCY_DECISIONS, EMERGENCY_REQUESTS, PARTICIPANT_EVENTS
from testkit.apps import running
from testkit.events import NIK, deactivated, emergency
from testkit.kafka import TopicReader, produce
from testkit.polling import eventually
from testkit.system import PBI, free_port


async def fact_on_record(settings: Settings) -> None:
    engine = make_engine(settings)
    t = FactsRow.__table__

    async def check() -> bool:
        async with engine.connect() as conn:
            return (await conn.execute(select(t.c.nik).where(t.c.nik == NIK))).first() is not None

    try:
        await eventually(check, timeout=60)  # the first facts after a start wait for the group join too
    finally:
        await engine.dispose()


async def test_an_urgent_and_a_bulk_eligibility_process_together_approve_an_emergency(settings: Settings) -> None:
    s = EligibilitySettings(**settings.model_dump())
    urgent, bulk = eligibility_app(s, role=Role.URGENT), eligibility_app(s, role=Role.BULK)
    async with running(bulk), running(urgent), TopicReader(settings, settings.topic_prefix + DECISIONS.name) as topic:
        await produce(settings, PARTICIPANT_EVENTS, deactivated())  # only the bulk process reads facts
        await fact_on_record(settings)
        request = emergency()
        await produce(settings, EMERGENCY_REQUESTS, request)  # only the urgent process reads emergencies
        decided = await topic.wait_for(
            lambda e: isinstance(e, ReactivationDecided) and e.request_id == request.request_id
        )
    # Published at once by the urgent process, perhaps also by a relay: the same decision either way.
    assert {(d.decision_id, d.outcome) for d in decided} == {(decided[0].decision_id, Outcome.APPROVED)}


def assigned(app: Any, topic: str) -> set[int]:
    return {
        tp.partition
        for sub in app.state.broker.subscribers
        if sub.consumer is not None
        for tp in sub.consumer.assignment()
        if tp.topic == topic
    }


async def test_two_replicas_of_the_bulk_role_split_the_partitions_and_one_takes_over_when_the_other_stops(
    settings: Settings,
) -> None:
    s = EligibilitySettings(**settings.model_dump())
    topic = settings.topic_prefix + PARTICIPANT_EVENTS.name  # 2 partitions in tests, one consumer per process
    first, second = eligibility_app(s, role=Role.BULK), eligibility_app(s, role=Role.BULK)
    async with running(first):
        async with running(second):

            async def split() -> bool:
                a, b = assigned(first, topic), assigned(second, topic)
                return bool(a) and bool(b) and not a & b and a | b == {0, 1}

            await eventually(split, timeout=90)  # a rebalance: distinct members of one group

        async def taken_over() -> bool:
            return assigned(first, topic) == {0, 1}

        await eventually(taken_over, timeout=90)


async def test_readiness_fails_naming_a_consumer_that_stopped(settings: Settings) -> None:
    app = registry_app(RegistrySettings(**settings.model_dump()), role=Role.URGENT)
    async with (
        running(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://registry") as http,
    ):
        ready = await http.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"]["consumers"] == "ok", ready.text
        decisions = next(s for s in app.state.broker.subscribers if s.topic_names[0].endswith(EMERGENCY_DECISIONS.name))
        await decisions.stop()
        stopped = await http.get("/readyz")
    assert stopped.status_code == 503
    assert stopped.json()["checks"]["consumers"].startswith("unavailable")


def batch(n: int) -> dict[str, Any]:
    event = {
        "type": "participant.deactivated",
        "occurred_at": "2026-11-01T08:00:00+07:00",
        "source": "SIKS-NG",
        "deactivated_on": "2026-11-01",
        "reason": "DESIL_ABOVE_5",
    }
    return {"events": [{**event, "nik": f"3674015708{910001 + i:06d}"} for i in range(n)]}


async def test_a_killed_intake_process_takes_its_validation_worker_with_it(settings: Settings) -> None:
    s = IntakeSettings(**settings.model_dump())
    port = free_port()
    env = {
        **os.environ,
        "PBI_ENV": "local",
        "LOG_JSON": "false",
        "DATABASE_URL": s.database_url,
        "KAFKA_BOOTSTRAP_SERVERS": s.kafka_bootstrap_servers,
        "TOPIC_PREFIX": s.topic_prefix,
        "KAFKA_PARTITIONS_OVERRIDE": "2",
        "HTTP_PORT": str(port),
    }
    intake = await asyncio.create_subprocess_exec(
        PBI, "run", "intake", "--role", "urgent", env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    engine = make_engine(s)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:

            async def ready() -> bool:
                try:
                    return (await http.get("/readyz")).status_code == 200
                except httpx.HTTPError:
                    return False

            await eventually(ready, timeout=120)
            key = await ApiKeyStore(engine, s.api_key_pepper.get_secret_value()).issue("feed", ["events:write"])
            posted = await http.post(
                "/v1/events", json=batch(THREAD_BATCH + 1), headers={"Authorization": f"Bearer {key}"}
            )
            assert posted.status_code == 202, posted.text  # validated by the worker process
        owned = psutil.Process(intake.pid).children(recursive=True)
        assert owned, "the validation worker was not started"
        intake.send_signal(signal.SIGKILL)
        await intake.wait()

        def alive(process: psutil.Process) -> bool:
            try:
                return process.status() != psutil.STATUS_ZOMBIE  # dead, not yet reaped by its new parent
            except psutil.NoSuchProcess:
                return False

        async def all_gone() -> bool:
            return not [p for p in owned if alive(p)]

        await eventually(all_gone, timeout=30)
    finally:
        if intake.returncode is None:
            intake.kill()
            await intake.wait()
        await engine.dispose()
