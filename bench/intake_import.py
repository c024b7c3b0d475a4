"""Intake benchmarks: `pbi import deactivations` of a 20,990-row list (CSV and .xlsx; first import and
re-import) and one POST /v1/events batch of 10,000, on the local Kafka and PostgreSQL, in a throwaway
database with its own topic prefix.

    .venv/bin/python -m bench.intake_import [--rows 20990]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from openpyxl import Workbook

from pbi_cli.importer import COLUMNS
from services.intake.app import create_app
from shared.kafka import ensure_topics
from shared.settings import IntakeSettings, Settings
from testkit.infra import LOCAL_DATABASE, LOCAL_KAFKA, create_database, drop_database, new_run_prefix

REASONS = ("DESIL_ABOVE_5", "NO_BIOMETRIC", "ADMINDUK_OFFLINE", "NO_ID_SEMESTA", "NIK_CONFLICT")


def niks(n: int, rng: random.Random) -> list[str]:
    out: set[str] = set()
    while len(out) < n:
        birth = dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(0, 75 * 365))
        day = birth.day + (40 if rng.random() < 0.5 else 0)
        out.add(f"367401{day:02d}{birth.month:02d}{birth.year % 100:02d}{rng.randrange(1, 10000):04d}")
    return sorted(out)


def rows(n: int) -> list[list[str]]:
    rng = random.Random(2026)
    result = []
    for i, nik in enumerate(niks(n, rng)):
        row = [nik, f"Warga {i}", f"0812{rng.randrange(10**7, 10**8)}", "2026-11-01", rng.choice(REASONS), "APBN",
               "Banten", "Kota Tangerang Selatan", "Pamulang"]  # fmt: skip
        if i % 100 == 7:
            row[0] = nik[:-4] + "0000"  # 1 % malformed: serial 0000
        result.append(row)
    return result


async def pbi(settings: Settings, *args: str) -> tuple[float, str]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "TOPIC_PREFIX": settings.topic_prefix,
        "COLUMNS": "200",
    }
    t0 = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pbi_cli.main", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate()
    if proc.returncode:
        raise RuntimeError(out.decode())
    return time.perf_counter() - t0, out.decode().strip().splitlines()[-1]


async def post_batch(settings: Settings, n: int) -> float:
    app = create_app(IntakeSettings(**settings.model_dump()))
    async with app.router.lifespan_context(app):
        key = await app.state.api_keys.issue("bench", ["events:write"])
        batch = {
            "events": [
                {
                    "type": "participant.biometric_recorded",
                    "occurred_at": "2026-11-24T08:00:00Z",
                    "source": "BPJS",
                    "nik": nik,
                    "recorded_on": "2026-11-24",
                }
                for nik in niks(n, random.Random(7))
            ]
        }
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://intake", timeout=60
        ) as client:
            await client.post("/v1/events", json={**batch, "events": batch["events"][:2]},
                              headers={"Authorization": f"Bearer {key}"})  # fmt: skip  # warm-up
            t0 = time.perf_counter()
            r = await client.post("/v1/events", json=batch, headers={"Authorization": f"Bearer {key}"})
            elapsed = time.perf_counter() - t0
            assert r.status_code == 202 and r.json()["accepted"] == n, r.text[:300]
            return elapsed


async def main(n: int) -> None:
    name = f"pbi_b_{uuid.uuid4().hex[:12]}"
    url = await create_database(LOCAL_DATABASE, name)
    settings = Settings(
        kafka_bootstrap_servers=LOCAL_KAFKA, database_url=url, topic_prefix=new_run_prefix("import"), log_json=False
    )
    try:
        await ensure_topics(settings)
        with tempfile.TemporaryDirectory() as tmp:
            data = rows(n)
            csv_path = Path(tmp) / "tangsel.csv"
            with csv_path.open("w", newline="") as f:
                csv.writer(f).writerows([list(COLUMNS), *data])
            xlsx_path = Path(tmp) / "tangsel.xlsx"
            wb = Workbook(write_only=True)
            ws = wb.create_sheet()
            ws.append(list(COLUMNS))
            for r in data:
                ws.append(r)
            wb.save(xlsx_path)
            for label, path in (("csv first import", csv_path), ("csv re-import", csv_path),
                                ("xlsx re-import", xlsx_path)):  # fmt: skip
                seconds, summary = await pbi(settings, "import", "deactivations", str(path))
                print(f"{label:18} {n:,} rows: {seconds:6.2f} s  ({summary})")
        print(f"POST /v1/events 10,000-event batch (one Kafka transaction): {await post_batch(settings, 10_000):.2f} s")
    finally:
        await drop_database(LOCAL_DATABASE, name)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_990)
    asyncio.run(main(parser.parse_args().rows))
