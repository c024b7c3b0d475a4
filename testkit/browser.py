"""Headless Chromium for the dashboard tests: Debian's package (`make browser-deps`), driven by Playwright."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from testkit.system import ARTIFACTS, RunningSystem

# expect()'s assertions wait up to 60 s, not Playwright's 5: the dashboard is a running system's, on a machine
# that may be loaded (docs/testing.md); an assertion that holds returns at once.
expect.set_options(timeout=60_000)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# `pytestmark = needs_chromium` in a browser test module: skipped, saying why, where the browser is missing.
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium missing: run make browser-deps")


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """Headless Chromium with FLAGS, closed when the block ends."""
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            yield browser
        finally:
            await browser.close()


async def watched_page(browser: Browser, violations: list[str]) -> Page:
    """A new 1400x1400 page whose Content-Security-Policy violations (console messages) go to `violations`."""
    page = await browser.new_page(viewport={"width": 1400, "height": 1400})
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    return page


async def login(page: Page, system: RunningSystem, key: str, wait_ms: float = 60_000) -> None:
    """Open the registry's dashboard and log in with `key`; returns once its live feed is connected (`wait_ms`
    in milliseconds, generous: two cores shared by many test runs)."""
    await page.goto(system.url("registry") + "/dashboard")
    await page.fill("#api-key", key)
    await page.click("#login-form button")
    await expect(page.locator("#live")).to_contain_text("langsung", timeout=wait_ms)


def artifact(name: str) -> Path:
    """Where a browser test leaves its screenshot `name` (test-artifacts/, made if missing)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name
