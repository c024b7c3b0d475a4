"""Fixtures of the integration tests beyond the suite's (tests/conftest.py), each a call into the testkit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testkit.notifier import Sim, simulator_running


@pytest.fixture
def sim() -> Iterator[Sim]:
    """The provider simulator on its own thread and socket, calling back the notifier's port."""
    with simulator_running() as running:
        yield running
