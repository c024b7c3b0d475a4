"""Parsing deactivation lists (CSV and .xlsx): line numbers, validation of each row, the rejected report."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest
from openpyxl import Workbook

from pbi_cli.importer import COLUMNS, read_rows, validate_file, write_report
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
