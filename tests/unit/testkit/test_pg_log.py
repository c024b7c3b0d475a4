"""Reading PostgreSQL's statement log (testkit/pg_log.py, for bench/emergency_cost.py): each statement once, by
the backend that sent it, whether sent as text or as a prepared statement executed."""

from __future__ import annotations

from testkit.pg_log import statements_by_backend

LOG = """\
2026-12-01 19:39:07.244 UTC [5391] LOG:  statement: BEGIN;
2026-12-01 19:39:07.245 UTC [5391] LOG:  execute __asyncpg_stmt_41__: SELECT registry.outbox.id,
\t registry.outbox.topic FROM registry.outbox
2026-12-01 19:39:07.245 UTC [5391] DETAIL:  parameters: $1 = '1', $2 = '1000'
2026-12-01 19:39:07.246 UTC [5391] LOG:  statement: COMMIT;
2026-12-01 19:39:07.447 UTC [6012] LOG:  statement: BEGIN;
2026-12-01 19:39:07.448 UTC [6012] LOG:  execute <unnamed>: select pg_advisory_xact_lock_shared($1)
2026-12-01 19:39:07.449 UTC [6012] LOG:  statement: COMMIT;
2026-12-01 19:39:07.450 UTC [6012] LOG:  statement: BEGIN;
2026-12-01 19:39:08.001 UTC [777] LOG:  checkpoint starting: time
"""


def test_statements_are_counted_per_backend_and_text_with_their_first_line() -> None:
    found = statements_by_backend(LOG.splitlines())
    assert found == {
        (5391, "BEGIN;"): 1,
        (5391, "SELECT registry.outbox.id,"): 1,
        (5391, "COMMIT;"): 1,
        (6012, "BEGIN;"): 2,
        (6012, "select pg_advisory_xact_lock_shared($1)"): 1,
        (6012, "COMMIT;"): 1,
    }


def test_a_long_statement_is_cut_to_80_characters_with_its_spaces_folded() -> None:
    line = "2026-12-01 19:39:07.448 UTC [1] LOG:  statement: select   " + "x, " * 60
    [(pid, text)] = statements_by_backend([line])
    assert pid == 1 and len(text) == 80 and "  " not in text
