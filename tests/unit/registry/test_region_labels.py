"""The registry labels a person's region from the NIK with Kemendagri's names (stats, dashboard)."""

from __future__ import annotations

import pytest

from services.registry.handlers import region_from_nik


@pytest.mark.parametrize(
    ("nik", "region"),
    [
        ("3674065708900001", ("Banten", "Kota Tangerang Selatan", "Pamulang")),
        ("3671015708900001", ("Banten", "Kota Tangerang", "Tangerang")),
        ("9171015708900001", ("Papua", "Kota Jayapura", "Jayapura Utara")),  # was labelled Sorong
        ("9271015708900001", ("Papua Barat Daya", "Kota Sorong", "Sorong")),  # issued before 2022
        ("3674995708900001", ("Banten", "Kota Tangerang Selatan", "367499")),  # district unknown: its code
    ],
)
def test_region_labels_come_from_the_kemendagri_list(nik: str, region: tuple[str, str, str]) -> None:
    assert region_from_nik(nik) == region
