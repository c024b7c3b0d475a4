"""Personal data in logs: a whole NIK (16 digits) or an Indonesian mobile number must never appear in
what the services write. Used by the end-to-end test and by the scan at the end of every test run."""

from __future__ import annotations

import re
import time
from pathlib import Path

# Bounded by anything but letters and digits: the digits inside a hex id (a correlation id, a UUID)
# are not a phone number.
NIK_PATTERN = re.compile(r"(?<![0-9A-Za-z])\d{16}(?![0-9A-Za-z])")
PHONE_PATTERN = re.compile(r"(?<![0-9A-Za-z])(?:\+?62|0)8\d{8,11}(?![0-9A-Za-z])")
ROOT = Path(__file__).resolve().parents[1]
# Where the service processes of e2e, browser, demo and chaos runs write their logs.
SERVICE_LOG_DIRS = [ROOT / "test-artifacts", ROOT / ".run" / "chaos-logs"]


def leaks(text: str) -> list[str]:
    """Masked excerpts of the offending matches (the report must not leak them either)."""
    found = NIK_PATTERN.findall(text) + PHONE_PATTERN.findall(text)
    return [f"{m[:4]}…{m[-3:]} ({len(m)} chars)" for m in found]


def scan_logs_written_since(started: float) -> dict[str, list[str]]:
    """Every service log file written to during this run -> its leaks (only files with some)."""
    report: dict[str, list[str]] = {}
    for base in SERVICE_LOG_DIRS:
        for path in base.rglob("*.log") if base.exists() else ():
            if path.stat().st_mtime >= started and (found := leaks(path.read_text(errors="replace"))):
                report[str(path.relative_to(ROOT))] = found[:5]
    return report


def now() -> float:
    return time.time()
