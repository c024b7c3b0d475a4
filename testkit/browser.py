"""Headless Chromium for the dashboard tests: Debian's package (`make browser-deps`), driven by Playwright."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

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
