"""NIK regions follow Kemendagri's list: every province and regency/city code is accepted and named
from the data file, historic codes of split regions too; unknown codes are refused by name."""

from __future__ import annotations

import csv
import tomllib
from collections import Counter
from importlib import resources
from pathlib import Path

import pytest

from shared.data.build_regions import historic, read_sql
from shared.nik import NikError, parse_nik

DATA = Path(__file__).parents[3] / "shared" / "data"


def _read(name: str) -> list[dict[str, str]]:
    """The data file read on its own (not through shared.regions): the check stays independent."""
    with (DATA / name).open(encoding="utf-8") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


ROWS = _read("kemendagri_regions.csv")
PROVINCES = {r["code"]: r["name"] for r in ROWS if len(r["code"]) == 2}
REGENCIES = {r["code"]: r["name"] for r in ROWS if len(r["code"]) == 4}
HISTORIC = {r["code"]: r["current"] for r in _read("kemendagri_historic.csv") if len(r["code"]) == 4}

# Kabupaten + kota per province, from the source's summary table of Kepmendagri 300.2.2-2430/2025
# (cahyadsn/wilayah README.md), typed in by hand: an independent check of the data file.
REGENCIES_PER_PROVINCE = {
    "11": 23, "12": 33, "13": 19, "14": 12, "15": 11, "16": 17, "17": 10, "18": 15, "19": 7, "21": 7,
    "31": 6, "32": 27, "33": 35, "34": 5, "35": 38, "36": 8, "51": 9, "52": 10, "53": 22, "61": 14,
    "62": 14, "63": 13, "64": 10, "65": 5, "71": 15, "72": 13, "73": 24, "74": 17, "75": 6, "76": 6,
    "81": 11, "82": 10, "91": 9, "92": 7, "93": 4, "94": 8, "95": 8, "96": 6,
}  # fmt: skip


def nik(region: str, district: str = "01") -> str:
    return f"{region}{district}5708900001"


def test_the_list_has_38_provinces_and_514_regencies_and_cities() -> None:
    assert len(PROVINCES) == 38 and len(REGENCIES) == 514
    assert Counter(code[:2] for code in REGENCIES) == REGENCIES_PER_PROVINCE
    assert sum(REGENCIES_PER_PROVINCE.values()) == 514
    assert all(name.startswith(("Kabupaten ", "Kota ")) for name in REGENCIES.values())


@pytest.mark.parametrize("province", sorted(PROVINCES))
def test_every_province_code_is_accepted_and_named(province: str) -> None:
    first_regency = min(code for code in REGENCIES if code[:2] == province)
    assert parse_nik(nik(first_regency)).province_name == PROVINCES[province]


@pytest.mark.parametrize("regency", sorted(REGENCIES))
def test_every_regency_code_is_accepted_and_named(regency: str) -> None:
    parts = parse_nik(nik(regency))
    assert (parts.province_code, parts.regency_code) == (regency[:2], regency)
    assert (parts.province_name, parts.regency_name) == (PROVINCES[regency[:2]], REGENCIES[regency])


@pytest.mark.parametrize(
    ("region", "province", "regency"),
    [
        # shared/DOMAIN.md: real NIK prefixes that the BPS-like list refused or misnamed
        ("9111", "Papua", "Kabupaten Keerom"),
        ("9171", "Papua", "Kota Jayapura"),
        ("9202", "Papua Barat", "Kabupaten Manokwari"),
        ("9208", "Papua Barat", "Kabupaten Kaimana"),
        ("9271", "Papua Barat Daya", "Kota Sorong"),  # issued before 2022: now 96.71
        # Same name, different kind: the label tells them apart
        ("3603", "Banten", "Kabupaten Tangerang"),
        ("3671", "Banten", "Kota Tangerang"),
        ("3674", "Banten", "Kota Tangerang Selatan"),
        ("3171", "Daerah Khusus Ibukota Jakarta", "Kota Administrasi Jakarta Pusat"),
    ],
)
def test_domain_examples_are_accepted_and_named_right(region: str, province: str, regency: str) -> None:
    parts = parse_nik(nik(region))
    assert (parts.province_name, parts.regency_name) == (province, regency)


