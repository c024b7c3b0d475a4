"""Every log line a service writes is masked: structlog's, the standard library's (SQLAlchemy, uvicorn,
aiokafka), libraries' own handlers (FastStream's) and exception tracebacks."""

from __future__ import annotations

import json
import logging
import sys
import threading

import pytest
import structlog

from shared.observability import configure_logging
from testkit import log_scan

NIK, PHONE = "3674015708900001", "081234567890"


def _fail() -> None:
    raise ValueError(f"duplicate key (nik)=({NIK}) phone {PHONE}")


def test_a_stdlib_traceback_is_one_masked_json_line(logs: pytest.CaptureFixture[str]) -> None:
    configure_logging("unit", "INFO", json_logs=True)
    try:
        _fail()
    except ValueError:
        logging.getLogger("sqlalchemy.engine").exception("statement failed for %s", NIK)
    out = logs.readouterr().out
    assert log_scan.leaks(out) == [], out
    (line,) = out.strip().splitlines()
    record = json.loads(line)
    assert record["logger"] == "sqlalchemy.engine" and "3674********0001" in record["event"]
    assert "Traceback" in record["exception"] and "ValueError" in record["exception"]


def test_a_structlog_line_with_nested_values_and_a_traceback_is_masked(logs: pytest.CaptureFixture[str]) -> None:
    configure_logging("unit", "INFO", json_logs=True)
    log = structlog.get_logger("unit-test")
    try:
        _fail()
    except ValueError:
        log.exception("send_failed", request={"nik": NIK, "to": [PHONE]})
    out = logs.readouterr().out
    assert out.strip() and log_scan.leaks(out) == [], out


def test_a_library_logger_with_its_own_handler_is_masked_too(logs: pytest.CaptureFixture[str]) -> None:
    configure_logging("unit", "INFO", json_logs=True)
    # FastStream's way: its access logger gets a stdout handler of its own unless one is there already.
    from faststream._internal.logger.logging import get_logger

    access = get_logger("faststream.access.kafka", logging.INFO, sys.stdout, "%(message)s")
    access.warning("consumed record for %s from %s", NIK, PHONE)
    logging.getLogger("aiokafka").error("fetch failed: %s", PHONE)
    out = logs.readouterr().out
    assert len(out.strip().splitlines()) == 2
    assert log_scan.leaks(out + logs.readouterr().err) == [], out


def test_an_unhandled_exception_in_a_thread_is_logged_masked(logs: pytest.CaptureFixture[str]) -> None:
    configure_logging("unit", "INFO", json_logs=True)
    worker = threading.Thread(target=_fail)
    worker.start()
    worker.join()
    captured = logs.readouterr()
    assert "unhandled exception" in captured.out and "ValueError" in captured.out
    assert log_scan.leaks(captured.out + captured.err) == [], captured
