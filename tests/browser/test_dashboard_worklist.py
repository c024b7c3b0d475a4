"""The worklist and the charts in real headless Chromium: log in with a worklist key, see the items the
system opened (an emergency held by a NIK conflict, an approved emergency's follow-ups), filter by kind
and region, mark one done and see it leave; a key without worklist:write has no done button, and with
the clock two days on the items show as overdue; the charts are drawn and move when decisions come.
No CSP violation on the way. Screenshots in test-artifacts/."""

from __future__ import annotations

import datetime as dt

import httpx
from playwright.async_api import Page, expect

from testkit.bodies import recent_deactivation
from testkit.browser import artifact, chromium, login, needs_chromium, watched_page
from testkit.keys import Keys
from testkit.polling import eventually
from testkit.system import RunningSystem

pytestmark = needs_chromium

NOW = dt.datetime.now(dt.UTC)
HELD = "5171015708900077"  # Bali, Kota Denpasar: held by an open NIK conflict
FOLLOWED = "3674015708900078"  # Banten, Kota Tangerang Selatan: approved, with follow-ups
HELD_MASKED, FOLLOWED_MASKED = "5171********0077", "3674********0078"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def post(http: httpx.AsyncClient, url: str, key: str, body: dict) -> None:
    r = await http.post(url, json=body, headers=auth(key))
    assert r.status_code == 202, r.text


def deactivated(nik: str, reason: str) -> dict:
    return {**recent_deactivation(nik, days_ago=20, phone=None), "reason": reason}


async def open_items(http: httpx.AsyncClient, system: RunningSystem, key: str, nik_masked: str) -> list[dict]:
    r = await http.get(system.url("registry") + "/v1/worklist", params={"limit": 500}, headers=auth(key))
    assert r.status_code == 200, r.text
    return [i for i in r.json()["items"] if i["nik"] == nik_masked]


async def chart_total(page: Page, chart: str, series: str) -> int:
    line = page.locator(f"#chart-{chart} svg polyline[data-series='{series}']")
    return int(await line.get_attribute("data-total") or 0) if await line.count() else 0


async def test_worklist_filters_marks_done_and_the_charts_move(
    system: RunningSystem, keys: Keys, http: httpx.AsyncClient
) -> None:
    worker = await keys.issue("dashboard:read,worklist:read,worklist:write")
    watcher = await keys.issue("dashboard:read,worklist:read")
    writer, hospital = await keys.issue("events:write"), await keys.issue("emergency:write", ["3674R001"])
    reader = await keys.issue("participants:read")
    events_url = system.url("intake") + "/v1/events"
    conflict = {"type": "participant.nik_conflict_reported", "occurred_at": NOW.isoformat(), "source": "DUKCAPIL"}
    await post(http, events_url, writer, {"events": [deactivated(HELD, "NIK_CONFLICT"), {**conflict, "nik": HELD}]})
    await post(http, events_url, writer, {"events": [deactivated(FOLLOWED, "NO_BIOMETRIC")]})
    emergency_url = system.url("intake") + "/v1/hospital/emergency-reactivations"

    async def emergency(nik: str, letter: str) -> None:
        body = {"nik": nik, "facility_code": "3674R001", "letter_no": letter, "admitted_at": NOW.isoformat()}
        await post(http, emergency_url, hospital, body)

    async with chromium() as browser:
        violations: list[str] = []
        page = await watched_page(browser, violations)
        await login(page, system, worker)
        await expect(page.locator("#chart-decisions svg polyline[data-series='APPROVED']")).to_have_count(1)
        approved_before = await chart_total(page, "decisions", "APPROVED")

        # The emergencies come while the page is open: their items and the charts arrive live.
        await eventually(lambda: _registered(http, system, reader, [HELD, FOLLOWED]), timeout=60)
        await emergency(HELD, "IGD/77")
        await emergency(FOLLOWED, "IGD/78")
        held = page.locator("#worklist-table tbody tr", has_text=HELD_MASKED)
        followed = page.locator("#worklist-table tbody tr", has_text=FOLLOWED_MASKED)
        await expect(held).to_have_count(1, timeout=60_000)
        await expect(held.locator(".kind")).to_have_text("Darurat tertahan")
        await expect(followed.first).to_be_visible(timeout=60_000)
        follow_ups = await open_items(http, system, watcher, FOLLOWED_MASKED)
        kinds = {"BIOMETRIC_RECORDING", "SIKS_NG_ENTRY", "DESIL_REVERIFICATION"}
        assert follow_ups and {i["kind"] for i in follow_ups} <= kinds
        await expect(followed).to_have_count(len(follow_ups))
        # Sorted by due time: the held emergency (due in 24 hours) before follow-ups (due in 30 days).
        ids = await page.locator("#worklist-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.itemId)")
        assert ids.index(await held.get_attribute("data-item-id")) < ids.index(
            await followed.first.get_attribute("data-item-id")
        )
        assert await page.locator("#worklist-table tbody tr.overdue").count() == 0  # nothing is due yet

        # The decisions chart moved, and the emergency's time to ACTIVE is in the histogram.
        await eventually(lambda: _grew(page, approved_before), timeout=60)
        bars = page.locator("#chart-to_active svg rect.bar")
        counts = [int(c) for c in await bars.evaluate_all("bs => bs.map(b => b.dataset.count)")]
        assert sum(counts) >= 1

        # Filters: by region, then by kind.
        await page.select_option("#wl-province", "Bali")
        await expect(followed).to_have_count(0)
        await expect(held).to_have_count(1)
        await page.select_option("#wl-province", "")
        await page.select_option("#wl-kind", follow_ups[0]["kind"])
        await expect(held).to_have_count(0)
        await expect(followed.first).to_be_visible()
        await page.select_option("#wl-kind", "EMERGENCY_HELD")
        await expect(held).to_have_count(1)
        await expect(followed).to_have_count(0)
        await page.screenshot(path=str(artifact("dashboard-worklist.png")), full_page=True)

        # Done: the row leaves, and the API has it closed by this key.
        await held.locator("button", has_text="Tandai selesai").click()
        await expect(held).to_have_count(0, timeout=60_000)
        await expect(page.locator("#worklist-notice")).to_contain_text("ditandai selesai")
        assert await open_items(http, system, watcher, HELD_MASKED) == []
        assert not violations, violations

        # A key without worklist:write sees the list without buttons; two days on, everything is overdue.
        other = await watched_page(browser, violations)
        await other.clock.install(time=NOW + dt.timedelta(days=31))
        await other.goto(system.url("registry") + "/dashboard")
        await other.fill("#api-key", watcher)
        await other.click("#login-form button")
        rows = other.locator("#worklist-table tbody tr", has_text=FOLLOWED_MASKED)
        await expect(rows.first).to_be_visible(timeout=60_000)
        await expect(other.locator("#worklist-table button")).to_have_count(0)
        await expect(rows.first).to_have_class("overdue")
        await expect(rows.first.locator(".remaining")).to_contain_text("lewat")
        await other.screenshot(path=str(artifact("dashboard-worklist-overdue.png")), full_page=True)
        await page.locator("#charts").screenshot(path=str(artifact("dashboard-charts.png")))
        assert not violations, violations


async def _registered(http: httpx.AsyncClient, system: RunningSystem, key: str, niks: list[str]) -> bool:
    for n in niks:
        r = await http.get(system.url("registry") + f"/v1/participants/{n}", headers=auth(key))
        if r.status_code != 200 or r.json()["status"] != "INACTIVE":
            return False
    return True


async def _grew(page: Page, before: int) -> bool:
    return await chart_total(page, "decisions", "APPROVED") > before
