"""shared.masking: the one function every reason text, log line and span goes through."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.masking import mask_personal_data
from testkit import log_scan


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("nik=3674015708900001", "nik=3674********0001"),
        ('"to": "+6281234567890"', '"to": "+62812*****890"'),
        ("wa_id 6281234567890 failed", "wa_id 62812*****890 failed"),
        ("call 0812345678", "call 0812***678"),  # the shortest mobile (9 national digits)
        ("call 0812-3456-7890 now", "call 0812*****890 now"),
        ("Key (nik)=(3171011708450002) already exists", "Key (nik)=(3171********0002) already exists"),
        ("/v1/participants/3674015708900001/history", "/v1/participants/3674********0001/history"),
        # Not personal data: left as they are.
        ("offset 1234567890123 id 99f6e171c0864368930f089e7ae3ba0e", None),
        ("a 17-digit run 12345678901234567", None),
        ("no digits at all", None),
    ],
)
def test_niks_and_phones_are_masked_and_other_numbers_kept(text: str, masked: str | None) -> None:
    assert mask_personal_data(text) == (masked or text)


_pieces = st.one_of(
    st.from_regex(r"[1-9][0-9]{15}", fullmatch=True),  # NIK-like
    st.from_regex(r"(\+62|62|0)8[0-9]{8,11}", fullmatch=True),  # mobiles
    st.text(alphabet="0123456789 +-_/=:\"'()ab", max_size=12),
)


@given(st.lists(_pieces, max_size=8).map("".join))
def test_nothing_the_log_scan_calls_a_leak_survives_masking(text: str) -> None:
    assert log_scan.leaks(mask_personal_data(text)) == []


@given(st.text(max_size=60))
def test_masking_is_idempotent_and_keeps_text_without_digits(text: str) -> None:
    once = mask_personal_data(text)
    assert mask_personal_data(once) == once
    if not any(c.isdigit() for c in text):
        assert once == text
