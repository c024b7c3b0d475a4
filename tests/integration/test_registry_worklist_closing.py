"""Worklist items closed and opened by what happens, on real Kafka + PostgreSQL, exactly once however
often the events are redelivered or repeated: the fact that does the work closes its item (closed_by
`system:<event type>`), a fact that came first closes the follow-up as soon as it opens, a re-ranking
older than the item does not count; a breach opens SLA_BREACHED once, done with the final decision."""

from __future__ import annotations

import datetime as dt
import uuid

from services.registry import metrics
from services.registry.app import create_app
from shared.events import BiometricRecorded, DesilUpdated, EmergencySlaChanged, Event, IdSemestaAssigned
from shared.settings import RegistrySettings, Settings
from shared.topics import DECISIONS, PARTICIPANT_EVENTS, TIMER_EVENTS
from testkit.apps import running
from testkit.events import T0, H, again, decided, sla_changed
from testkit.kafka import produce
from testkit.polling import eventually
from testkit.registry import events_seen, worklist_items

NOW = T0 + 48 * H  # the registry's clock: when the system closed what it closed


def fact(kind: type, nik: str, **fields: object) -> Event:
    return kind(occurred_at=T0 + 2 * H, source="dukcapil", nik=nik, **fields)  # type: ignore[no-any-return]


def closed(kind: str, by: str) -> float:
    return metrics.WORKLIST_CLOSED.labels(kind, by)._value.get()


async def test_facts_close_the_items_they_satisfy_once_under_redelivery(settings: Settings) -> None:
    nik, rid = "3674015708900011", uuid.uuid4()
    follow_ups = ("BIOMETRIC_RECORDING", "SIKS_NG_ENTRY", "DESIL_REVERIFICATION")
    approved = decided(nik, rid, "APPROVED", T0 + H, follow_ups=follow_ups)
    before = closed("BIOMETRIC_RECORDING", "system:participant.biometric_recorded")
    async with running(create_app(RegistrySettings(**settings.model_dump()), clock=lambda: NOW)):
        await produce(settings, DECISIONS, approved)
        await eventually(lambda: worklist_items(settings, rid))
        stale = fact(DesilUpdated, nik, desil=7, effective_on=dt.date(2026, 11, 1))  # before the item: no
        await produce(settings, PARTICIPANT_EVENTS, stale)
        await eventually(lambda: events_seen(settings, [stale]))
        assert {i["kind"]: i["state"] for i in await worklist_items(settings, rid)}["DESIL_REVERIFICATION"] == "OPEN"

        facts = [
            fact(BiometricRecorded, nik, recorded_on=dt.date(2026, 11, 24)),
            fact(IdSemestaAssigned, nik, id_semesta="0001234567890"),
            fact(DesilUpdated, nik, desil=4, effective_on=dt.date(2026, 11, 24)),
        ]
        # Each delivered twice (a redelivery) and posted again under a new id (another source's copy).
        stream = [*facts, *facts, *map(again, facts)]
        await produce(settings, PARTICIPANT_EVENTS, *stream)
        await eventually(lambda: events_seen(settings, stream))
        items = {i["kind"]: i for i in await worklist_items(settings, rid)}
    assert {k: (i["state"], i["closed_by"], i["closed_at"]) for k, i in items.items()} == {
        "BIOMETRIC_RECORDING": ("DONE", "system:participant.biometric_recorded", NOW),
        "SIKS_NG_ENTRY": ("DONE", "system:participant.id_semesta_assigned", NOW),
        "DESIL_REVERIFICATION": ("DONE", "system:participant.desil_updated", NOW),
    }
    assert items["DESIL_REVERIFICATION"]["note"] == "desil 4 from 2026-11-24"
    assert closed("BIOMETRIC_RECORDING", "system:participant.biometric_recorded") - before == 1


async def test_a_follow_up_whose_fact_came_first_is_done_as_it_opens(settings: Settings) -> None:
    nik, rid = "3674015708900012", uuid.uuid4()
    recorded = fact(BiometricRecorded, nik, recorded_on=dt.date(2026, 11, 24))
    async with running(create_app(RegistrySettings(**settings.model_dump()), clock=lambda: NOW)):
        await produce(settings, PARTICIPANT_EVENTS, recorded)
        await eventually(lambda: events_seen(settings, [recorded]))
        # The decision was made before eligibility heard of the recording: it still asks for it.
        approved = decided(nik, rid, "APPROVED", T0 + H, follow_ups=("BIOMETRIC_RECORDING", "SIKS_NG_ENTRY"))
        await produce(settings, DECISIONS, approved, again(approved))
        await eventually(lambda: events_seen(settings, [approved]))
        items = {i["kind"]: (i["state"], i["closed_by"]) for i in await worklist_items(settings, rid)}
    assert items == {
        "BIOMETRIC_RECORDING": ("DONE", "system:participant.biometric_recorded"),
        "SIKS_NG_ENTRY": ("OPEN", None),
    }


