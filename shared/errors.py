"""Which failures are worth waiting out (a dependency is briefly unreachable) and which are not.

A consumer (shared.kafka) retries a transient failure forever and dead-letters the records of any other
after a few attempts, so the line matters both ways: a deterministic failure called transient stalls its
partition for good (asyncpg's "the number of query arguments cannot exceed 32767", a client-side
InterfaceError, retried every few seconds for minutes on 2026-11-30), a lost connection called permanent
parks valid data. Transient is: the network or the operating system (OSError, timeouts), Kafka's retriable
errors, a database connection lost or not yet usable (SQLAlchemy's `connection_invalidated`, asyncpg's
ConnectionDoesNotExistError or "connection is closed", a standby where the primary was: a failover under
way, a pool with no free connection) and PostgreSQL's SQLSTATEs for the same (class 08, shutdown, cannot
connect now, too many connections) or for a conflict with another transaction (serialization failure,
deadlock, lock not available). Everything else, every other InterfaceError included, is not.
"""

from __future__ import annotations

# PostgreSQL SQLSTATEs (Appendix A) that say "the same statement may succeed later": class 08 (connection
# exception) is matched by its prefix, except 08P01: a protocol violation is the client's doing, and the same
# message violates it again (the server's answer to a malformed message, such as a bind that does not match).
NOT_TRANSIENT_SQLSTATES = frozenset({"08P01"})  # protocol_violation
TRANSIENT_SQLSTATES = frozenset(
    {
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
        "55P03",  # lock_not_available
        "53300",  # too_many_connections
        "57P01",  # admin_shutdown (pg_terminate_backend, a restart, a CloudNativePG switchover)
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now (starting up, in recovery)
    }
)
CONNECTION_CLOSED = "connection is closed"  # asyncpg's InterfaceError for a closed connection (as SQLAlchemy tests)


class TransientError(Exception):
    """Raise to say: retry later, the data is fine."""


def is_transient(exc: BaseException, _depth: int = 0) -> bool:
    """Whether `exc` (or what caused it, five links deep) says a dependency blinked rather than the data or the
    code being wrong: the same call may succeed unchanged later."""
    if getattr(getattr(exc, "orig", exc), "sqlstate", None) in NOT_TRANSIENT_SQLSTATES:
        return False  # even when the server then closed the connection (SQLAlchemy: connection_invalidated)
    if _is_transient_itself(exc):
        return True
    cause = exc.__cause__ or exc.__context__
    return cause is not None and _depth < 5 and is_transient(cause, _depth + 1)


def _is_transient_itself(exc: BaseException) -> bool:
    import asyncpg.exceptions as pg
    from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, NotLeaderForPartitionError
    from sqlalchemy import exc as sa

    # OSError covers ConnectionError (refused, reset), socket.gaierror (DNS) and TimeoutError (asyncio's too).
    if isinstance(exc, TransientError | OSError):
        return True
    if isinstance(exc, KafkaConnectionError | KafkaTimeoutError | NotLeaderForPartitionError):
        return True
    if getattr(exc, "retriable", False) is True:  # aiokafka marks retriable errors
        return True
    # SQLAlchemy: its dialect judged the connection lost; the pool had none free in time; a pool disconnect.
    if isinstance(exc, sa.DBAPIError):
        return exc.connection_invalidated or _sqlstate_is_transient(exc.orig)
    if isinstance(exc, sa.TimeoutError | sa.DisconnectionError):
        return True
    # asyncpg: the connection went away (08003), or the server is not yet the writable primary (a failover);
    # a statement cached before a migration elsewhere (asyncpg drops the cache, the next try prepares it again).
    if isinstance(exc, pg.ConnectionDoesNotExistError | pg.TargetServerAttributeNotMatched):
        return True
    if isinstance(exc, pg.InvalidCachedStatementError | pg.OutdatedSchemaCacheError):
        return True
    if isinstance(exc, pg.InterfaceError) and CONNECTION_CLOSED in str(exc):
        return True
    return _sqlstate_is_transient(exc)


def _sqlstate_is_transient(exc: object) -> bool:
    sqlstate = getattr(exc, "sqlstate", None)
    if not isinstance(sqlstate, str) or sqlstate in NOT_TRANSIENT_SQLSTATES:
        return False
    return sqlstate.startswith("08") or sqlstate in TRANSIENT_SQLSTATES
