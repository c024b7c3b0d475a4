"""The demo wave matches seed 001 and every generated record passes the public validation."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from pbi_cli.demo_data import DISTRICTS, WAVE_SIZE, generate
from shared.events import participant_event_adapter
from shared.nik import parse_nik
from shared.phone import normalize_phone

TODAY = dt.date(2026, 11, 24)


@pytest.fixture(scope="module")
def full_day():  # type: ignore[no-untyped-def]
    return generate(scale=1.0, seed=7, today=TODAY)


def test_wave_has_the_published_per_district_counts(full_day) -> None:  # type: ignore[no-untyped-def]
    assert WAVE_SIZE == 20_990
    assert len(full_day.people) == 20_990
    by_district = Counter(p.district for p in full_day.people)
    assert by_district == {name: count for name, _, count in DISTRICTS}
    assert by_district["Pamulang"] == 4006 and by_district["Serpong Utara"] == 1528


def test_niks_are_valid_unique_and_in_their_district(full_day) -> None:  # type: ignore[no-untyped-def]
    codes = {name: code for name, code, _ in DISTRICTS}
    assert len({p.nik for p in full_day.people}) == len(full_day.people)
    for p in full_day.people:
        parts = parse_nik(p.nik)
        assert (parts.province_name, parts.regency_name) == ("Banten", "Kota Tangerang Selatan")
        assert parts.district_code == "3674" + codes[p.district]
        assert parts.district_name == p.district  # Kemendagri's code of that kecamatan


def test_district_codes_are_kemendagri_s() -> None:
    assert {name: code for name, code, _ in DISTRICTS} == {
        "Serpong": "01",
        "Serpong Utara": "02",
        "Pondok Aren": "03",
        "Ciputat": "04",
        "Ciputat Timur": "05",
        "Pamulang": "06",
        "Setu": "07",
    }


def test_the_list_s_region_labels_are_the_ones_the_registry_derives_from_the_nik(full_day) -> None:  # type: ignore[no-untyped-def]
    rows = list(full_day.deactivation_rows())
    for row in rows[:: len(rows) // 50]:
        parts = parse_nik(row["nik"])
        assert (row["province"], row["regency"], row["district"]) == (
            parts.province_name,
            parts.regency_name,
            parts.district_name,
        )


def test_some_requests_come_from_elsewhere_in_the_country_with_valid_niks(full_day) -> None:  # type: ignore[no-untyped-def]
    provinces = {parse_nik(r["nik"]).province_name for r in full_day.requests}
    assert len(provinces) > 10 and "Banten" in provinces


def test_the_summary_shows_participants_by_region_with_the_new_labels() -> None:
    from pbi_cli.demo import out, print_summary

    by_region = [
        {"province": "Banten", "regency": "Kota Tangerang Selatan", "district": "Pamulang", "count": 4006},
        {"province": "Papua Barat Daya", "regency": "Kota Sorong", "district": "Sorong", "count": 1},
    ]
    with out.capture() as captured:
        print_summary({"by_status": {"INACTIVE": 4007}, "by_region": by_region})
    text = captured.get()
    assert "Participants by region" in text
    assert "Kota Tangerang Selatan" in text and "Pamulang" in text and "4,006" in text
    assert "Papua Barat Daya" in text and "Kota Sorong" in text


def test_most_people_have_a_valid_mobile_number(full_day) -> None:  # type: ignore[no-untyped-def]
    phones = [p.phone for p in full_day.people if p.phone]
    assert 0.8 < len(phones) / len(full_day.people) < 0.9
    assert all(normalize_phone(ph).startswith("+628") for ph in phones)


def test_reasons_are_mixed_and_some_windows_already_closed(full_day) -> None:  # type: ignore[no-untyped-def]
    reasons = Counter(p.reason for p in full_day.people)
    assert reasons.most_common(1)[0][0] == "DESIL_ABOVE_5"
    assert set(reasons) >= {"DESIL_ABOVE_5", "DECEASED", "NIK_CONFLICT", "NO_BIOMETRIC"}
    late = [p for p in full_day.people if (TODAY - p.deactivated_on).days > 190]
    assert 0.01 < len(late) / len(full_day.people) < 0.06


def test_facts_are_valid_events(full_day) -> None:  # type: ignore[no-untyped-def]
    types = Counter(participant_event_adapter.validate_python(f).type for f in full_day.facts)
    assert types["participant.desil_updated"] > 1000 and types["participant.death_reported"] > 100


def test_requests_cover_every_path_and_the_hard_cases(full_day) -> None:  # type: ignore[no-untyped-def]
    paths = Counter(r["path"] for r in full_day.requests)
    assert paths["REGULAR"] > 0 and paths["CHRONIC"] > 0 and paths["EMERGENCY"] > 0
    assert any("doctor_letter" not in r.get("documents", {}) for r in full_day.requests if r["path"] == "CHRONIC")
    known = {p.nik for p in full_day.people}
    assert any(r["nik"] not in known for r in full_day.requests)  # never deactivated
    assert len(full_day.emergencies) > 50


def test_small_scale_still_has_emergencies_and_is_deterministic() -> None:
    a, b = generate(scale=0.02, seed=1, today=TODAY), generate(scale=0.02, seed=1, today=TODAY)
    assert [p.nik for p in a.people] == [p.nik for p in b.people]
    assert a.facts == b.facts
    assert len(a.emergencies) >= 3
    assert 350 < len(a.people) < 500
