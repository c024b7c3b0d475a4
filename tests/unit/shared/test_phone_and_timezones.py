"""Phone numbers normalise to E.164 with clear rejections; provinces map to WIB/WITA/WIT."""

from __future__ import annotations

import random

import pytest

from shared.phone import (
    ContactNumber,
    PhoneError,
    PhoneStatus,
    classify_phone,
    mask_phone,
    mask_phones_in_text,
    normalize_phone,
    parse_with_library,
)
from shared.timezones import WIB, WIT, WITA, zone_for_nik, zone_for_province


@pytest.mark.parametrize(
    "raw",
    ["081234567890", "6281234567890", "+6281234567890", "+62 812-3456-7890", "0812 3456 7890", "(0812) 3456-7890"],
)
def test_indonesian_mobile_forms_normalise_to_e164(raw: str) -> None:
    assert normalize_phone(raw) == "+6281234567890"


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("", "empty"),
        ("0215551234", "not a mobile"),  # Jakarta landline
        ("+6591234567", "not an Indonesian number"),
        ("0812", "not a valid Indonesian number"),
        ("08123abc567", "only digits"),
    ],
)
def test_bad_phone_numbers_are_rejected_with_the_reason(raw: str, problem: str) -> None:
    with pytest.raises(PhoneError, match=problem):
        normalize_phone(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("081234567890", ContactNumber(mobile="+6281234567890")),
        ("0215551234", ContactNumber(not_mobile="+62215551234", status=PhoneStatus.NOT_MOBILE)),
        ("0800123456", ContactNumber(not_mobile="+62800123456", status=PhoneStatus.NOT_MOBILE)),
        ("08001234567", ContactNumber(not_mobile="+628001234567", status=PhoneStatus.NOT_MOBILE)),  # shortcut path
        ("tidak ada", ContactNumber(status=PhoneStatus.INVALID)),
        ("0812", ContactNumber(status=PhoneStatus.INVALID)),
        ("+6591234567", ContactNumber(status=PhoneStatus.INVALID)),
        (12345, ContactNumber(status=PhoneStatus.INVALID)),
        ("  ", ContactNumber()),
        (None, ContactNumber()),
    ],
)
def test_contact_numbers_are_sorted_into_mobile_landline_or_junk(raw: object, expected: ContactNumber) -> None:
    assert classify_phone(raw) == expected
    assert classify_phone(raw) == expected  # the remembered verdict gives the same answer


def test_phone_errors_never_contain_the_number() -> None:
    for raw in ("0215551234", "0812", "+6591234567", "08123abc567", "02155512349999999"):
        with pytest.raises(PhoneError) as err:
            normalize_phone(raw)
        assert raw not in str(err.value) and raw[-6:] not in str(err.value)


def test_phone_mask_keeps_prefix_and_last_three() -> None:
    assert mask_phone("+6281234567890") == "+62812*****890"


def test_phones_in_free_text_are_masked() -> None:
    masked = mask_phones_in_text("call 081234567890 or +6281298765432")
    assert "081234567890" not in masked and "6281298765432" not in masked


@pytest.mark.parametrize(
    ("province", "zone"),
    [
        ("11", WIB),
        ("21", WIB),
        ("31", WIB),
        ("36", WIB),
        ("61", WIB),
        ("62", WIB),
        ("51", WITA),
        ("52", WITA),
        ("53", WITA),
        ("63", WITA),
        ("64", WITA),
        ("65", WITA),
        ("71", WITA),
        ("76", WITA),
        ("81", WIT),
        ("82", WIT),
        ("91", WIT),
        ("94", WIT),
        ("96", WIT),
    ],
)
def test_province_time_zones(province: str, zone: object) -> None:
    assert zone_for_province(province) is zone


def test_zone_from_nik() -> None:
    assert zone_for_nik("5171015708900001") is WITA


@pytest.mark.parametrize("province", ["00", "22", "37", "54", "66", "77", "83", "97"])
def test_unknown_province_has_no_zone(province: str) -> None:
    with pytest.raises(ValueError, match=f"province code {province}"):
        zone_for_province(province)


def _outcome(parse: object, raw: str) -> str:
    try:
        return parse(raw)  # type: ignore[operator, no-any-return]
    except PhoneError as exc:
        return f"error: {exc} (not a mobile: {exc.not_mobile})"


def test_the_remembered_verdict_shortcut_agrees_with_libphonenumber() -> None:
    """normalize_phone asks the library once per (prefix, length) of an 8... number; every number
    must get exactly the library's answer. 3,000 random numbers each run (a plain loop: hypothesis's own
    work per example cost twenty times the two parses; the seed is in the failure message)."""
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    disagree = []
    for _ in range(3000):
        digits = "".join(rng.choices("0123456789", k=rng.randint(6, 12)))
        raw = f"{rng.choice(['0', '62', '+62', '+62 ', '0-'])}8{rng.choice('0123456789')}{digits}"
        if _outcome(normalize_phone, raw) != _outcome(parse_with_library, raw):
            disagree.append(raw)
    assert disagree == [], f"seed {seed}"
