"""Channel choice, consent and the order of delivery states."""

from __future__ import annotations

import pytest

from services.notifier.domain.delivery import Action, action_for, after_permanent_failure, first_channel, next_state


def test_whatsapp_first_unless_known_not_on_whatsapp() -> None:
    assert first_channel(None) == "WHATSAPP"
    assert first_channel(True) == "WHATSAPP"
    assert first_channel(False) == "SMS"


def test_sms_is_the_fallback_after_a_permanent_whatsapp_failure_and_then_nothing() -> None:
    assert after_permanent_failure("WHATSAPP") == "SMS"
    assert after_permanent_failure("SMS") is None


def test_opted_out_people_are_skipped() -> None:
    assert action_for(True) is Action.SKIP
    assert action_for(False) is Action.SEND


@pytest.mark.parametrize(
    ("current", "receipt", "expected"),
    [
        ("SENT", "DELIVERED", "DELIVERED"),
        ("DELIVERED", "READ", "READ"),
        ("READ", "DELIVERED", "READ"),  # out of order: stays read
        ("SENDING", "DELIVERED", "DELIVERED"),  # receipt for a message left SENDING by a crash
        ("SENT", "SENT", "SENT"),
        ("SENT", "FAILED", "FAILED"),  # undelivered
        ("DELIVERED", "FAILED", "DELIVERED"),
        ("FAILED", "DELIVERED", "FAILED"),
        ("SKIPPED", "DELIVERED", "SKIPPED"),
    ],
)
def test_delivery_state_only_moves_forward(current: str, receipt: str, expected: str) -> None:
    assert next_state(current, receipt) == expected
