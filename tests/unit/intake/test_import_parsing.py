"""Parsing deactivation lists (CSV and .xlsx): line numbers, validation of each row, the rejected report."""

from __future__ import annotations

import csv
import datetime as dt
import tracemalloc
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import Workbook

from pbi_cli.importer import COLUMNS, XLSX_LIMITS, ImportFileError, check_xlsx, read_rows, validate_file, write_report
from services.intake.domain.idempotency import import_event_id

GOOD = [
    "3674015708900001",
    "Siti Aminah",
    "0812-3456-7890",
    "2026-11-01",
    "DESIL_ABOVE_5",
    "APBN",
    "Banten",
    "Kota Tangerang Selatan",
    "Pamulang",
]
BAD_NIK = ["3674015708900000", "Budi", "", "2026-11-01", "DESIL_ABOVE_5", "", "", "", ""]
BAD_REASON_AND_DATE = ["3674015708900002", "Ani", "", "2026-02-30", "", "", "", "", ""]
GOOD_NO_REGION = ["3674015708900003", "", "", "2026-11-02", "NO_BIOMETRIC", "APBD", "", "", ""]


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow([c.upper() if i == 0 else c for i, c in enumerate(COLUMNS)])  # header case does not matter
        w.writerows(rows)
    return path


def write_xlsx(path: Path, rows: list[list[object]]) -> Path:
    wb = Workbook()
    ws = wb.active
    ws.append(list(COLUMNS))
    for r in rows:
        ws.append(r)
    wb.save(path)
    return path


def test_csv_rows_are_validated_and_bad_rows_reported_by_line_and_field(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "list.csv", [GOOD, BAD_NIK, BAD_REASON_AND_DATE, GOOD_NO_REGION])
    good, rejected = validate_file(path, "SIKS-NG")
    assert [e.nik for e in good] == [GOOD[0], GOOD_NO_REGION[0]]
    assert good[0].phone == "+6281234567890" and good[0].region is not None and good[1].region is None
    assert good[0].event_id == import_event_id(GOOD[0], "2026-11-01", "DESIL_ABOVE_5")
    assert {(line, field) for line, field, _ in rejected} == {(3, "nik"), (4, "deactivated_on"), (4, "reason")}
    assert not any(BAD_NIK[0] in reason for _, _, reason in rejected)  # never the whole NIK in the report


def test_the_same_row_twice_in_one_file_is_one_event(tmp_path: Path) -> None:
    good, rejected = validate_file(write_csv(tmp_path / "dup.csv", [GOOD, GOOD]), "SIKS-NG")
    assert len(good) == 1 and rejected == []


def test_xlsx_cells_as_numbers_and_dates_are_read_like_text(tmp_path: Path) -> None:
    row: list[object] = list(GOOD)
    row[3] = dt.datetime(2026, 11, 1)  # Excel date cell
    other: list[object] = list(GOOD_NO_REGION)
    other[0] = 3674015708900003.0  # NIK typed as a number
    path = write_xlsx(tmp_path / "list.xlsx", [row, BAD_NIK, other])
    assert [line for line, _ in read_rows(path)] == [2, 3, 4]
    good, rejected = validate_file(path, "SIKS-NG")
    assert [e.nik for e in good] == [GOOD[0], GOOD_NO_REGION[0]]
    assert good[0].deactivated_on == dt.date(2026, 11, 1)
    assert [(line, field) for line, field, _ in rejected] == [(3, "nik")]


