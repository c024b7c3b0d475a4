"""The bench's PostgreSQL figures (testkit.cpu) on a real server: the postmaster is the one PostgreSQL process
counted (its backends are its children), and a backend's CPU is told to the process whose connection it
served."""

from __future__ import annotations

import os

import asyncpg
import psutil
from sqlalchemy.engine import make_url

from testkit.cpu import backends_by_client, by_client_seconds, infrastructure_pids

BUSY = "select count(*) from generate_series(1, 3000000) as i where i % 7 = 3"  # about a CPU second, server side


async def test_a_backend_is_counted_once_and_told_to_its_client(database_url: str) -> None:
    conn = await asyncpg.connect(make_url(database_url).set(drivername="postgresql").render_as_string(False))
    try:
        backend = psutil.Process(await conn.fetchval("select pg_backend_pid()"))
        postmasters = infrastructure_pids()["postgresql"]
        assert backend.ppid() in postmasters
        assert backend.pid not in postmasters  # counted in its postmaster's tree, not beside it

        me = {os.getpid(): "this test"}
        before = backends_by_client(me)
        assert before[backend.pid][0] == "this test"
        await conn.fetchval(BUSY)
        used = by_client_seconds(before, backends_by_client(me))["this test"]
        assert used >= 0.1, used

        # The postmaster's tree holds the backend, so tree_cpu_seconds counts it once (tests/unit/testkit/test_cpu.py:
        # a listed descendant is not counted twice). Not compared as CPU totals: on a busy server other backends
        # end between two reads, and one exited but not yet reaped is in neither its own times nor its parent's.
        tree = {c.pid for pm in postmasters for c in psutil.Process(pm).children(recursive=True)}
        assert backend.pid in tree
    finally:
        await conn.close()
