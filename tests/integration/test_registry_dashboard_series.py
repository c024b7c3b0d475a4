"""The dashboard's time-series queries on real Kafka + PostgreSQL: decisions and notifier updates go
through the registry's consumers, then each query groups them in one statement: decisions per minute
by outcome (a request counted once, at its latest decision), messages sent/delivered/failed per minute
(the first report of each moment, a later state implying the earlier), emergency time to ACTIVE, and
the worklist summary whose version moves when an item closes."""

from __future__ import annotations

import datetime as dt
import uuid
import xml.etree.ElementTree as ET

import httpx
from sqlalchemy import select, update

from services.registry.app import create_app
from services.registry.dashboard import series
from services.registry.dashboard.kafka_health import KafkaHealth
from services.registry.dashboard.live import LiveSnapshot
from services.registry.store import PE, N, W
from shared.db import make_engine
from shared.events import DesilUpdated, Event, NotificationUpdated
from shared.settings import RegistrySettings, Settings
from shared.topics import DECISIONS, NOTIFICATION_EVENTS, PARTICIPANT_EVENTS
from testkit.apps import running
from testkit.events import NIK, T0, decided
from testkit.kafka import produce
from testkit.polling import eventually

SVG = "{http://www.w3.org/2000/svg}"
S, M = dt.timedelta(seconds=1), dt.timedelta(minutes=1)


def update_of(message: uuid.UUID, state: str, at: dt.datetime) -> NotificationUpdated:
    return NotificationUpdated(
        occurred_at=at, source="notifier", nik=NIK, message_id=message, kind="DECISION", channel="WHATSAPP", state=state
    )  # type: ignore[arg-type]


async def _seen(settings: Settings, events: list[Event]) -> bool:
    engine = make_engine(settings)
    async with engine.connect() as conn:
        found = (await conn.execute(select(PE.c.event_id).where(PE.c.event_id.in_([e.event_id for e in events])))).all()
    await engine.dispose()
    return len(found) == len(events)


async def _notified(settings: Settings, updates: list[NotificationUpdated]) -> bool:
    """Every message's row has its latest update (a message's state updates take no inbox row; one
    partition, so its latest applied means the others were too)."""
    latest: dict[uuid.UUID, dt.datetime] = {}
    for u in updates:
        latest[u.message_id] = max(u.occurred_at, latest.get(u.message_id, u.occurred_at))
    engine = make_engine(settings)
    async with engine.connect() as conn:
        query = select(N.c.message_id, N.c.updated_at).where(N.c.message_id.in_(latest))
        rows = dict((await conn.execute(query)).all())
    await engine.dispose()
    return all(rows.get(m) is not None and rows[m] >= at for m, at in latest.items())


async def test_time_series_are_grouped_per_minute_in_the_database(settings: Settings) -> None:
    fast, slow, rejected, waiting = (uuid.uuid4() for _ in range(4))
    decisions = [
        decided(NIK, fast, "APPROVED", T0 + 2 * S, follow_ups=("SIKS_NG_ENTRY",)),  # ACTIVE in 2 s
        decided(NIK, slow, "PENDING", T0 + 10 * S, reasons=("NIK_CONFLICT",)),
        decided(NIK, slow, "APPROVED", T0 + 90 * S),  # ACTIVE in 90 s; counted once, as approved
        decided(NIK, rejected, "REJECTED", T0 + 30 * S, path="REGULAR"),
        decided(NIK, waiting, "PENDING", T0 + 150 * S, path="REGULAR"),
        # Before the window (received then too).
        decided(NIK, uuid.uuid4(), "APPROVED", T0 - M, path="REGULAR").model_copy(update={"received_at": T0 - M}),
    ]
    a, b, c, old = (uuid.uuid4() for _ in range(4))
    updates = [
        update_of(a, "SENT", T0 + 5 * S),
        update_of(a, "DELIVERED", T0 + 70 * S),
        update_of(a, "READ", T0 + 80 * S),
        update_of(b, "QUEUED", T0 + 1 * S),
        update_of(b, "FAILED", T0 + 20 * S),
        update_of(c, "DELIVERED", T0 + 65 * S),  # its SENT never reported: delivered means sent
        update_of(old, "SENT", T0 - 10 * M),
    ]
    late = update_of(a, "SENT", T0 + 200 * S)  # a report of SENT again, later: the first one stands
    async with running(create_app(RegistrySettings(**settings.model_dump()))) as app:
        await produce(settings, DECISIONS, *decisions)
        await produce(settings, NOTIFICATION_EVENTS, *updates)
        await eventually(lambda: _seen(settings, decisions))
        await eventually(lambda: _notified(settings, updates))
        await produce(settings, NOTIFICATION_EVENTS, late)
        await eventually(lambda: _notified(settings, [late]))
        engine = app.state.engine
        async with engine.connect() as conn:
            by_outcome = await series.decisions(conn, T0, T0 + 3 * M, M)
            messages = await series.messages(conn, T0, T0 + 5 * M, M)
            to_active = await series.time_to_active(conn, T0 - M)
            summary = await series.worklist_summary(conn, T0 + dt.timedelta(days=31))
        async with engine.begin() as conn:
            await conn.execute(update(W).values(state="DONE", closed_by="test", closed_at=T0 + dt.timedelta(days=1)))
        async with engine.connect() as conn:
            after_done = await series.worklist_summary(conn, T0 + dt.timedelta(days=31))

    assert sorted(by_outcome) == [
        (T0, "APPROVED", 1),
        (T0, "REJECTED", 1),
        (T0 + M, "APPROVED", 1),
        (T0 + 2 * M, "PENDING", 1),
    ]
    assert sorted(messages) == [
        (T0, "FAILED", 1),
        (T0, "SENT", 1),
        (T0 + M, "DELIVERED", 2),
        (T0 + M, "SENT", 1),
    ]
    # Edges 1, 5, 30, 60, 300 s ...: 2 s in bucket 1 (1-5 s), 90 s in bucket 4 (1-5 min).
    assert to_active["counts"] == [0, 1, 0, 0, 1, 0, 0, 0, 0]
    assert to_active["p50_s"] == 46.0 and 2 < to_active["p90_s"] < 90
    # SIKS_NG_ENTRY, due in 30 days: overdue on day 31.
    assert (summary["open"], summary["overdue"]) == (1, 1)
    assert summary["open_by_kind"] == {"SIKS_NG_ENTRY": 1}
    assert (after_done["open"], after_done["overdue"]) == (0, 0)
    assert after_done["version"] != summary["version"]


