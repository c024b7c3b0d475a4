"""The log scan that ends every test run finds whole NIKs and phone numbers, reports them masked,
and lets masked ones through."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from testkit import log_scan


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


def test_spans_and_dead_letter_headers_are_scanned_like_log_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The e2e fixtures write exported spans and dead-letter headers beside the service logs."""

    class Span:
        service, name = "pbi-registry", "GET /v1/participants/{nik}"
        attributes = {"http.target": "/v1/participants/3674015708900001", "http.route": "/v1/participants/{nik}"}

    monkeypatch.setattr(log_scan, "ROOT", tmp_path)
    monkeypatch.setattr(log_scan, "SERVICE_LOG_DIRS", [tmp_path / "logs"])
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "traces-1.log").write_text(log_scan.span_lines([Span()]))
    dead = [("e2e1.pbi.notification-events.v1.dlq", {"x-dlq-reason": "HTTP 400: To +6281234567890 invalid"})]
    (tmp_path / "logs" / "dead-letters.log").write_text(log_scan.dead_letter_lines(dead))
    masked = [("e2e1.pbi.decisions.v1.dlq", {"x-dlq-reason": "schema violation: nik 3674********0001"})]
    (tmp_path / "logs" / "dead-letters-ok.log").write_text(log_scan.dead_letter_lines(masked))
    report = log_scan.scan_logs_written_since(0)
    assert sorted(report) == ["logs/dead-letters.log", "logs/traces-1.log"]
    assert not any("3674015708900001" in f or "1234567890" in f for found in report.values() for f in found)


def test_a_line_that_is_not_one_json_object_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(log_scan, "ROOT", tmp_path)
    monkeypatch.setattr(log_scan, "SERVICE_LOG_DIRS", [tmp_path / "logs"])
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "intake.log").write_text(
        '{"event": "ok"}\n'
        "INFO:     Started server process [42]\n"  # uvicorn's plain text
        '{"event": "a message whose\n'  # a newline that broke its line
        'newline escaped nothing"}\n'
        '"a JSON string, not an object"\n'
        "\n"
    )
    (found,) = log_scan.scan_logs_written_since(0).values()
    assert [f.split(" is ")[0] for f in found] == ["line 2", "line 3", "line 4", "line 5"]


def test_lines_reported_as_not_json_are_masked() -> None:
    (found,) = log_scan.not_json("sending to 081234567890 for 3674015708900001")
    assert log_scan.leaks(found) == [] and "<phone>" in found and "<nik>" in found
