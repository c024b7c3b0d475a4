"""Exactly-once effect across crashes, on real Kafka + PostgreSQL.

The mechanism (handlers.py): each batch is one PostgreSQL transaction holding the state change, the
consumed event ids of what no effect keys (processed_events: a re-ranking, say; a deactivation folded
again changes nothing) and the outgoing events (outbox, deterministic ids); Kafka offsets are committed
only afterwards. So a crash
- after the database commit but before the offset commit: the records come again and are skipped;
- after the database commit but before the relay published: the outbox row is published on restart.
"""

from __future__ import annotations

import datetime as dt

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from services.eligibility.app import create_app
from services.eligibility.store import FactsRow, ProcessedEvent, RequestRow, outbox
from shared.events import BiometricRecorded, DesilUpdated, ReactivationDecided
from shared.settings import Role, Settings
from shared.topics import DECISIONS, EMERGENCY_REQUESTS, PARTICIPANT_EVENTS, REACTIVATION_REQUESTS
from testkit.apps import running
from testkit.eligibility import count_rows, eligibility_settings, facts_applied
from testkit.events import NIK, NOW, deactivated, emergency, regular
from testkit.kafka import TopicReader, partitions, produce
from testkit.polling import eventually


def eligible_person() -> list:
    return [
        deactivated(),
        DesilUpdated(occurred_at=NOW, source="DTSEN", nik=NIK, desil=4, effective_on=NOW.date()),
        BiometricRecorded(occurred_at=NOW, source="DUKCAPIL", nik=NIK, recorded_on=NOW.date()),
    ]


async def rewind(settings: Settings, group: str, topic: str) -> None:
    """What a crash before the offset commit leaves behind: the group's position at the start."""
    tps = await partitions(settings, topic)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.commit({tp: 0 for tp in tps})
    finally:
        await consumer.stop()


async def caught_up(settings: Settings, group: str, topic: str) -> None:
    tps = await partitions(settings, topic)
    # (a consumer with a group: aiokafka's group-less consumer cannot be stopped right after starting)
    probe = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, group_id=f"{group}-probe")
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await probe.start()
    await admin.start()
    try:
        ends = await probe.end_offsets(tps)

        async def check() -> bool:
            committed = await admin.list_consumer_group_offsets(group, partitions=tps)
            return all(committed[tp].offset >= ends[tp] for tp in tps)

        await eventually(check)
    finally:
        await probe.stop()
        await admin.close()


async def test_records_redelivered_after_a_crash_before_the_offset_commit_change_nothing(settings: Settings) -> None:
    es = eligibility_settings(settings)
    request = regular()
    mine = lambda e: isinstance(e, ReactivationDecided) and e.request_id == request.request_id  # noqa: E731
    async with running(create_app(es)), TopicReader(settings, settings.topic_prefix + DECISIONS.name) as decisions:
        await produce(settings, PARTICIPANT_EVENTS, *eligible_person())
        await facts_applied(settings, biometric_recorded=True, desil=4)
        await produce(settings, REACTIVATION_REQUESTS, request)
        [approved] = await decisions.wait_for(mine)
        assert approved.outcome == "APPROVED"

    # The process died after its database commit, before Kafka heard of it: offsets back to the start.
    group = f"{settings.topic_prefix}eligibility"
    await rewind(settings, f"{group}-facts", settings.topic_prefix + PARTICIPANT_EVENTS.name)
    await rewind(settings, f"{group}-requests", settings.topic_prefix + REACTIVATION_REQUESTS.name)

    async with running(create_app(es)), TopicReader(settings, settings.topic_prefix + DECISIONS.name) as decisions:
        await caught_up(settings, f"{group}-facts", settings.topic_prefix + PARTICIPANT_EVENTS.name)
        await caught_up(settings, f"{group}-requests", settings.topic_prefix + REACTIVATION_REQUESTS.name)
        await decisions.wait_for(mine)
        await eventually(lambda: _outbox_empty(settings))
        await decisions.poll()
        # The effect: no new decision. The outbox publishes at least once (a relay stopped between the send
        # and the delete sends the row again, under the same id, which every consumer de-duplicates), so the
        # topic may hold a copy; a second decision would carry another id.
        assert {e.decision_id for e in decisions.events if mine(e)} == {approved.decision_id}

    assert await count_rows(settings, RequestRow.__table__) == 1
    # The re-ranking's inbox row only: a deactivation and a biometric recording are keyed by their effect
    # (folded again they change nothing), a request by its id (on record: skipped).
    assert await count_rows(settings, ProcessedEvent.__table__) == 1
    # Replaying the deactivation would have reopened the case; it was skipped.
    assert await count_rows(settings, FactsRow.__table__, FactsRow.__table__.c.reactivated.is_(True)) == 1


