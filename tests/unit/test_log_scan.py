"""The log scan that ends every test run finds whole NIKs and phone numbers, reports them masked,
and lets masked ones through."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests import log_scan


def test_whole_nik_and_phone_are_found_and_reported_masked() -> None:
    line = '{"event": "x", "nik": "3674015708900001", "to": "+6281234567890", "n": "081234567890"}'
    found = log_scan.leaks(line)
    assert len(found) == 3
    assert not any("3674015708900001" in f or "1234567" in f for f in found)


def test_masked_values_and_other_numbers_pass() -> None:
    line = '{"nik": "3674********0001", "to": "+62812*****890", "offset": 1234567890123, "id": "e2e1c4"}'
    assert log_scan.leaks(line) == []
    # Digits inside a hex correlation id or UUID are not a phone number or a NIK.
    assert log_scan.leaks('{"correlation_id": "99f6e171c0864368930f089e7ae3ba0e"}') == []
    assert log_scan.leaks('{"id": "a3674015708900001b"}') == []


def test_only_files_written_during_the_run_are_scanned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(log_scan, "ROOT", tmp_path)
    monkeypatch.setattr(log_scan, "SERVICE_LOG_DIRS", [tmp_path / "logs"])
    (tmp_path / "logs" / "run").mkdir(parents=True)
    old, new = tmp_path / "logs" / "old.log", tmp_path / "logs" / "run" / "registry.log"
    old.write_text('{"nik": "3674015708900001"}')
    os.utime(old, (1_000, 1_000))
    new.write_text('{"nik": "3674015708900002"}\n{"ok": "3674********0002"}')
    assert list(log_scan.scan_logs_written_since(2_000)) == ["logs/run/registry.log"]
