"""Headless Chromium for the dashboard tests: Debian's package (`make browser-deps`), driven by Playwright."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from testkit.system import ARTIFACTS, RunningSystem

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
