"""People who never ask expire at window close (DOMAIN.md), on real Kafka + PostgreSQL: the registry's
sweep turns everyone still out into EXPIRED at the end of the day in their own time zone, once each
(a history row and a status change per person), survives a crash in the middle and a restart, runs
safely twice at once, and counts them in the stats. Exact clocks: the sweep's clock is injected."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import httpx
from sqlalchemy import func, select

from services.registry.app import create_app
from services.registry.domain.status import WINDOW_CLOSED
from services.registry.store import PE, H, P
from services.registry.sweep import WindowSweep
from shared.db import make_engine, make_sessions
from shared.events import Event, ParticipantDeactivated, ParticipantStatusChanged, ReactivationDecided
from shared.settings import RegistrySettings, Settings
from shared.topics import DECISIONS, PARTICIPANT_EVENTS, STATUS_CHANGES
from testkit.apps import running
from testkit.kafka import TopicReader, produce
from testkit.polling import eventually

# Deactivated on 31 May 2026: every window closes on 30 November 2026 at 23:59:59 local time,
# that is 16:59:59 UTC in WIB (Banten), 15:59:59 UTC in WITA (Bali), 14:59:59 UTC in WIT (Papua).
DEACTIVATED_ON = dt.date(2026, 5, 31)
NOON = dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC)  # every window still open
PAPUA_CLOSED = dt.datetime(2026, 11, 30, 15, 30, tzinfo=dt.UTC)  # 00:30 WIT, 23:30 WITA, 22:30 WIB
ALL_CLOSED = dt.datetime(2026, 11, 30, 17, tzinfo=dt.UTC)  # 00:00:00 WIB on 1 December

NEVER_ASKED = ["3674015708900001", "3674015708900002", "3674015708900003", "5171015708900001", "9171015708900001"]
PAPUA = "9171015708900001"
APPROVED = "3674015708900004"  # got back in before the close
PENDING = "3674015708900005"  # asked, still pending at the close


def deactivated(nik: str) -> ParticipantDeactivated:
    return ParticipantDeactivated(
        occurred_at=dt.datetime(2026, 6, 1, tzinfo=dt.UTC),
        source="SIKS-NG",
        nik=nik,
        reason="DESIL_ABOVE_5",
        deactivated_on=DEACTIVATED_ON,
    )


def decided(nik: str, outcome: str, received: dt.datetime, at: dt.datetime, rid: uuid.UUID) -> ReactivationDecided:
    return ReactivationDecided(
        occurred_at=at,
        source="eligibility",
        nik=nik,
        decision_id=uuid.uuid5(rid, outcome),
        request_id=rid,
        path="REGULAR",
        channel="VILLAGE",
        outcome=outcome,
        reasons=["DESIL_UNKNOWN"] if outcome == "PENDING" else [],
        policy_version="t",
        received_at=received,
        decided_at=at,
    )


async def _statuses(settings: Settings) -> dict[str, str]:
    engine = make_engine(settings)
    async with engine.connect() as conn:
        rows = (await conn.execute(select(P.c.nik, P.c.status))).all()
    await engine.dispose()
    return {n: s for n, s in rows}


async def _window_closed_rows(settings: Settings) -> dict[str, int]:
    engine = make_engine(settings)
    async with engine.connect() as conn:
        rows = (
            await conn.execute(select(H.c.nik, func.count()).where(H.c.event_type == WINDOW_CLOSED).group_by(H.c.nik))
        ).all()
    await engine.dispose()
    return {n: c for n, c in rows}


async def _seen(settings: Settings, events: list[Event]) -> bool:
    engine = make_engine(settings)
    async with engine.connect() as conn:
        found = (await conn.execute(select(PE.c.event_id).where(PE.c.event_id.in_([e.event_id for e in events])))).all()
    await engine.dispose()
    return len(found) == len(events)


def _app(settings: Settings, now: dt.datetime):  # type: ignore[no-untyped-def]
    return create_app(RegistrySettings(**{**settings.model_dump(), "window_sweep_interval_s": 0.2}), clock=lambda: now)


async def test_window_close_expires_everyone_still_out_once_across_a_crash_and_a_restart(settings: Settings) -> None:
    pending_request = uuid.uuid4()
    facts: list[Event] = [deactivated(n) for n in [*NEVER_ASKED, APPROVED, PENDING]]
    decisions: list[Event] = [
        decided(APPROVED, "APPROVED", NOON - dt.timedelta(days=3), NOON - dt.timedelta(days=2), uuid.uuid4()),
        decided(PENDING, "PENDING", NOON - dt.timedelta(days=1), NOON - dt.timedelta(days=1), pending_request),
    ]
    still_out = [*NEVER_ASKED, PENDING]
    async with running(_app(settings, NOON)) as app:
        await produce(settings, PARTICIPANT_EVENTS, *facts)
        await eventually(lambda: _seen(settings, facts))
        await produce(settings, DECISIONS, *decisions)
        await eventually(lambda: _seen(settings, decisions))
        assert await app.state.window_sweep.run_once() == 0  # noon: every window is open

        sessions = make_sessions(app.state.engine)
        # 00:30 in Papua, still the 30th in Bali and Banten: only the Papuan window has closed.
        assert await WindowSweep(sessions, settings.topic_prefix).run_once(now=PAPUA_CLOSED) == 1
        assert (await _statuses(settings))[PAPUA] == "EXPIRED"
        # Midnight in Banten: a sweep that crashes after its first batch of two.
        partial = WindowSweep(sessions, settings.topic_prefix, batch_size=2)
        assert await partial.run_once(now=ALL_CLOSED, max_batches=1) == 2
        statuses = await _statuses(settings)
        assert sum(statuses[n] == "EXPIRED" for n in still_out) == 3

    # Restarted at 00:00 WIB: the sweep that runs at start finds the rest.
    async with running(_app(settings, ALL_CLOSED)) as app:

        async def all_expired() -> dict[str, str] | None:
            s = await _statuses(settings)
            return s if all(s[n] == "EXPIRED" for n in still_out) else None

        statuses = await eventually(all_expired)
        assert statuses[APPROVED] == "ACTIVE"
        assert await _window_closed_rows(settings) == {n: 1 for n in still_out}
        reader = await app.state.api_keys.issue("ops", ["participants:read"])
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://registry") as client:
            auth = {"Authorization": f"Bearer {reader}"}
            stats = (await client.get("/v1/stats", headers=auth)).json()
            assert stats["by_status"] == {"EXPIRED": len(still_out), "ACTIVE": 1}
            assert stats["expired_at_window_close"] == len(still_out)
            found = (await client.get(f"/v1/participants/{PENDING}", headers=auth)).json()
            last = found["history"][-1]
            assert (last["event_type"], last["previous_status"], last["status"]) == (
                WINDOW_CLOSED,
                "REACTIVATION_PENDING",
                "EXPIRED",
            )
            assert last["occurred_at"].startswith("2026-11-30T16:59:59")  # stamped at the close, in UTC

            # Lateness is judged at receipt: the pending request, received in the window and approved
            # after the close, brings the person back.
            late = decided(PENDING, "APPROVED", NOON - dt.timedelta(days=1), ALL_CLOSED, pending_request)
            await produce(settings, DECISIONS, late)
            await eventually(lambda: _seen(settings, [late]))
            assert (await _statuses(settings))[PENDING] == "ACTIVE"

    async with TopicReader(settings, settings.topic_prefix + STATUS_CHANGES.name) as topic:

        async def expiries() -> list | None:  # type: ignore[type-arg]
            events = await topic.poll()
            # By event id: the outbox relay publishes at least once (a bundle whose delete the crash or a
            # rebalance interrupted is sent again, with the same ids), and consumers apply each id once.
            found = {e.event_id: e for e in events if isinstance(e, ParticipantStatusChanged) and e.status == "EXPIRED"}
            return list(found.values()) if len(found) >= len(still_out) else None

        changes = await eventually(expiries)
    assert sorted(c.nik for c in changes) == sorted(still_out)  # one expiry (one event id) each
    assert all(c.reasons == ["WINDOW_EXPIRED"] and c.cause_type == WINDOW_CLOSED for c in changes)


async def test_two_sweeps_at_once_expire_each_person_once(settings: Settings) -> None:
    niks = [f"36740157089{i:05d}" for i in range(10, 70)]
    facts = [deactivated(n) for n in niks]
    async with running(_app(settings, NOON)) as app:
        await produce(settings, PARTICIPANT_EVENTS, *facts)
        await eventually(lambda: _seen(settings, facts), timeout=60)
        engines = [make_engine(settings), make_engine(settings)]
        sweeps = [WindowSweep(make_sessions(e), settings.topic_prefix, batch_size=7) for e in engines]
        counts = await asyncio.gather(*(s.run_once(now=ALL_CLOSED) for s in sweeps))
        for e in engines:
            await e.dispose()
        assert sum(counts) == len(niks)
        assert await _window_closed_rows(settings) == {n: 1 for n in niks}
        assert await app.state.window_sweep.run_once(now=ALL_CLOSED) == 0  # nothing left, nothing twice


async def test_a_list_or_decision_applied_after_the_window_closed_expires_at_once(settings: Settings) -> None:
    """Nobody is seen out past their window's close, whatever the sweep's timing: a late list is
    expired as it is applied (history: INACTIVE, then EXPIRED at the close)."""
    banten, papua = "3674015708900001", "9171015708900001"
    facts = [deactivated(banten), deactivated(papua)]
    async with running(_app(settings, PAPUA_CLOSED)):  # the sweep's clock too: it finds nothing more
        await produce(settings, PARTICIPANT_EVENTS, *facts)
        await eventually(lambda: _seen(settings, facts))
        assert await _statuses(settings) == {banten: "INACTIVE", papua: "EXPIRED"}
        assert await _window_closed_rows(settings) == {papua: 1}
