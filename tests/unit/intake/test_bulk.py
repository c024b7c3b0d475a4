"""What the bulk worker process computes for a big batch is what the event loop computed before."""

from __future__ import annotations

import json

from services.intake.bulk import Invalid, Prepared, prepare
from services.intake.domain.idempotency import body_hash
from services.intake.events_body import parse_events
from testkit.bodies import deactivation


def batch(n: int) -> dict:
    return {"events": [deactivation(nik=f"3674015708{900001 + i:06d}") for i in range(n)]}


def test_a_valid_batch_is_encoded_in_order_with_ids_and_the_fingerprint() -> None:
    body = batch(250)
    prepared = prepare(json.dumps(body).encode(), with_digest=True)
    assert isinstance(prepared, Prepared)
    events = parse_events(body)
    assert prepared.event_ids == [str(e.event_id) for e in events]
    assert [json.loads(v)["event_id"] for v, _, _ in prepared.records] == prepared.event_ids
    assert [k for _, k, _ in prepared.records] == [e.kafka_key() for e in events]
    assert {t for _, _, t in prepared.records} == {b"participant.deactivated"}
    assert prepared.digest == body_hash(body)
    assert prepare(json.dumps(body).encode(), with_digest=False).digest is None  # type: ignore[union-attr]


def test_errors_name_the_event_and_field_like_the_event_loop_does() -> None:
    body = batch(250)
    body["events"][3]["nik"] = "123"
    body["events"][240]["reason"] = ""  # empty: malformed (an unknown code is kept as OTHER)
    invalid = prepare(json.dumps(body).encode(), with_digest=True)
    assert isinstance(invalid, Invalid)
    assert [e["loc"][:4] for e in invalid.errors] == [
        ("body", "events", 3, "participant.deactivated"),
        ("body", "events", 240, "participant.deactivated"),
    ]
    assert all(set(e) == {"loc", "msg", "type"} for e in invalid.errors)  # plain values: they cross processes
