"""NIK validation: every rejection names its problem; regions are Kemendagri's (test_kemendagri_regions.py)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from shared.nik import Nik, NikError, mask_nik, mask_niks_in_text, parse_nik, validate_nik
from shared.regions import REGENCIES


def test_valid_nik_is_parsed_into_its_parts() -> None:
    parts = parse_nik("3674015708900001")
    assert parts.province_code == "36"
    assert parts.regency_code == "3674"
    assert parts.district_code == "367401"
    assert (parts.province_name, parts.regency_name, parts.district_name) == (
        "Banten",
        "Kota Tangerang Selatan",
        "Serpong",
    )
    assert parts.birth_date == dt.date(1990, 8, 17)
    assert parts.is_female is True
    assert parts.serial == "0001"


def test_male_birth_day_is_read_as_is() -> None:
    parts = parse_nik("3674011708900001")
    assert parts.birth_date == dt.date(1990, 8, 17)
    assert parts.is_female is False


def test_separators_and_spaces_are_tolerated() -> None:
    assert parse_nik(" 3674-0157-0890-0001 ").nik == "3674015708900001"


@pytest.mark.parametrize(
    ("nik", "problem"),
    [
        ("367401570890000", "16 digits"),
        ("36740157089000011", "16 digits"),
        ("36740157089O0001", "digits only"),
        ("9974015708900001", "unknown province code 99"),
        ("3699015708900001", "unknown regency code 3699"),
        ("3674005708900001", "district code 00"),
        ("3674013208900001", "not a valid date"),
        ("3674013502900001", "not a valid date"),
        ("3674017208900001", "not a valid date"),
        ("3674010013900001", "not a valid date"),
        ("3674015708900000", "serial number 0000"),
        ("", "empty: 16 digits expected"),
    ],
)
def test_invalid_nik_is_rejected_with_the_reason(nik: str, problem: str) -> None:
    with pytest.raises(NikError, match=problem):
        parse_nik(nik)


@pytest.mark.parametrize(
    ("nik", "province"),
    [
        ("6571015708900001", "Kalimantan Utara"),  # Tarakan: province 65 is missing from stdnum 2.2
        ("6501015708900001", "Kalimantan Utara"),
        ("9301015708900001", "Papua Selatan"),
        ("9501015708900001", "Papua Pegunungan"),
        ("9671015708900001", "Papua Barat Daya"),
        ("9202015708900001", "Papua Barat"),
    ],
)
def test_provinces_missing_from_stdnum_are_accepted(nik: str, province: str) -> None:
    assert parse_nik(nik).province_name == province


def test_unknown_regency_in_an_added_province_is_rejected() -> None:
    with pytest.raises(NikError, match=r"unknown regency code 6599 in province 65 \(Kalimantan Utara\)"):
        parse_nik("6599015708900001")


def test_pydantic_field_reports_the_problem() -> None:
    class M(BaseModel):
        nik: Nik

    with pytest.raises(ValidationError) as err:
        M(nik="3674015708900000")
    assert "serial number 0000" in str(err.value)
    assert M(nik="3674015708900001").nik == "3674015708900001"


def test_mask_keeps_region_and_serial_only() -> None:
    assert mask_nik("3674015708900001") == "3674********0001"


def test_masking_free_text_hides_every_nik() -> None:
    text = "nik=3674015708900001 other 3171011708450002 phone-ish 12345"
    masked = mask_niks_in_text(text)
    assert "3674015708900001" not in masked and "3171011708450002" not in masked
    assert "3674********0001" in masked and "12345" in masked


@given(st.text(alphabet="0123456789", min_size=16, max_size=16))
def test_parse_either_accepts_or_names_a_problem(candidate: str) -> None:
    try:
        parts = parse_nik(candidate)
    except NikError as exc:
        assert str(exc)
    else:
        assert parts.serial != "0000" and parts.nik == candidate


@given(st.from_regex(r"[0-9]{6}[0-7][0-9][01][0-9][0-9]{2}[0-9]{4}", fullmatch=True))
def test_birth_date_is_read_as_stdnum_reads_it(nik: str) -> None:
    from stdnum.exceptions import ValidationError as StdnumError
    from stdnum.id import nik as stdnum_nik

    from shared.nik import _birth_date

    try:
        expected = stdnum_nik.get_birth_date(nik)
    except StdnumError:
        with pytest.raises(ValueError):
            _birth_date(nik)
    else:
        assert _birth_date(nik) == expected


def test_separators_are_still_accepted() -> None:
    assert parse_nik("3674-0157-0890-0001").nik == parse_nik("3674015708900001").nik == "3674015708900001"


@given(
    st.sampled_from([*sorted(REGENCIES), "3699", "9974", "0000"]),
    st.text(alphabet="0123456789", min_size=12, max_size=12),
)
def test_validating_a_nik_accepts_exactly_what_parsing_it_accepts(regency: str, rest: str) -> None:
    """validate_nik's shortcut (for every event's NIK) accepts and refuses exactly what parse_nik does."""
    nik = regency + rest
    try:
        expected: str | NikError = parse_nik(nik).nik
    except NikError as exc:
        expected = exc
    if isinstance(expected, str):
        assert validate_nik(nik) == expected
    else:
        with pytest.raises(NikError, match=re.escape(str(expected))):
            validate_nik(nik)


@pytest.mark.parametrize(
    "birth",
    ["290200", "290201", "290204", "290296", "690200", "690201", "300200", "310400", "310500", "400100", "010000"],
)
def test_validating_a_nik_judges_birth_dates_as_parsing_it_does(birth: str) -> None:
    nik = f"367401{birth}0001"
    try:
        expected = parse_nik(nik).nik
    except NikError:
        with pytest.raises(NikError):
            validate_nik(nik)
    else:
        assert validate_nik(nik) == expected


def test_a_nik_field_strips_spaces_and_names_a_wrong_length() -> None:
    class M(BaseModel):
        nik: Nik

    assert M(nik=" 3674015708900001\n").nik == "3674015708900001"
    for wrong, kind in (("367401570890000", "string_too_short"), ("36740157089000011", "string_too_long")):
        with pytest.raises(ValidationError) as err:
            M(nik=wrong)
        assert [(e["loc"], e["type"]) for e in err.value.errors()] == [(("nik",), kind)]
