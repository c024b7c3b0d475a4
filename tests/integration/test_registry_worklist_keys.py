"""Worklist keys bound to a region, issued through the console script on real PostgreSQL: `pbi keys
issue --regency 36.74` binds the key to Kota Tangerang Selatan (and so to Banten), `--province 36` to
Banten; a code Kemendagri's list does not know, or a regency outside the province, is refused."""

from __future__ import annotations

import asyncio
import os
import subprocess

from shared.auth import ApiKeyStore
from shared.db import make_engine
from shared.settings import Settings
from testkit.system import PBI


async def pbi(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": settings.database_url, "PBI_ENV": "local", "COLUMNS": "200"}
    return await asyncio.to_thread(subprocess.run, [PBI, "keys", *args], env=env, capture_output=True, text=True)


async def test_the_cli_binds_a_worklist_key_to_a_regency_or_a_province(settings: Settings) -> None:
    engine = make_engine(settings)
    keys = ApiKeyStore(engine, settings.api_key_pepper.get_secret_value())
    try:
        scopes = ["--scopes", "worklist:read,worklist:write"]
        tangsel = await pbi(settings, "issue", "--name", "Dinsos Tangsel", *scopes, "--regency", "36.74")
        assert tangsel.returncode == 0, tangsel.stderr
        principal = await keys.authenticate(tangsel.stdout.strip().splitlines()[-1])
        assert principal is not None and (principal.province, principal.regency) == ("36", "3674")
        assert principal.region == ("Banten", "Kota Tangerang Selatan")
        assert principal.scopes == {"worklist:read", "worklist:write"}

        banten = await pbi(settings, "issue", "--name", "Dinsos Banten", *scopes, "--province", "36")
        principal = await keys.authenticate(banten.stdout.strip().splitlines()[-1])
        assert principal is not None and principal.region == ("Banten", None)

        unbound = await pbi(settings, "issue", "--name", "ops pusat", *scopes)
        principal = await keys.authenticate(unbound.stdout.strip().splitlines()[-1])
        assert principal is not None and principal.region == (None, None)

        for wrong in (["--regency", "3699"], ["--province", "51", "--regency", "3674"], ["--province", "Banten"]):
            refused = await pbi(settings, "issue", "--name", "x", *scopes, *wrong)
            assert refused.returncode == 2, (wrong, refused.stdout)
        listed = await pbi(settings, "list")
        assert "3674" in listed.stderr  # the table is for people: rich prints it on stderr
    finally:
        await engine.dispose()
