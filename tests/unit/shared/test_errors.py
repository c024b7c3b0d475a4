"""shared.errors.is_transient, class by class, on the exceptions as SQLAlchemy's asyncpg dialect raises them (the
asyncpg error, SQLAlchemy's adapted DBAPI error raised from it, SQLAlchemy's own error raised from that): what
a consumer may wait out forever (a dependency blinked) and what it must dead-letter after a few attempts (the same
call fails again, as asyncpg's 32,767-argument InterfaceError did on 2026-11-30)."""

from __future__ import annotations

import socket

import asyncpg.exceptions as pg
import pytest
from aiokafka import errors as kafka
from sqlalchemy import exc as sa
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg

from shared.errors import TransientError, is_transient
from shared.messaging import PublishFailed

DBAPI = PGDialect_asyncpg.import_dbapi()


def as_sqlalchemy_raises(error: Exception, *, invalidated: bool = False) -> BaseException:
    """`error` from asyncpg as it reaches a handler: translated by the dialect (the class its mapping picks,
    as _handle_exception does), then wrapped by SQLAlchemy with the dialect's is_disconnect verdict."""
    adapted_class = next(
        (DBAPI._asyncpg_error_translate[c] for c in type(error).__mro__ if c in DBAPI._asyncpg_error_translate),
        DBAPI.Error,
    )
    try:
        try:
            raise adapted_class(error.args[0] if error.args else "", error) from error
        except DBAPI.Error as adapted:
            raise sa.DBAPIError.instance(
                "insert ...", {}, adapted, DBAPI.Error, connection_invalidated=invalidated
            ) from adapted
    except sa.DBAPIError as raised:
        return raised


NOT_TRANSIENT = {
    "too many query arguments (asyncpg, client side)": as_sqlalchemy_raises(
        pg.InterfaceError("the number of query arguments cannot exceed 32767")
    ),
    "another operation in progress (a bug)": as_sqlalchemy_raises(
        pg.InterfaceError("cannot perform operation: another operation is in progress")
    ),
    "argument of the wrong type": as_sqlalchemy_raises(
        pg.DataError("invalid input for query argument $1: 'abc' ('str' object cannot be interpreted as an integer)")
    ),
    "unique violation": as_sqlalchemy_raises(pg.UniqueViolationError("duplicate key value")),
    "not-null violation": as_sqlalchemy_raises(pg.NotNullViolationError("null value in column")),
    "bad text for a type": as_sqlalchemy_raises(pg.InvalidTextRepresentationError("invalid input syntax")),
    "syntax error": as_sqlalchemy_raises(pg.PostgresSyntaxError('syntax error at or near ":"')),
    "statement too complex": as_sqlalchemy_raises(pg.StatementTooComplexError("stack depth limit exceeded")),
    "permission denied": as_sqlalchemy_raises(pg.InsufficientPrivilegeError("permission denied for table")),
    "protocol violation, connection then closed": as_sqlalchemy_raises(
        pg.ProtocolViolationError("bind message has 32767 parameter formats but 0 parameters"), invalidated=True
    ),
    "a value error (the data)": ValueError("bad data"),
    "a key error (the code)": KeyError("missing"),
    "a message too large for Kafka": kafka.MessageSizeTooLargeError(),
    "not authorised on a topic": kafka.TopicAuthorizationFailedError(),
}

TRANSIENT = {
    "connection invalidated by the dialect": as_sqlalchemy_raises(
        pg.InterfaceError("connection is closed"), invalidated=True
    ),
    "asyncpg 'connection is closed', not judged by SQLAlchemy": as_sqlalchemy_raises(
        pg.InterfaceError("connection is closed")
    ),
    "connection closed in the middle of an operation": as_sqlalchemy_raises(
        pg.ConnectionDoesNotExistError("connection was closed in the middle of operation")
    ),
    "terminated by an administrator (failover)": as_sqlalchemy_raises(pg.AdminShutdownError("terminating connection")),
    "server crashed": as_sqlalchemy_raises(pg.CrashShutdownError("terminating connection")),
    "server starting up": as_sqlalchemy_raises(pg.CannotConnectNowError("the database system is starting up")),
    "connection failure": as_sqlalchemy_raises(pg.ConnectionFailureError("connection failure")),
    "too many connections": as_sqlalchemy_raises(pg.TooManyConnectionsError("sorry, too many clients")),
    "serialization failure": as_sqlalchemy_raises(pg.SerializationError("could not serialize access")),
    "deadlock": as_sqlalchemy_raises(pg.DeadlockDetectedError("deadlock detected")),
    "lock not available": as_sqlalchemy_raises(pg.LockNotAvailableError("could not obtain lock")),
    "a standby where the primary was (failover)": as_sqlalchemy_raises(
        pg.TargetServerAttributeNotMatched("None of the hosts match the target attribute requirement")
    ),
    "a statement cached before a migration": as_sqlalchemy_raises(
        pg.InvalidCachedStatementError("cached statement plan is invalid")
    ),
    "no pooled connection free in time": sa.TimeoutError("QueuePool limit reached"),
    "connection refused": ConnectionRefusedError(),
    "connection reset": ConnectionResetError(),
    "name not resolved": socket.gaierror(-2, "Name or service not known"),
    "timeout": TimeoutError(),
    "the code's own TransientError": TransientError(),
    "Kafka unreachable": kafka.KafkaConnectionError(),
    "Kafka timeout": kafka.KafkaTimeoutError(),
    "Kafka leader moved": kafka.NotLeaderForPartitionError(),
    "Kafka retriable (not enough replicas)": kafka.NotEnoughReplicasError(),
}


@pytest.mark.parametrize("exc", NOT_TRANSIENT.values(), ids=NOT_TRANSIENT.keys())
def test_a_failure_that_repeats_with_the_same_input_is_not_transient(exc: BaseException) -> None:
    assert not is_transient(exc)


@pytest.mark.parametrize("exc", TRANSIENT.values(), ids=TRANSIENT.keys())
def test_a_dependency_that_blinked_is_transient(exc: BaseException) -> None:
    assert is_transient(exc)


def test_the_incidents_interface_error_is_sqlalchemys_interface_error_and_not_transient() -> None:
    exc = NOT_TRANSIENT["too many query arguments (asyncpg, client side)"]
    assert isinstance(exc, sa.InterfaceError) and not exc.connection_invalidated
    assert not is_transient(exc)


def test_a_transient_cause_makes_the_wrapper_transient() -> None:
    try:
        try:
            raise kafka.KafkaConnectionError()
        except kafka.KafkaConnectionError as cause:
            raise PublishFailed("3 of 3 records not acknowledged") from cause
    except PublishFailed as failed:
        assert is_transient(failed)
    wrapped = RuntimeError("outer")
    wrapped.__cause__ = NOT_TRANSIENT["unique violation"]
    assert not is_transient(wrapped)