@pytest.mark.parametrize(
    ("old", "province", "regency"),
    [
        ("9101", "Papua Selatan", "Kabupaten Merauke"),  # Papua before UU 14/2022
        ("9102", "Papua Pegunungan", "Kabupaten Jayawijaya"),  # UU 16/2022
        ("9109", "Papua Tengah", "Kabupaten Mimika"),  # UU 15/2022
        ("9201", "Papua Barat Daya", "Kabupaten Sorong"),  # Papua Barat before UU 29/2022
        ("9271", "Papua Barat Daya", "Kota Sorong"),
        ("6404", "Kalimantan Utara", "Kabupaten Bulungan"),  # Kalimantan Timur before UU 20/2012
        ("6473", "Kalimantan Utara", "Kota Tarakan"),
    ],
)
def test_codes_from_before_a_split_are_accepted_under_the_current_name(old: str, province: str, regency: str) -> None:
    parts = parse_nik(nik(old))
    assert parts.regency_code == old  # the NIK is not rewritten: only its label is current
    assert (parts.province_name, parts.regency_name) == (province, regency)


def test_every_historic_code_is_accepted_and_named_as_its_current_region() -> None:
    assert len(HISTORIC) == 31 and not set(HISTORIC) & set(REGENCIES)
    for old, now in HISTORIC.items():
        parts = parse_nik(nik(old))
        assert (parts.province_name, parts.regency_name) == (PROVINCES[now[:2]], REGENCIES[now]), old


@pytest.mark.parametrize(
    ("candidate", "problem"),
    [
        (nik("9971"), "unknown province code 99"),
        (nik("2201"), "unknown province code 22"),
        (nik("3699"), r"unknown regency code 3699 in province 36 \(Banten\)"),
        # BPS-like codes that python-stdnum accepted and no NIK carries
        (nik("9471"), r"unknown regency code 9471 in province 94 \(Papua Tengah\)"),
        (nik("6475"), r"unknown regency code 6475 in province 64 \(Kalimantan Timur\)"),
    ],
)
def test_unknown_province_or_regency_is_refused_by_name(candidate: str, problem: str) -> None:
    with pytest.raises(NikError, match=problem):
        parse_nik(candidate)


def test_a_region_is_refused_exactly_when_neither_list_has_its_code() -> None:
    known = set(REGENCIES) | set(HISTORIC)
    for code in (f"{i:04d}" for i in range(10_000)):
        try:
            parse_nik(nik(code))
        except NikError as exc:
            assert code not in known and str(exc).startswith(("unknown province", "unknown regency")), code
        else:
            assert code in known, code


def test_districts_are_labelled_when_known_and_never_refused() -> None:
    assert parse_nik(nik("3674", "06")).district_name == "Pamulang"
    assert parse_nik(nik("9101", "01")).district_name == "Merauke"  # from the pre-2022 list
    unknown = parse_nik(nik("3674", "99"))  # district codes churn: a new one must not refuse a NIK
    assert (unknown.district_code, unknown.district_name, unknown.regency_name) == (
        "367499",
        None,
        "Kota Tangerang Selatan",
    )


def test_the_data_ships_as_package_data() -> None:
    assert resources.files("shared.data").joinpath("kemendagri_regions.csv").is_file()
    pyproject = tomllib.loads((DATA.parents[1] / "pyproject.toml").read_text())
    assert "*.csv" in pyproject["tool"]["setuptools"]["package-data"]["*"]
    assert "shared*" in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]


def test_the_conversion_reads_the_sql_dump_and_matches_renumbered_regencies_by_name(tmp_path: Path) -> None:
    current = tmp_path / "now.sql"
    current.write_text(
        "INSERT INTO wilayah (kode, nama) VALUES\n('96','Papua Barat Daya'),('96.01','Kabupaten Sorong'),"
        "('96.71','Kota Sorong'),('96.71.01','Sorong'),('96.71.01.1001','Village'),('73.18.13','Sangalla''');"
    )
    old = tmp_path / "old.sql"
    old.write_text("VALUES ('92.01','KAB. SORONG'),('92.71','KOTA SORONG'),('92.71.01','Sorong Timur');")
    now = read_sql(current)
    assert now == {
        "96": "Papua Barat Daya",
        "9601": "Kabupaten Sorong",
        "9671": "Kota Sorong",
        "967101": "Sorong",
        "731813": "Sangalla'",
    }
    assert historic(now, read_sql(old), known={"6473": "6571"}) == [
        ("9201", "9601", "", "Permendagri 58/2021"),
        ("9271", "9671", "", "Permendagri 58/2021"),
        ("927101", "", "Sorong Timur", "Permendagri 58/2021"),
    ]  # 6473 (Tarakan) is only kept when its current code exists
