"""Who relays eligibility's outbox when it runs as an urgent and a bulk process (services/eligibility/app.py,
RELAY_STANDBY_S), on real Kafka + PostgreSQL: the bulk process relays the bulk decisions even when the urgent
one started first (as make up and the bench start them); the urgent one takes over only when no bulk process
holds the relay."""

from __future__ import annotations

from typing import Any

from services.eligibility.app import create_app
from services.eligibility.store import RequestRow, outbox
from shared.events import ReactivationDecided
from shared.settings import Role, Settings
from shared.topics import DECISIONS, EMERGENCY_DECISIONS, EMERGENCY_REQUESTS, PARTICIPANT_EVENTS, REACTIVATION_REQUESTS
from testkit.apps import running
from testkit.eligibility import count_rows, eligibility_settings, facts_applied
from testkit.events import deactivated, emergency, regular
from testkit.kafka import TopicReader, produce
from testkit.polling import eventually

OTHER = "3674015708900002"


def _of(request_id: object):  # type: ignore[no-untyped-def]
    return lambda e: isinstance(e, ReactivationDecided) and e.request_id == request_id


async def test_the_bulk_process_relays_the_bulk_decisions_while_the_urgent_one_publishes_only_its_emergencies(
    settings: Settings,
) -> None:
    es = eligibility_settings(settings)
    # (a standby longer than the test, whatever the machine's load: the urgent relay never starts here)
    urgent, bulk = create_app(es, role=Role.URGENT, relay_standby_s=600), create_app(es, role=Role.BULK)
    async with (
        running(urgent),
        running(bulk),
        TopicReader(settings, settings.topic_prefix + DECISIONS.name) as topic,
        TopicReader(settings, settings.topic_prefix + EMERGENCY_DECISIONS.name) as copies,
    ):
        await produce(settings, PARTICIPANT_EVENTS, deactivated(), deactivated(OTHER))
        await facts_applied(settings)
        await facts_applied(settings, OTHER)
        request, urgent_request = regular(), emergency(OTHER)
        await produce(settings, REACTIVATION_REQUESTS, request)
        await topic.wait_for(_of(request.request_id), timeout=60)
        await eventually(lambda: _published(bulk, 1))  # (counted once Kafka acknowledged it)
        await produce(settings, EMERGENCY_REQUESTS, urgent_request)
        [decided] = await topic.wait_for(_of(urgent_request.request_id), timeout=60)
        [copy] = await copies.wait_for(_of(urgent_request.request_id), timeout=60)  # the urgent roles' lane
        # its decision and the decision's copy (which carries its SLA state), published at once
        await eventually(lambda: _published(urgent, 2))
        # The bulk relay relayed the regular decision. It may also have read the emergency's rows in the moment
        # between the urgent process's commit and its delete after publishing (shared.outbox.publish_committed:
        # "whichever publishes a row first"): the same two records again, same event ids, which consumers
        # de-duplicate. Never anything else (CI28: 3).
        assert bulk.state.relay.published in (1, 3)
    assert copy.event_id == decided.event_id
    # No regular decision there: the emergency's copy only (once, or twice with one event id: see above).
    assert {(e.request_id, e.event_id) for e in copies.events} == {(urgent_request.request_id, copy.event_id)}


async def test_an_urgent_process_relays_when_no_bulk_process_holds_the_relay(settings: Settings) -> None:
    es = eligibility_settings(settings)
    bulk = create_app(es, role=Role.BULK)
    request = regular()
    async with running(bulk):
        await bulk.state.relay.stop()  # the bulk process dies before relaying its decision
        await produce(settings, PARTICIPANT_EVENTS, deactivated())
        await facts_applied(settings)
        await produce(settings, REACTIVATION_REQUESTS, request)
        await eventually(lambda: count_rows(settings, RequestRow.__table__), timeout=60)
        assert await count_rows(settings, outbox) == 1
    urgent = create_app(es, role=Role.URGENT, relay_standby_s=0.2)
    async with running(urgent), TopicReader(settings, settings.topic_prefix + DECISIONS.name) as topic:
        await topic.wait_for(_of(request.request_id), timeout=60)
        await eventually(lambda: _outbox_empty(settings))


async def _published(app: Any, n: int) -> bool:
    return bool(app.state.relay.published == n)


async def _outbox_empty(settings: Settings) -> bool:
    return await count_rows(settings, outbox) == 0