async def _outbox_empty(settings: Settings) -> bool:
    return await count_rows(settings, outbox) == 0


async def test_decision_committed_but_not_yet_published_is_published_once_after_a_restart(
    settings: Settings,
) -> None:
    es = eligibility_settings(settings)
    request = regular()
    mine = lambda e: isinstance(e, ReactivationDecided) and e.request_id == request.request_id  # noqa: E731
    app = create_app(es)
    async with running(app):
        await app.state.relay.stop()  # the process will die before its relay publishes anything
        await produce(settings, PARTICIPANT_EVENTS, *eligible_person())
        await facts_applied(settings, biometric_recorded=True, desil=4)
        await produce(settings, REACTIVATION_REQUESTS, request)
        await eventually(
            lambda: count_rows(settings, RequestRow.__table__, RequestRow.__table__.c.outcome == "APPROVED")
        )
        assert await count_rows(settings, outbox) == 1

    async with running(create_app(es)), TopicReader(settings, settings.topic_prefix + DECISIONS.name) as decisions:
        [approved] = await decisions.wait_for(mine)
        await eventually(lambda: _outbox_empty(settings))
        await decisions.poll()
    assert approved.outcome == "APPROVED" and approved.decided_at <= dt.datetime.now(dt.UTC)
    assert [e.decision_id for e in decisions.events if mine(e)] == [approved.decision_id]


async def test_emergency_decision_is_published_at_once_without_waiting_for_the_relay(settings: Settings) -> None:
    """The urgent role publishes its committed emergency decisions itself, whichever process holds the relay."""
    es = eligibility_settings(settings)
    bulk, urgent_app = create_app(es, role=Role.BULK), create_app(es, role=Role.URGENT)
    request = emergency()
    mine = lambda e: isinstance(e, ReactivationDecided) and e.request_id == request.request_id  # noqa: E731
    async with (
        running(bulk),
        running(urgent_app),
        TopicReader(settings, settings.topic_prefix + DECISIONS.name) as decisions,
    ):
        for app in (bulk, urgent_app):  # a bulk backlog no relay has reached yet
            await app.state.relay.stop()
        await produce(settings, PARTICIPANT_EVENTS, deactivated())
        await facts_applied(settings)
        await produce(settings, EMERGENCY_REQUESTS, request)
        [approved] = await decisions.wait_for(mine)
        assert approved.outcome == "APPROVED"
        await eventually(lambda: _outbox_empty(settings))  # its copy went too; nothing left for the relay

        # A person with an event still waiting in the outbox keeps their order: no fast path.
        other = "3174015708900002"
        await produce(settings, PARTICIPANT_EVENTS, deactivated(other))
        await eventually(lambda: count_rows(settings, FactsRow.__table__, FactsRow.__table__.c.nik == other))
        pending, urgent = regular(other), emergency(other)
        await produce(settings, REACTIVATION_REQUESTS, pending)
        await eventually(lambda: count_rows(settings, RequestRow.__table__, RequestRow.__table__.c.nik == other))
        await produce(settings, EMERGENCY_REQUESTS, urgent)
        decided = RequestRow.__table__.c.request_id == urgent.request_id
        await eventually(lambda: count_rows(settings, RequestRow.__table__, decided))
        await decisions.poll()
        await decisions.poll()
        assert not [e for e in decisions.events if isinstance(e, ReactivationDecided) and e.nik == other]
        # PENDING, then APPROVED (with its copy on the emergency-decisions topic), in that order
        assert await count_rows(settings, outbox) == 3
