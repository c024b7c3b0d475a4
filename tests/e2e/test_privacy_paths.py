"""Issue 18 item 4 through the running system: `pbi privacy erase` leaves no name, phone or message text for
the NIK in any schema, and a later event with the number does not bring them back; the access log shows
the reads. (Runs before test_user_paths.py, whose last test scans every log of the run for NIKs and phones.)"""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import make_engine
from shared.settings import Settings
from testkit.keys import Keys
from testkit.personal_data import rows_holding
from testkit.polling import eventually
from testkit.system import PBI, RunningSystem

NIK = "3674015708900077"
NAME = "Dewi Sartika Rahayu"
PHONE = "081277770077"
DIGITS = "81277770077"  # the number in any format (08…, +628…)
SCHEMAS = ["registry", "eligibility", "notifier", "intake"]


def deactivated(days_ago: int) -> dict:
    today = dt.datetime.now(dt.UTC)
    return {
        "type": "participant.deactivated",
        "occurred_at": today.isoformat(),
        "source": "SIKS-NG",
        "nik": NIK,
        "deactivated_on": (today - dt.timedelta(days=days_ago)).date().isoformat(),
        "reason": "DESIL_ABOVE_5",
        "name": NAME,
        "phone": PHONE,
    }


async def tables_holding(engine: AsyncEngine, *needles: str) -> list[str]:
    """`schema.table` of every service row holding one of `needles` (once per row and needle)."""
    async with engine.connect() as conn:
        return [f.split(":")[0] for f in await rows_holding(conn, SCHEMAS, needles)]


async def test_pbi_privacy_erase_leaves_nothing_and_a_later_event_brings_nothing_back(
    system: RunningSystem, keys: Keys, http: httpx.AsyncClient
) -> None:
    writer, reader = await keys.issue("events:write"), await keys.issue("participants:read")
    officer = await keys.issue("privacy:admin")
    engine = make_engine(Settings(database_url=system.env["DATABASE_URL"]))
    try:
        r = await http.post(
            system.url("intake") + "/v1/events", json=deactivated(40), headers={"Authorization": f"Bearer {writer}"}
        )
        assert r.status_code == 202, r.text

        async def everywhere() -> bool:  # the registry, eligibility and the notifier (a message) have it
            places = {f.split(".")[0] for f in await tables_holding(engine, DIGITS)}
            return {"registry", "eligibility", "notifier"} <= places

        await eventually(everywhere, timeout=60, interval=0.5)
        seen = await http.get(
            system.url("registry") + f"/v1/participants/{NIK}", headers={"Authorization": f"Bearer {reader}"}
        )
        assert seen.status_code == 200

        done = await asyncio.to_thread(
            subprocess.run, [PBI, "privacy", "erase", NIK], env=system.env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert NIK not in done.stdout + done.stderr

        async def gone() -> bool:
            return not await tables_holding(engine, DIGITS, NAME)

        await eventually(gone, timeout=60, interval=0.5)

        # A newer list with the number: applied (the registry's history grows), the number stays out.
        later = deactivated(10)
        r = await http.post(
            system.url("intake") + "/v1/events", json=later, headers={"Authorization": f"Bearer {writer}"}
        )
        assert r.status_code == 202, r.text
        (event_id,) = r.json()["event_ids"]

        async def applied() -> bool:
            record = await http.get(
                system.url("registry") + f"/v1/participants/{NIK}", headers={"Authorization": f"Bearer {reader}"}
            )
            return any(h["event_id"] == event_id for h in record.json().get("history", []))

        await eventually(applied, timeout=60)
        assert await tables_holding(engine, DIGITS, NAME) == []

        log = await http.get(
            system.url("registry") + f"/v1/participants/{NIK}/access-log",
            headers={"Authorization": f"Bearer {officer}"},
        )
        assert log.status_code == 200
        assert reader.split("_")[1] in {r["key_id"] for r in log.json()["reads"]}
    finally:
        await engine.dispose()
