"""Kemendagri region codes, the ones NIKs carry: province (2 digits), regency/city (4), district (6).

Loaded once from shared/data (see its README.md for the source and date): 38 provinces and 514
regencies/cities of Kepmendagri 300.2.2-2430/2025 with their districts (kecamatan), plus the codes
that NIKs issued before a region split still carry (pre-2022 Papua and Papua Barat, pre-2012
Kalimantan Timur for Kalimantan Utara), labelled with the region's current name.
Names are the list's own: provinces as written ("Banten", "Papua Barat Daya"), regencies with their
kind ("Kabupaten Tangerang", "Kota Tangerang Selatan"), districts as written ("Pamulang").
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from importlib import resources


def _rows(name: str) -> Iterator[dict[str, str]]:
    with resources.files("shared.data").joinpath(name).open(encoding="utf-8") as f:
        yield from csv.DictReader(line for line in f if not line.startswith("#"))


def _load() -> tuple[dict[str, str], dict[str, tuple[str, str]], dict[str, str], dict[str, str]]:
    provinces: dict[str, str] = {}
    regencies: dict[str, tuple[str, str]] = {}
    districts: dict[str, str] = {}
    for row in _rows("kemendagri_regions.csv"):
        code, name = row["code"], row["name"]
        if len(code) == 2:
            provinces[code] = name
        elif len(code) == 4:
            regencies[code] = (provinces[code[:2]], name)
        else:
            districts[code] = name
    historic: dict[str, str] = {}
    for row in _rows("kemendagri_historic.csv"):
        if len(row["code"]) == 4:
            historic[row["code"]] = row["current"]
            regencies[row["code"]] = regencies[row["current"]]
        else:
            districts[row["code"]] = row["name"]
    return provinces, regencies, districts, historic


PROVINCES, REGENCIES, DISTRICTS, HISTORIC = _load()
"""PROVINCES: '36' -> 'Banten'. REGENCIES: '3674' -> ('Banten', 'Kota Tangerang Selatan'), historic
codes included ('9101' -> ('Papua Selatan', 'Kabupaten Merauke')). DISTRICTS: '367406' -> 'Pamulang'
(current and historic codes). HISTORIC: '9101' -> '9301', the code the region carries today."""


def current_regency_code(code: str) -> str:
    """The code a regency carries today: '9101' (Merauke, issued before 2022) -> '9301'."""
    return HISTORIC.get(code, code)
