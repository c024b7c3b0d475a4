"""PostgreSQL's statement log for a window of a benchmark (bench/emergency_cost.py): the SQL statements each
backend sent, which testkit.cpu.backends_by_client names by the process it served."""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import asyncpg

# A statement line of PostgreSQL's log with log_line_prefix '%m [%p] ' (the local server's): the backend's pid,
# then the statement (simple protocol) or the prepared statement executed (extended protocol: asyncpg's).
_STATEMENT = re.compile(r"\[(\d+)\] LOG:  (?:statement|execute [^:]*): (.*)")


def statements_by_backend(lines: Iterable[str]) -> Counter[tuple[int, str]]:
    """(backend pid, the statement's first 80 characters) -> how many times it was sent."""
    found: Counter[tuple[int, str]] = Counter()
    for line in lines:
        if m := _STATEMENT.search(line):
            found[int(m.group(1)), " ".join(m.group(2).split())[:80]] += 1
    return found


class StatementLog:
    """PostgreSQL's statement log for a window: on at `start`, off at `stop` (ALTER SYSTEM + reload, which
    every backend reads, pooled connections too), read from the server's log file where it stood at `start`."""

    def __init__(self, pg: asyncpg.Connection) -> None:
        self.pg, self.path, self.offset = pg, Path(), 0

    async def start(self) -> None:
        data = Path(await self.pg.fetchval("select current_setting('data_directory')"))
        self.path = data.parent / "postgres.log"  # deploy/local/postgres.sh: pg_ctl -l "$PGDATA/../postgres.log"
        if not os.access(self.path, os.R_OK):
            raise RuntimeError(f"cannot read PostgreSQL's log {self.path}: --statements needs make infra-up's server")
        self.offset = self.path.stat().st_size
        await self.pg.execute("alter system set log_statement = 'all'")
        # Statements only: their parameters (NIKs, numbers, even a test's) stay out of the server's log.
        await self.pg.execute("alter system set log_parameter_max_length = 0")
        await self.pg.execute("select pg_reload_conf()")

    async def stop(self) -> Counter[tuple[int, str]]:
        await self.pg.execute("alter system reset log_statement")
        await self.pg.execute("alter system reset log_parameter_max_length")
        await self.pg.execute("select pg_reload_conf()")
        with self.path.open(errors="replace") as log:
            log.seek(self.offset)
            return statements_by_backend(log)
