"""A provider's error body names the phone number: what a failed message leaves behind (its dead-letter
record's `x-dlq-reason`, the NotificationUpdated reason, the stored last_error) is masked."""

from __future__ import annotations

import datetime as dt
import uuid

from services.notifier.sender import Sender
from testkit import log_scan

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
ERROR_BODY = (
    'permanent: HTTP 400: {"error": {"message": "(#131026) Message undeliverable", '
    '"error_data": {"details": "Recipient 6281234567890 (NIK 3674015708900001) is not a WhatsApp user"}}}'
)


async def test_a_failed_messages_reason_is_masked_everywhere_it_goes() -> None:
    sender = Sender(None, None, None, lambda: None, "t.", lambda: NOW, 1.0, 1)  # type: ignore[arg-type]
    row = {
        "message_id": uuid.uuid4(),
        "nik": "3674015708900001",
        "kind": "DECISION",
        "channel": "WHATSAPP",
        "correlation_id": "req-1",
    }
    stored, outbox = sender._fail(row, ERROR_BODY)

    # The dead letter and the announcement go into the outbox with the FAILED state, in its transaction.
    assert [r["topic"] for r in outbox] == ["t.pbi.notification-events.v1.dlq", "t.pbi.notification-events.v1"]
    assert len({r["event_id"] for r in outbox}) == 2  # two outbox rows, one event: the dead letter's id is its own
    assert all(r["headers"]["x-correlation-id"] == "req-1" for r in outbox)
    texts = [stored["last_error"]] + [r["headers"].get("x-dlq-reason", "") for r in outbox]
    # The event bodies carry the NIK as their subject (the Kafka key); the reason inside them is masked.
    texts += [r["payload"].decode().replace('"nik":"3674015708900001"', "") for r in outbox]
    assert outbox[0]["headers"]["x-dlq-reason"].startswith("permanent: HTTP 400")
    for text in texts:
        assert log_scan.leaks(text) == [], text
