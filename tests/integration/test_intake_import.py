"""`pbi import deactivations` on real Kafka + PostgreSQL: rejected rows reported and never published,
a second import of the same file publishes nothing new."""

from __future__ import annotations

import asyncio
import csv
import os
import sys
from pathlib import Path

from openpyxl import Workbook

from pbi_cli.importer import COLUMNS
from shared.events import ParticipantDeactivated
from shared.settings import Settings
from shared.topics import PARTICIPANT_EVENTS
from testkit.kafka import TopicReader
from testkit.polling import eventually

ROWS = [
    [
        "3674015708900001",
        "Siti",
        "0812-3456-7890",
        "2026-11-01",
        "DESIL_ABOVE_5",
        "APBN",
        "Banten",
        "Tangsel",
        "Pamulang",
    ],
    ["3674015708900000", "Budi", "", "2026-11-01", "DESIL_ABOVE_5", "", "", "", ""],  # serial 0000: invalid NIK
    ["3674015708900002", "Ani", "12", "2026-11-01", "DESIL_ABOVE_5", "", "", "", ""],  # junk phone: fact kept
    ["3674015708900003", "Dewi", "", "2026-11-31", "NO_BIOMETRIC", "", "", "", ""],  # no such date
    ["3674015708900004", "Eka", "", "2026-11-02", "NO_BIOMETRIC", "APBD", "", "", ""],
]
GOOD_NIKS = {"3674015708900001", "3674015708900002", "3674015708900004"}


async def pbi(settings: Settings, *args: str) -> tuple[int, str]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "TOPIC_PREFIX": settings.topic_prefix,
        "COLUMNS": "200",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pbi_cli.main",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


async def test_malformed_rows_are_reported_and_reimport_publishes_nothing_new(
    settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "tangsel.csv"
    with path.open("w", newline="") as f:
        csv.writer(f).writerows([list(COLUMNS), *ROWS])

    code, out = await pbi(settings, "import", "deactivations", str(path))
    assert code == 0, out
    assert "3 deactivations published" in out and "2 rows rejected" in out
    report = list(csv.DictReader((tmp_path / "tangsel.csv.rejected.csv").open()))
    assert {(r["line"], r["field"]) for r in report} == {("3", "nik"), ("5", "deactivated_on")}
    assert "3674015708900000" not in (tmp_path / "tangsel.csv.rejected.csv").read_text()

    async with TopicReader(settings, settings.topic_prefix + PARTICIPANT_EVENTS.name) as topic:

        async def every_good_row() -> list[ParticipantDeactivated]:  # on several partitions: read in one poll or more
            found = await topic.wait_for(lambda e: isinstance(e, ParticipantDeactivated))
            return found if {e.nik for e in found} >= GOOD_NIKS else []

        events = await eventually(every_good_row)
        assert {e.nik for e in events} == GOOD_NIKS
        assert {(e.nik, e.phone_status) for e in events if e.phone is None} >= {("3674015708900002", "INVALID")}

        code, out = await pbi(settings, "import", "deactivations", str(path))
        assert code == 0, out
        assert "0 deactivations published, 3 already imported before" in out

        # The same rows in an Excel file map to the same events: nothing new either.
        wb = Workbook()
        for row in [list(COLUMNS), *ROWS]:
            wb.active.append(row)
        wb.save(tmp_path / "tangsel.xlsx")
        code, out = await pbi(settings, "import", "deactivations", str(tmp_path / "tangsel.xlsx"))
        assert code == 0 and "0 deactivations published, 3 already imported before" in out, out

        for _ in range(3):
            await topic.poll()
        assert len(topic.raw) == 3


async def test_facilities_cli_add_import_list(settings: Settings, tmp_path: Path) -> None:
    code, out = await pbi(settings, "facilities", "add", "3674R001", "RSUD Kota Tangerang Selatan")
    assert code == 0, out
    path = tmp_path / "faskes.csv"
    path.write_text("code,name\n3674R002,RS Permata Pamulang\n3674R001,RSUD Tangsel\n")
    code, out = await pbi(settings, "facilities", "import", str(path))
    assert code == 0 and "2 facilities registered" in out, out
    code, out = await pbi(settings, "facilities", "list")
    assert code == 0, out
    assert "3674R002" in out and "RS Permata Pamulang" in out and "RSUD Tangsel" in out  # renamed by the import
    assert "RSUD Kota Tangerang Selatan" not in out
    path.write_text("code,name\n,nameless\n")
    code, out = await pbi(settings, "facilities", "import", str(path))
    assert code == 2 and "line 2" in out, out
