"""Fixtures of the shared package's unit tests."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture
def logs(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    """Configured in the test itself (capsys swaps sys.stdout only once the test runs); the process's
    logging is put back afterwards (structlog would keep writing to the closed capture)."""
    saved, root = structlog.get_config(), logging.getLogger()
    level, hooks = root.level, (sys.excepthook, threading.excepthook)
    yield capsys
    structlog.configure(**{**saved, "cache_logger_on_first_use": False})
    root.setLevel(level)
    sys.excepthook, threading.excepthook = hooks
    for handler in [h for h in root.handlers if getattr(h, "pbi_masking_handler", False)]:
        root.removeHandler(handler)
    logging.getLogger("faststream.access.kafka").handlers.clear()