async def test_the_snapshot_carries_the_charts_and_the_worklist_summary_and_me_tells_the_scopes(
    settings: Settings,
) -> None:
    held = decided(NIK, uuid.uuid4(), "PENDING", T0 + S, reasons=("NIK_CONFLICT",))
    async with running(create_app(RegistrySettings(**settings.model_dump()))) as app:
        viewer = await app.state.api_keys.issue("ops", ["dashboard:read", "worklist:read"])
        other = await app.state.api_keys.issue("other", ["worklist:read"])
        await produce(settings, DECISIONS, held)
        await eventually(lambda: _seen(settings, [held]))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://registry") as client:
            snapshot = (await client.get("/dashboard/snapshot", headers={"Authorization": f"Bearer {viewer}"})).json()
            me = await client.get("/dashboard/me", headers={"Authorization": f"Bearer {viewer}"})
            refused = await client.get("/dashboard/me", headers={"Authorization": f"Bearer {other}"})
            anonymous = await client.get("/dashboard/me")
    assert set(snapshot["charts"]) == {"decisions", "wave", "lag", "messages", "to_active"}
    for name, svg in snapshot["charts"].items():
        assert ET.fromstring(svg).get("data-chart") == name
    assert "offsets" not in snapshot  # Kafka's raw offsets feed the wave chart, not the page
    assert (snapshot["worklist"]["open"], snapshot["worklist"]["open_by_kind"]) == (1, {"EMERGENCY_HELD": 1})
    assert me.status_code == 200 and me.json()["scopes"] == ["dashboard:read", "worklist:read"]
    assert me.json()["region"] == [None, None]
    assert (refused.status_code, anonymous.status_code) == (403, 401)


async def test_the_wave_chart_follows_kafka_offsets_of_the_participant_events(settings: Settings) -> None:
    facts: list[Event] = [
        DesilUpdated(occurred_at=T0, source="DTSEN", nik=f"36740157089{i:05d}", desil=3, effective_on=T0.date())
        for i in range(1, 7)
    ]
    async with running(create_app(RegistrySettings(**settings.model_dump()))) as app:
        kafka = KafkaHealth(settings.kafka_bootstrap_servers, settings.topic_prefix, cache_s=0)
        live = LiveSnapshot(app.state.engine, kafka, worklist_every=0, charts_every=0)
        live.wave.every = dt.timedelta(0)
        await live()  # the first sample: the chart starts at zero from here
        await produce(settings, PARTICIPANT_EVENTS, *facts)
        await eventually(lambda: _seen(settings, facts))

        async def moved() -> ET.Element | None:
            wave = ET.fromstring((await live())["charts"]["wave"])
            totals = {p.get("data-series"): int(p.get("data-total") or 0) for p in wave.iter(SVG + "polyline")}
            return wave if totals.get("in", 0) > 0 and totals.get("applied", 0) > 0 else None

        await eventually(moved, timeout=30)  # the group commits after its batch: applied follows in
    latest = live.wave.samples[-1]
    assert latest.events_in - live.wave.samples[0].events_in == len(facts)
    assert latest.applied - live.wave.samples[0].applied == len(facts)