def test_rejected_report_is_written_next_to_the_file(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    report = write_report(path, [(3, "nik", "invalid NIK"), (4, "reason", "not a reason code")])
    assert report.parent == tmp_path and report.name == "list.csv.rejected.csv"
    assert list(csv.reader(report.open())) == [
        ["line", "field", "reason"],
        ["3", "nik", "invalid NIK"],
        ["4", "reason", "not a reason code"],
    ]


@pytest.mark.parametrize("blank", ["nik", "deactivated_on", "reason"])
def test_a_missing_required_value_is_a_rejected_row(tmp_path: Path, blank: str) -> None:
    row = dict(zip(COLUMNS, GOOD, strict=True))
    row[blank] = ""
    _, rejected = validate_file(write_csv(tmp_path / "x.csv", [list(row.values())]), "SIKS-NG")
    assert [(line, field) for line, field, _ in rejected] == [(2, blank)]


# ---------- hostile .xlsx files ----------

SHEET = "xl/worksheets/sheet1.xml"
NS = b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'


def with_member(source: Path, target: Path, name: str, chunks: Iterator[bytes]) -> Path:
    """`source` with its part `name` replaced by `chunks`, streamed into the zip (never whole in memory)."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
        for item in src.infolist():
            if item.filename != name:
                out.writestr(item, src.read(item.filename))
        with out.open(name, "w", force_zip64=True) as f:
            for chunk in chunks:
                f.write(chunk)
    return target


def _cell(ref: str, text: bytes) -> bytes:
    return b'<c r="' + ref.encode() + b'" t="inlineStr"><is><t>' + text + b"</t></is></c>"


def sheet_with_huge_name(mib: int) -> Iterator[bytes]:
    """A header and one row whose name is `mib` MiB of the same letter (Excel's own limit is 32,767)."""
    header = b"".join(_cell(f"{chr(65 + i)}1", c.encode()) for i, c in enumerate(COLUMNS))
    yield b"<worksheet " + NS + b'><sheetData><row r="1">' + header + b'</row><row r="2">'
    yield _cell("A2", GOOD[0].encode()) + b'<c r="B2" t="inlineStr"><is><t>'
    block = b"A" * 2**20
    for _ in range(mib):
        yield block
    yield b"</t></is></c></row></sheetData></worksheet>"


def test_an_xlsx_bomb_is_refused_before_parsing_and_memory_stays_bounded(tmp_path: Path) -> None:
    """A few hundred kilobytes that inflate to one 100 MiB string: openpyxl would build it whole
    (hundreds of MB) before the check existed."""
    normal = write_xlsx(tmp_path / "normal.xlsx", [GOOD])
    bomb = with_member(normal, tmp_path / "bomb.xlsx", SHEET, sheet_with_huge_name(100))
    assert bomb.stat().st_size < 1_000_000
    tracemalloc.start()
    try:
        with pytest.raises(ImportFileError, match="sheet1.xml inflates .*x .*zip bomb"):
            validate_file(bomb, "SIKS-NG")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, f"peak {peak / 2**20:.1f} MiB"


def test_a_large_shared_string_table_is_refused_by_size(tmp_path: Path) -> None:
    normal = write_xlsx(tmp_path / "normal.xlsx", [GOOD])
    check_xlsx(normal)  # a normal list passes
    with pytest.raises(ImportFileError, match="sharedStrings.xml unpacks to 1 MiB .*split the list"):
        sst = with_member(normal, tmp_path / "sst.xlsx", "xl/sharedStrings.xml", iter([b"<sst/>" * (2**20 // 6 + 1)]))
        check_xlsx(sst, {**XLSX_LIMITS, "shared_strings_bytes": 2**19, "ratio": 10**6})


def test_xml_entities_are_refused_not_expanded(tmp_path: Path) -> None:
    """Billion laughs: defusedxml (openpyxl's parser when installed) refuses the DTD's entities."""
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE worksheet [<!ENTITY a "AAAAAAAAAA">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
        b"<worksheet " + NS + b'><sheetData><row r="1">' + _cell("A1", b"&c;") + b"</row></sheetData></worksheet>"
    )
    normal = write_xlsx(tmp_path / "normal.xlsx", [GOOD])
    hostile = with_member(normal, tmp_path / "laughs.xlsx", SHEET, iter([laughs]))
    with pytest.raises(ImportFileError, match="refused XML construct"):
        validate_file(hostile, "SIKS-NG")


def test_a_file_that_is_not_a_zip_is_a_clear_error(tmp_path: Path) -> None:
    fake = tmp_path / "list.xlsx"
    fake.write_text("nik,name\n")
    with pytest.raises(ImportFileError, match="not a readable .xlsx"):
        validate_file(fake, "SIKS-NG")


def test_a_normal_list_made_by_hand_still_imports(tmp_path: Path) -> None:
    """The same hand-made sheet part, with a name of normal length, reads as before."""
    normal = write_xlsx(tmp_path / "normal.xlsx", [GOOD])

    def sheet() -> Iterator[bytes]:
        header = b"".join(_cell(f"{chr(65 + i)}1", c.encode()) for i, c in enumerate(COLUMNS))
        row = b"".join(_cell(f"{chr(65 + i)}2", str(v).encode()) for i, v in enumerate(GOOD))
        yield b"<worksheet " + NS + b'><sheetData><row r="1">' + header + b'</row><row r="2">' + row
        yield b"</row></sheetData></worksheet>"

    good, rejected = validate_file(with_member(normal, tmp_path / "hand.xlsx", SHEET, sheet()), "SIKS-NG")
    assert [e.nik for e in good] == [GOOD[0]] and rejected == []
