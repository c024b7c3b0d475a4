"""The operations dashboard in real headless Chromium (Debian's package, driven by Playwright):
log in with a key, read the counts, and watch an emergency appear on the SLA board and turn to
met without reloading. A screenshot is kept in test-artifacts/."""

from __future__ import annotations

import datetime as dt

import httpx
from playwright.async_api import async_playwright, expect

from testkit.browser import CHROMIUM, FLAGS, needs_chromium
from testkit.keys import Keys
from testkit.polling import eventually
from testkit.system import ARTIFACTS, RunningSystem

NOW = dt.datetime.now(dt.UTC)
PATIENT = "3674061708900042"

pytestmark = needs_chromium


async def post(http: httpx.AsyncClient, url: str, key: str, body: dict) -> None:
    r = await http.post(url, json=body, headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 202, r.text


async def test_emergency_appears_on_the_sla_board_and_turns_met_live(
    system: RunningSystem, keys: Keys, http: httpx.AsyncClient
) -> None:
    viewer, writer = await keys.issue("dashboard:read"), await keys.issue("events:write")
    reader = await keys.issue("participants:read")  # a dashboard key reads only the masked view
    hospital = await keys.issue("emergency:write", ["3674R001"])
    events_url = system.url("intake") + "/v1/events"
    # Deactivated and with an open NIK conflict: the emergency stays open (PENDING) until it is resolved.
    await post(
        http,
        events_url,
        writer,
        {
            "events": [
                {
                    "type": "participant.deactivated",
                    "occurred_at": NOW.isoformat(),
                    "source": "SIKS-NG",
                    "nik": PATIENT,
                    "deactivated_on": (NOW - dt.timedelta(days=20)).date().isoformat(),
                    "reason": "NIK_CONFLICT",
                },
                {
                    "type": "participant.nik_conflict_reported",
                    "occurred_at": NOW.isoformat(),
                    "source": "DUKCAPIL",
                    "nik": PATIENT,
                },
            ]
        },
    )

    async def registered() -> bool:
        r = await http.get(
            system.url("registry") + f"/v1/participants/{PATIENT}", headers={"Authorization": f"Bearer {reader}"}
        )
        return r.status_code == 200 and r.json()["history"][-1]["event_type"] == "participant.nik_conflict_reported"

    await eventually(registered, timeout=60)

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = await browser.new_page(viewport={"width": 1400, "height": 1100})
        csp_violations: list[str] = []
        page.on("console", lambda m: csp_violations.append(m.text) if "Content Security Policy" in m.text else None)
        response = await page.goto(system.url("registry") + "/dashboard")
        assert response is not None
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert response.headers["x-frame-options"] == "DENY"
        await page.fill("#api-key", "pbi_wrong_key")
        await page.click("#login-form button")
        await expect(page.locator("#login-error")).to_contain_text("tidak dikenal")
        await page.fill("#api-key", viewer)
        await page.click("#login-form button")
        await expect(page.locator("#live")).to_contain_text("langsung", timeout=60_000)
        await expect(page.locator("#c-inactive")).not_to_have_text("–", timeout=60_000)
        assert int((await page.locator("#c-inactive").inner_text()).replace(".", "")) >= 1

        await post(
            http,
            system.url("intake") + "/v1/hospital/emergency-reactivations",
            hospital,
            {"nik": PATIENT, "facility_code": "3674R001", "letter_no": "IGD/9", "admitted_at": NOW.isoformat()},
        )
        row = page.locator("#sla tbody tr", has_text="3674********0042")
        await expect(row).to_be_visible(timeout=60_000)
        await expect(row.locator(".state")).to_have_text("Berjalan")
        await expect(row.locator(".countdown")).to_contain_text("23j")

        await post(
            http,
            events_url,
            writer,
            {
                "type": "participant.nik_conflict_resolved",
                "occurred_at": dt.datetime.now(dt.UTC).isoformat(),
                "source": "DUKCAPIL",
                "nik": PATIENT,
            },
        )
        await expect(row.locator(".state")).to_have_text("Terpenuhi", timeout=60_000)
        assert "3674061708900042" not in page.url
        # The look-up with the dashboard key: the masked view (status, no reasons or sources).
        await page.fill("#lookup-nik", PATIENT)
        await page.click("#lookup-form button")
        await expect(page.locator("#lookup-result")).to_contain_text("3674********0042", timeout=60_000)
        assert "NIK_CONFLICT" not in await page.locator("#lookup-result").inner_text()
        assert not csp_violations, csp_violations  # the page runs whole under its policy
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
        await browser.close()
