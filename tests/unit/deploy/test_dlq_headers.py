"""`pbi dlq`: the pure parts (header parsing, where a record goes back, what a replay carries)."""

from __future__ import annotations

import pytest

from pbi_cli.dlq import (
    HEADER_REPLAYED_FROM,
    dlq_topic_name,
    masked_reason,
    original_topic,
    parse_headers,
    peek_row,
    replay_group,
    replay_headers,
)

DLQ_HEADERS = [
    ("x-dlq-reason", b"schema violation: nik: 3674011203900001 is not valid"),
    ("x-dlq-error", b"PoisonRecord"),
    ("x-retry-count", b"0"),
    ("x-original-topic", b"t1.pbi.decisions.v1"),
    ("x-original-partition", b"1"),
    ("x-original-offset", b"42"),
    ("x-consumer-group", b"t1.registry-pbi.decisions.v1"),
    ("x-correlation-id", b"req-7"),
]


def test_headers_are_decoded_to_text_and_a_missing_value_is_empty() -> None:
    assert parse_headers([("a", b"1"), ("b", None), ("c", b"\xff")]) == {"a": "1", "b": "", "c": "\ufffd"}
    assert parse_headers(None) == {}


@pytest.mark.parametrize(
    ("topic", "prefix", "expected"),
    [
        ("pbi.decisions.v1", "", "pbi.decisions.v1.dlq"),
        ("pbi.decisions.v1.dlq", "", "pbi.decisions.v1.dlq"),
        ("pbi.decisions.v1", "t1.", "t1.pbi.decisions.v1.dlq"),
        ("t1.pbi.decisions.v1.dlq", "t1.", "t1.pbi.decisions.v1.dlq"),
    ],
)
def test_dlq_name_accepts_the_topic_or_its_dlq_with_or_without_prefix(topic: str, prefix: str, expected: str) -> None:
    assert dlq_topic_name(topic, prefix) == expected


def test_original_topic_comes_from_the_header() -> None:
    assert original_topic("t1.pbi.decisions.v1.dlq", parse_headers(DLQ_HEADERS)) == "t1.pbi.decisions.v1"


def test_original_topic_without_header_is_the_dlq_name_minus_suffix() -> None:
    assert original_topic("pbi.status-changes.v1.dlq", {}) == "pbi.status-changes.v1"


def test_a_header_naming_another_topic_is_refused() -> None:
    with pytest.raises(ValueError, match="pbi.decisions.v1"):
        original_topic("pbi.participant-events.v1.dlq", {"x-original-topic": "pbi.decisions.v1"})


def test_replayed_record_keeps_its_own_headers_and_drops_the_failure_headers() -> None:
    out = replay_headers(parse_headers(DLQ_HEADERS), "t1.pbi.decisions.v1.dlq", 0, 5)
    assert out == [("x-correlation-id", b"req-7"), (HEADER_REPLAYED_FROM, b"t1.pbi.decisions.v1.dlq:0:5")]


def test_a_second_dead_lettering_does_not_stack_replay_markers() -> None:
    headers = {HEADER_REPLAYED_FROM: "old:0:1", "x-correlation-id": "c"}
    assert [k for k, _ in replay_headers(headers, "d.dlq", 0, 2)] == ["x-correlation-id", HEADER_REPLAYED_FROM]


def test_reasons_are_shown_with_niks_masked() -> None:
    assert masked_reason(parse_headers(DLQ_HEADERS)) == "schema violation: nik: 3674********0001 is not valid"
    assert masked_reason({"x-dlq-error": "KeyError"}) == "KeyError"
    assert masked_reason({}) == "(no reason)"


def test_each_dlq_has_its_own_replay_group() -> None:
    assert replay_group("pbi.decisions.v1.dlq") == "pbi-dlq-replay.pbi.decisions.v1.dlq"


def test_peek_masks_niks_and_phone_numbers_in_the_key_and_every_reason() -> None:
    """A provider's error body in the reason names the phone: `pbi dlq peek` shows it masked."""
    headers = [
        (
            "x-dlq-reason",
            b"WhatsApp 400: recipient 6281234567890 (+6281298765432) not on WhatsApp, nik 3674011203900001",
        ),
        ("x-dlq-error", b"PermanentError"),
        ("x-original-topic", b"pbi.notification-events.v1"),
    ]
    row = peek_row("0:7", b"3674011203900001", headers)
    shown = " ".join(row.values())
    assert "3674011203900001" not in shown and "1234567890" not in shown and "1298765432" not in shown
    assert row["key"] == "3674********0001"
    assert row["reason"] == (
        "WhatsApp 400: recipient 62812*****890 (+62812*****432) not on WhatsApp, nik 3674********0001"
    )
