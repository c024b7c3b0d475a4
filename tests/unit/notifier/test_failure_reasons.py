"""A provider's error body names the phone number: what a failed message leaves behind (its dead-letter
record's `x-dlq-reason`, the NotificationUpdated reason, the stored last_error) is masked."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from services.notifier.sender import Sender
from testkit import log_scan

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
ERROR_BODY = (
    'permanent: HTTP 400: {"error": {"message": "(#131026) Message undeliverable", '
    '"error_data": {"details": "Recipient 6281234567890 (NIK 3674015708900001) is not a WhatsApp user"}}}'
)


class RecordingBroker:
    def __init__(self) -> None:
        self.published: list[tuple[str, bytes, dict[str, str]]] = []

    async def publish(self, body: bytes, *, topic: str, key: bytes, headers: dict[str, str] | None = None) -> None:
        self.published.append((topic, body, headers or {}))


async def test_a_failed_messages_reason_is_masked_everywhere_it_goes() -> None:
    broker = RecordingBroker()
    sender = Sender(None, None, None, broker, "t.", lambda: NOW, 1.0, 1)  # type: ignore[arg-type]
    stored: dict[str, Any] = {}

    async def record(row: dict[str, Any], **values: Any) -> None:
        stored.update(values)

    sender._set = record  # type: ignore[method-assign]
    row = {
        "message_id": uuid.uuid4(),
        "nik": "3674015708900001",
        "kind": "DECISION",
        "channel": "WHATSAPP",
        "correlation_id": "req-1",
    }
    await sender._fail(row, ERROR_BODY)

    topics = [topic for topic, _, _ in broker.published]
    assert topics == ["t.pbi.notification-events.v1.dlq", "t.pbi.notification-events.v1"]
    texts = [stored["last_error"]] + [h.get("x-dlq-reason", "") for _, _, h in broker.published]
    # The event bodies carry the NIK as their subject (the Kafka key); the reason inside them is masked.
    texts += [body.decode().replace('"nik":"3674015708900001"', "") for _, body, _ in broker.published]
    assert broker.published[0][2]["x-dlq-reason"].startswith("permanent: HTTP 400")
    for text in texts:
        assert log_scan.leaks(text) == [], text
