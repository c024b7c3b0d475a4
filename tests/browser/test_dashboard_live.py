"""The dashboard while the system works, in real headless Chromium: an emergency whose 24 hours ran out
is the first row of the SLA board (before a running one and a met one, whatever their deadlines) and
its SLA_BREACHED item heads the worklist as overdue, also when the list is longer than the page
fetches; resolved, it is approved late and stays breached while its items leave. The wave-progress
chart is drawn and its lines move while a wave of events comes in through intake. Screenshots in
test-artifacts/.

The running system has no clock to move, so the breach is made the way it happens in production: an
emergency intake accepted 25 hours ago reaches the emergency lane only now (a backlog). Eligibility
judges it by its receipt (intake's stamp): held PENDING by the open NIK conflict, and its durable
SLA timers (receipt + 12 h, + 24 h) are already due, so its timer loop fires WARNING and BREACHED at
once and every consumer folds them as it would a day later."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import httpx
from playwright.async_api import Locator, expect
from sqlalchemy import delete, insert, select

from services.eligibility.store import FactsRow
from services.registry.store import W
from shared.db import make_engine
from shared.settings import Settings
from shared.topics import EMERGENCY_REQUESTS
from testkit.bodies import recent_deactivation
from testkit.browser import artifact, chromium, login, needs_chromium, watched_page
from testkit.events import emergency
from testkit.kafka import produce
from testkit.keys import Keys
from testkit.polling import eventually
from testkit.system import RunningSystem

pytestmark = needs_chromium

NOW = dt.datetime.now(dt.UTC)
FACILITY = "3674R001"  # registered by the system fixture
BREACHED = "3674061708900093"  # held by an open NIK conflict, accepted 25 hours ago
RUNNING = "3674011708900094"  # held by an open NIK conflict, accepted now: its clock runs
MET = "3674015708900095"  # approved at once: met
WAVE = 60  # deactivations posted while the wave chart is watched
LONG_LIST = 2100  # open items far from due: more than the page's 2,000 (and under 5,000: see the NIKs)
DEADLINE_MS = 60_000  # generous: two cores shared by many test runs


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def masked(nik: str) -> str:
    return f"{nik[:4]}********{nik[12:]}"


async def post(http: httpx.AsyncClient, url: str, key: str, body: dict) -> None:
    r = await http.post(url, json=body, headers=auth(key))
    assert r.status_code == 202, r.text


def deactivated(nik: str, reason: str) -> dict:
    return {**recent_deactivation(nik, days_ago=20, phone=None), "reason": reason}


def conflict(nik: str) -> dict:
    return {
        "type": "participant.nik_conflict_reported",
        "occurred_at": NOW.isoformat(),
        "source": "DUKCAPIL",
        "nik": nik,
    }


async def test_a_breached_emergency_heads_the_sla_board_and_the_worklist(
    system: RunningSystem, keys: Keys, http: httpx.AsyncClient
) -> None:
    viewer = await keys.issue("dashboard:read,worklist:read")
    writer, hospital = await keys.issue("events:write"), await keys.issue("emergency:write", [FACILITY])
    events_url = system.url("intake") + "/v1/events"
    held = [deactivated(n, "NIK_CONFLICT") for n in (BREACHED, RUNNING)] + [conflict(n) for n in (BREACHED, RUNNING)]
    await post(http, events_url, writer, {"events": [*held, deactivated(MET, "NO_BIOMETRIC")]})
    # Facts and requests travel on different topics: eligibility holds the conflict before the requests come.
    await eventually(lambda: _conflicts_held(system, [BREACHED, RUNNING]), timeout=90)

    emergency_url = system.url("intake") + "/v1/hospital/emergency-reactivations"
    for nik, letter in ((MET, "IGD/95"), (RUNNING, "IGD/94")):  # the met one first: the earlier deadline
        body = {"nik": nik, "facility_code": FACILITY, "letter_no": letter, "admitted_at": NOW.isoformat()}
        await post(http, emergency_url, hospital, body)
    # An emergency as intake accepted it 25 hours ago (emergency() is from FACILITY, as intake's own event).
    kafka = Settings(
        kafka_bootstrap_servers=system.env["KAFKA_BOOTSTRAP_SERVERS"], topic_prefix=system.env["TOPIC_PREFIX"]
    )
    await produce(kafka, EMERGENCY_REQUESTS, emergency(BREACHED, received_at=NOW - dt.timedelta(hours=25)))

    async with chromium() as browser:
        violations: list[str] = []
        page = await watched_page(browser, violations)
        await login(page, system, viewer)

        board = page.locator("#sla tbody tr")
        breached, running_row, met = (board.filter(has_text=masked(n)) for n in (BREACHED, RUNNING, MET))
        await expect(breached.locator(".state")).to_have_text("Terlewati", timeout=90_000)
        await expect(running_row.locator(".state")).to_have_text("Berjalan", timeout=DEADLINE_MS)
        await expect(met.locator(".state")).to_have_text("Terpenuhi", timeout=DEADLINE_MS)
        # At the top: breached first, then running clocks, met ones last (the met one's deadline is earlier).
        await expect(board.first).to_contain_text(masked(BREACHED))
        await expect(board.first).to_have_class("BREACHED")
        order = await _board_niks(board)
        assert order.index(masked(BREACHED)) < order.index(masked(RUNNING)) < order.index(masked(MET)), order
        await expect(breached.locator(".countdown")).to_contain_text("−")  # past its deadline
        await expect(page.locator("#sla-counts")).to_contain_text(re.compile(r"Terlewati [1-9]"))

        # The worklist, sorted by due time: the breach (due at the deadline it missed) on top, overdue.
        worklist = page.locator("#worklist-table tbody tr")
        await page.select_option("#wl-kind", "SLA_BREACHED")
        await expect(worklist.first).to_contain_text(masked(BREACHED), timeout=DEADLINE_MS)
        await expect(worklist.first.locator(".kind")).to_have_text("SLA darurat terlewati")
        await expect(worklist.first).to_have_class("overdue")
        await expect(worklist.first.locator(".remaining")).to_contain_text("lewat")
        await page.select_option("#wl-kind", "")
        await expect(worklist.first).to_contain_text(masked(BREACHED), timeout=DEADLINE_MS)
        await expect(worklist.first).to_have_class("overdue")
        await page.screenshot(path=str(artifact("dashboard-live-breached.png")), full_page=True)
        await page.locator("#sla").screenshot(path=str(artifact("dashboard-live-sla-board.png")))

        # A list longer than the page fetches (the API pages newest due first): the breach still heads it.
        filler = await _add_far_items(system, LONG_LIST)
        try:
            await expect(page.locator("#worklist-notice")).to_contain_text("2.000 item", timeout=DEADLINE_MS)
            await expect(worklist.first).to_contain_text(masked(BREACHED))
            await expect(worklist.first).to_have_class("overdue")
            await page.locator("#worklist-title").scroll_into_view_if_needed()
            await page.screenshot(path=str(artifact("dashboard-live-long-worklist.png")))  # its top
        finally:
            await _delete_items(system, filler)

        # The conflict resolved, the emergency is approved late: still breached on the board (met late),
        # and its emergency items are done by the system (the later browser tests find nothing overdue).
        resolved = {**conflict(BREACHED), "type": "participant.nik_conflict_resolved"}
        await post(http, events_url, writer, {**resolved, "occurred_at": dt.datetime.now(dt.UTC).isoformat()})
        await expect(breached.locator(".state")).to_have_text("Terlewati (disetujui terlambat)", timeout=90_000)
        emergency_items = worklist.filter(has_text=masked(BREACHED)).filter(has_text="darurat")  # held, breached
        await expect(emergency_items).to_have_count(0, timeout=DEADLINE_MS)
        await expect(page.locator("#worklist-table tbody tr.overdue")).to_have_count(0)  # (its follow-ups: 30 days)
        assert not violations, violations


async def test_the_wave_chart_moves_while_a_wave_of_events_comes_in(
    system: RunningSystem, keys: Keys, http: httpx.AsyncClient
) -> None:
    viewer, writer = await keys.issue("dashboard:read"), await keys.issue("events:write")
    async with chromium() as browser:
        violations: list[str] = []
        page = await watched_page(browser, violations)
        await login(page, system, viewer)
        chart = page.locator("#chart-wave")
        # Drawn: the registry samples Kafka's offsets every few seconds, so both lines come within a sample or two.
        for series in ("in", "applied"):
            await expect(chart.locator(f"svg polyline[data-series='{series}']")).to_have_count(1, timeout=DEADLINE_MS)
        before = await _wave(chart)
        await chart.screenshot(path=str(artifact("dashboard-live-wave-before.png")))

        events = [deactivated(_wave_nik(i), "DESIL_ABOVE_5") for i in range(WAVE)]
        await post(http, system.url("intake") + "/v1/events", writer, {"events": events})

        async def moved() -> dict[str, tuple[int, str]] | bool:
            # Both lines redrawn, each up by at least the wave (a total only grows: offsets only grow).
            now = await _wave(chart)
            return all(now[s][0] >= before[s][0] + WAVE and now[s][1] != before[s][1] for s in now) and now

        await eventually(moved, timeout=120)
        assert not violations, violations
        await chart.screenshot(path=str(artifact("dashboard-live-wave-after.png")))
        await page.locator("#charts").screenshot(path=str(artifact("dashboard-live-charts.png")))


async def _conflicts_held(system: RunningSystem, niks: list[str]) -> bool:
    facts = FactsRow.__table__
    engine = make_engine(Settings(database_url=system.env["DATABASE_URL"]))
    try:
        async with engine.connect() as conn:
            query = select(facts.c.nik, facts.c.nik_conflict_open).where(facts.c.nik.in_(niks))
            rows = (await conn.execute(query)).all()
    finally:
        await engine.dispose()
    return {nik for nik, open_ in rows if open_} == set(niks)


async def _add_far_items(system: RunningSystem, n: int) -> list[uuid.UUID]:
    """`n` open items due in 60 days, written straight into the registry's table (what thousands of
    decisions' follow-ups would leave), so the list is longer than the page fetches."""
    ids = [uuid.uuid4() for _ in range(n)]
    rows = [
        {
            "item_id": item_id,
            "kind": "BIOMETRIC_RECORDING",
            "nik": f"367406010180{5000 + i:04d}",  # masked apart from this test's people
            "province": "Banten",
            "regency": "Kota Tangerang Selatan",
            "district": "Pamulang",
            "opened_at": NOW,
            "due_at": NOW + dt.timedelta(days=60),
            "state": "OPEN",
        }
        for i, item_id in enumerate(ids)
    ]
    engine = make_engine(Settings(database_url=system.env["DATABASE_URL"]))
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(W), rows)
    finally:
        await engine.dispose()
    return ids


async def _delete_items(system: RunningSystem, ids: list[uuid.UUID]) -> None:
    engine = make_engine(Settings(database_url=system.env["DATABASE_URL"]))
    try:
        async with engine.begin() as conn:
            await conn.execute(delete(W).where(W.c.item_id.in_(ids)))
    finally:
        await engine.dispose()


async def _board_niks(board: Locator) -> list[str]:
    return await board.evaluate_all("rows => rows.map(r => r.cells[1] ? r.cells[1].textContent : '')")


async def _wave(chart: Locator) -> dict[str, tuple[int, str]]:
    """Per line of the wave chart: its total (data-total) and its drawn points."""
    out = {}
    for series in ("in", "applied"):
        line = chart.locator(f"svg polyline[data-series='{series}']")
        out[series] = (int(await line.get_attribute("data-total") or 0), await line.get_attribute("points") or "")
    return out


def _wave_nik(i: int) -> str:
    return f"367406170890{9100 + i:04d}"  # Kota Tangerang Selatan, serials 9100-9159
