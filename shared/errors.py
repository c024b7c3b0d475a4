"""Which failures are worth waiting out (a dependency is briefly unreachable) and which are not."""

from __future__ import annotations

import asyncio


class TransientError(Exception):
    """Raise to say: retry later, the data is fine."""


def is_transient(exc: BaseException, _depth: int = 0) -> bool:
    from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, NotLeaderForPartitionError
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    if isinstance(exc, TransientError | ConnectionError | TimeoutError | asyncio.TimeoutError | OSError):
        return True
    if isinstance(exc, KafkaConnectionError | KafkaTimeoutError | NotLeaderForPartitionError):
        return True
    if getattr(exc, "retriable", False):  # aiokafka marks retriable errors
        return True
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    # asyncpg: connection lost, server shutting down, serialization failure, deadlock.
    sqlstate = getattr(getattr(exc, "orig", exc), "sqlstate", None) or getattr(exc, "sqlstate", None)
    if isinstance(sqlstate, str) and (
        sqlstate.startswith("08") or sqlstate in {"40001", "40P01", "57P01", "57P02", "57P03"}
    ):
        return True
    cause = exc.__cause__ or exc.__context__
    return cause is not None and _depth < 5 and is_transient(cause, _depth + 1)