def sla(nik: str, rid: uuid.UUID, state: str, at: dt.datetime) -> EmergencySlaChanged:
    """From a registered facility (its item names the facility's regency)."""
    return sla_changed(nik, rid, state, at, facility_code="3674R001")


async def test_a_breach_opens_one_sla_breached_item_done_with_the_final_decision(settings: Settings) -> None:
    nik, rid, late = "3674015708900013", uuid.uuid4(), uuid.uuid4()
    breached = sla(nik, rid, "BREACHED", T0 + 24 * H)
    before = metrics.WORKLIST_OPENED.labels("SLA_BREACHED")._value.get()
    async with running(create_app(RegistrySettings(**settings.model_dump()), clock=lambda: NOW)):
        stream = [sla(nik, rid, "WARNING", T0 + 12 * H), breached, breached, again(breached)]
        await produce(settings, TIMER_EVENTS, *stream)
        await eventually(lambda: events_seen(settings, stream))
        [item] = await worklist_items(settings, rid)
        assert (item["kind"], item["state"], item["due_at"], item["opened_at"]) == (
            "SLA_BREACHED",
            "OPEN",
            T0 + 24 * H,
            T0 + 24 * H,
        )
        assert item["regency"] == "Kota Tangerang Selatan"
        approved = decided(nik, rid, "APPROVED", T0 + 25 * H)
        await produce(settings, DECISIONS, approved)
        await eventually(lambda: events_seen(settings, [approved]))
        [item] = await worklist_items(settings, rid)
        assert (item["state"], item["closed_by"], item["note"]) == ("DONE", "system:decision", "decided APPROVED")

        # A breach reported after the emergency was finally decided opens nothing.
        rejected = decided(nik, late, "REJECTED", T0 + 2 * H, ("DECEASED",))
        await produce(settings, DECISIONS, rejected)
        await eventually(lambda: events_seen(settings, [rejected]))
        after = sla(nik, late, "BREACHED", T0 + 24 * H)
        await produce(settings, TIMER_EVENTS, after)
        await eventually(lambda: events_seen(settings, [after]))
        assert await worklist_items(settings, late) == []
    assert metrics.WORKLIST_OPENED.labels("SLA_BREACHED")._value.get() - before == 1


async def test_what_a_pending_request_waits_for_is_listed_then_closed_by_the_fact_or_the_final_decision(
    settings: Settings,
) -> None:
    nik, rid, expires = "3674015708900014", uuid.uuid4(), uuid.uuid4()
    closes = T0 + 90 * 24 * H
    waiting = ("DESIL_UNKNOWN", "BIOMETRIC_MISSING")
    pending = decided(nik, rid, "PENDING", T0 + H, waiting, path="REGULAR").model_copy(
        update={"window_closes_at": closes}
    )
    someone = "3674015708900015"  # waits for a recording that never comes
    other = decided(someone, expires, "PENDING", T0 + H, ("BIOMETRIC_MISSING",), path="REGULAR")
    async with running(create_app(RegistrySettings(**settings.model_dump()), clock=lambda: NOW)):
        await produce(settings, DECISIONS, pending, again(pending), other)
        await eventually(lambda: events_seen(settings, [pending, other]))
        items = await worklist_items(settings, rid)
        assert [(i["kind"], i["state"], i["due_at"]) for i in items] == [
            ("BIOMETRIC_RECORDING", "OPEN", closes),
            ("DESIL_REVERIFICATION", "OPEN", closes),
        ]
        recorded = fact(BiometricRecorded, nik, recorded_on=dt.date(2026, 11, 24))
        await produce(settings, PARTICIPANT_EVENTS, recorded)
        await eventually(lambda: events_seen(settings, [recorded]))
        # The re-ranking came through a village letter eligibility accepted: approved, the rest is moot.
        approved = decided(nik, rid, "APPROVED", T0 + 3 * H, follow_ups=("SIKS_NG_ENTRY",), path="REGULAR")
        expired = decided(someone, expires, "EXPIRED", T0 + 4 * H, ("WINDOW_EXPIRED",), path="REGULAR")
        await produce(settings, DECISIONS, approved, expired, again(pending))
        await eventually(lambda: events_seen(settings, [approved, expired]))
        items = {i["kind"]: (i["state"], i["closed_by"], i["note"]) for i in await worklist_items(settings, rid)}
        [other_item] = await worklist_items(settings, expires)
    assert items == {
        "BIOMETRIC_RECORDING": ("DONE", "system:participant.biometric_recorded", "recorded 2026-11-24"),
        "DESIL_REVERIFICATION": ("DONE", "system:decision", "decided APPROVED"),
        "SIKS_NG_ENTRY": ("OPEN", None, None),  # the approval's own follow-up stays
    }
    assert (other_item["state"], other_item["note"]) == ("DONE", "decided EXPIRED")
