"""The notifier's hot tables write as little as their queries allow (migration 0009): a person's standing
updated by a request or a decision stays on its page (a HOT update: no index entry), and the messages'
indexes hold only the rows looked for (the queue, the provider ids), each still read in a generic plan.
The sender's claim reads the queue's index in its order, never sorting the queue (migration 0010)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.notifier.domain.intents import OnFile
from services.notifier.domain.people import Person
from services.notifier.domain.standing import Standing
from services.notifier.sender import _CLAIM, claim_due
from services.notifier.store import MIGRATIONS, SCHEMA, M
from services.notifier.uow import PgUnitOfWork
from shared.db import make_sessions, transaction
from testkit.engines import migrated_engine

PEOPLE = 400  # some 25 pages of people


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    async with migrated_engine(database_url, MIGRATIONS, SCHEMA) as engine:
        yield engine


async def test_a_standing_update_stays_on_its_page(engine: AsyncEngine) -> None:
    """Every person of a page updated in one batch (as a wave's requests, then their decisions, come):
    each new version stays beside the old one, without a new entry in the primary key or phone index."""
    sessions = make_sessions(engine)
    people = [
        Person(OnFile(f"+6281{i:09d}"), Standing(f"3674{i:012d}", deactivation_reason="DESIL_ABOVE_5"))
        for i in range(PEOPLE)
    ]
    async with PgUnitOfWork(sessions) as uow:
        assert await uow.people.add(people) == set()
    hot_updates = text("select pg_stat_get_xact_tuples_hot_updated(cast('notifier.contacts' as regclass))")
    for round_ in range(2):  # the request, then its decision: two updates of each row
        async with PgUnitOfWork(sessions) as uow:
            session = uow.session  # type: ignore[attr-defined]
            held = await uow.people.lock(p.nik for p in people)
            changed = [
                dataclasses.replace(p, standing=dataclasses.replace(p.standing, request_ids=(f"{round_:032x}",)))
                for p in held.values()
            ]
            before = await session.scalar(hot_updates)  # (the backend's count since it last reported)
            await uow.people.update(changed)
            hot = await session.scalar(hot_updates) - before
        # The first update fits in the room the fillfactor left: nearly all HOT (at fillfactor 100 about 1% were,
        # the pages full after the inserts). The second needs the page pruned of the first round's versions,
        # which waits for every older snapshot in the database: on a quiet machine nearly all were HOT too,
        # beside a loaded CI run 96 of 400, so only the first is asserted.
        if round_ == 0:
            assert hot >= 0.9 * PEOPLE, f"update {round_ + 1}: {hot} of {PEOPLE} HOT"


async def test_the_messages_indexes_hold_only_the_rows_looked_for(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("select indexname, indexdef from pg_indexes where schemaname = :s and tablename = 'messages'"),
            {"s": SCHEMA},
        )
        where = {name: definition.partition(" WHERE ")[2] for name, definition in rows.all()}
    assert where == {
        "messages_pkey": "",
        "ix_notifier_messages_due": "((state)::text = ANY ((ARRAY['QUEUED'::character varying, "
        "'SENDING'::character varying, 'WAITING'::character varying])::text[]))",
        "ix_notifier_messages_provider": "(provider_message_id IS NOT NULL)",
        "ix_notifier_messages_retention": "(text <> ''::text)",
    }


@pytest.mark.parametrize(
    ("types", "where", "index"),
    [
        # receipts (api.py): by our reference or the provider's id
        ("uuid[], text[]", "message_id = any($1) or provider_message_id = any($2)", "ix_notifier_messages_provider"),
        ("text", "provider_message_id = $1", "ix_notifier_messages_provider"),  # reconcile: taken by another?
        # the sender's claim, reconcile, the release of waiting messages, BERHENTI's cancel
        ("timestamptz", "state = 'QUEUED' and send_after <= $1", "ix_notifier_messages_due"),
        ("timestamptz", "state = 'SENDING' and updated_at <= $1", "ix_notifier_messages_due"),
        ("text[]", "state = 'WAITING' and nik = any($1)", "ix_notifier_messages_due"),
        ("text", "phone = $1 and state = 'QUEUED'", "ix_notifier_messages_due"),
    ],
)
async def test_each_lookup_reads_its_partial_index_in_a_generic_plan(
    engine: AsyncEngine, types: str, where: str, index: str
) -> None:
    """A prepared statement's generic plan knows nothing of its parameters: the index's condition must
    follow from the query's own (a state named, an id compared by equality)."""
    async with engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        assert raw is not None
        await raw.execute("set enable_seqscan = off; set plan_cache_mode = force_generic_plan")
        await raw.execute(f"prepare lookup({types}) as select * from notifier.messages where {where}")
        nulls = ", ".join(["null"] * len(types.split(",")))
        plan = "\n".join(r[0] for r in await raw.fetch(f"explain execute lookup({nulls})"))
        await raw.execute("deallocate lookup; reset enable_seqscan; reset plan_cache_mode")
    assert index in plan, plan


NOW = dt.datetime(2026, 11, 24, 3, 0, tzinfo=dt.UTC)


def queued(urgent: bool, minutes: int, state: str = "QUEUED") -> dict[str, object]:
    """A message due `minutes` from NOW (negative: overdue)."""
    return {
        "message_id": uuid.uuid4(),
        "nik": "3674015708900001",
        "kind": "emergency_active" if urgent else "deactivated",
        "urgent": urgent,
        "text": "pesan",
        "phone": "+6281234567890",
        "channel": "WHATSAPP",
        "state": state,
        "attempts": 0,
        "send_after": NOW + dt.timedelta(minutes=minutes),
        "updated_at": NOW,
    }


async def test_a_claim_takes_urgent_messages_first_then_the_oldest_due(engine: AsyncEngine) -> None:
    rows = [
        old := queued(False, -30),
        newer := queued(False, -5),
        urgent_late := queued(True, -1),
        urgent_early := queued(True, -10),
        queued(False, 60),  # held until later (quiet hours, a retry's wait): not due
        queued(True, 5),
        queued(False, -60, state="SENDING"),  # another claim's
    ]
    async with engine.begin() as conn:
        await conn.execute(insert(M), rows)
    sessions = make_sessions(engine)
    async with transaction(sessions) as session:
        three = await claim_due(session, NOW, 3)
    async with transaction(sessions) as session:
        rest = await claim_due(session, NOW, 50)  # what the first claim took is SENDING now: not claimed again
    expected = [urgent_early, urgent_late, old, newer]
    assert [r["message_id"] for r in three] == [m["message_id"] for m in expected[:3]]
    assert [r["message_id"] for r in rest] == [newer["message_id"]]
    assert [(r["state"], r["attempts"]) for r in three + rest] == [("SENDING", 1)] * 4


async def test_a_claim_reads_the_queue_index_in_order_without_sorting(engine: AsyncEngine) -> None:
    """With sorting made the planner's last resort, the claim's plan has none (the index gives its order), and
    each urgency is a condition of its index scan, not a filter of the rows it reads: urgent messages are
    found without reading the wave's notices queued before them. The one ORDER BY urgent DESC, send_after
    before migration 0010 sorted every due message at every claim."""
    claim = str(_CLAIM).replace(":now", "now()").replace(":limit", "20")
    claim = claim.replace(":urgent_ones", "true").replace(":regular_ones", "true")  # an `all` process's claim
    async with engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        assert raw is not None
        await raw.execute("set enable_seqscan = off; set enable_sort = off")
        plan = "\n".join(r[0] for r in await raw.fetch(f"explain {claim}"))
        await raw.execute("reset enable_seqscan; reset enable_sort")
    scans = [line.partition("Index Cond:")[2] for line in plan.splitlines() if "Index Cond:" in line]
    assert "Sort" not in plan, plan
    for urgent in ("true", "false"):
        assert any(f"urgent = {urgent}" in s and "send_after <=" in s for s in scans), plan
    claiming = plan.partition("SubPlan")[0]  # the opt-outs' lookup per row claimed comes after
    assert claiming.count("ix_notifier_messages_due") == 2 and "Filter" not in claiming, plan
