"""Every log line is one JSON object from one formatter: structlog's events, the standard library's
records (uvicorn, FastStream, aiokafka, SQLAlchemy) and Python's warnings alike, whatever quotes or
newlines a message holds."""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterator

import pytest
import structlog

from shared.observability import configure_logging
from testkit import log_scan

TRICKY = 'he said "stop"\nand left\\ \t\r\x1b[31m {not json}'


@pytest.fixture
def lines(logs: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:  # noqa: F811
    """Logging is configured in the test itself (capsys swaps sys.stdout only once the test runs)."""
    yield logs
    logging.captureWarnings(False)


def parsed(out: str) -> list[dict]:
    assert log_scan.not_json(out) == [], out
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_every_source_writes_one_json_object_per_line(lines: pytest.CaptureFixture[str]) -> None:
    logging.captureWarnings(False)  # whatever an earlier test left: configure_logging turns it on
    for name in ("uvicorn", "uvicorn.error", "faststream", "aiokafka"):  # an in-process uvicorn.Config sets levels
        logging.getLogger(name).setLevel(logging.NOTSET)
        logging.getLogger(name).disabled = False
    configure_logging("unit", "INFO", json_logs=True)
    structlog.get_logger("services.intake").info("accepted", detail=TRICKY)
    logging.getLogger("uvicorn.error").info("Started server process [%d] %s", 42, TRICKY)
    logging.getLogger("faststream").warning("consumer %s stopped", TRICKY)
    logging.getLogger("aiokafka.consumer").error(TRICKY)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn(TRICKY, UserWarning, stacklevel=1)
    records = parsed(lines.readouterr().out)
    assert [r["logger"] for r in records] == [
        "services.intake",
        "uvicorn.error",
        "faststream",
        "aiokafka.consumer",
        "py.warnings",
    ]
    assert records[0]["detail"] == TRICKY and TRICKY in records[1]["event"] and TRICKY in records[3]["event"]
    for r in records:
        assert r["service"] == "unit" and r["level"] and r["timestamp"].endswith("Z")


def test_a_traceback_stays_inside_its_line(lines: pytest.CaptureFixture[str]) -> None:
    configure_logging("unit", "INFO", json_logs=True)
    try:
        raise ValueError(TRICKY)
    except ValueError:
        structlog.get_logger("services.registry").exception("failed")
        logging.getLogger("sqlalchemy.engine").exception("statement failed")
    records = parsed(lines.readouterr().out)
    assert len(records) == 2
    assert all("Traceback" in r["exception"] and "ValueError" in r["exception"] for r in records)
