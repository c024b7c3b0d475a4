"""Keeps the request read model (GET /v1/reactivations/{id}, GET /v1/appeals/{id}) up to date from
decisions, SLA and appeal events. Idempotent and order-safe without an inbox: an event older than what the
row already reflects, or the one it reflects delivered again, changes and writes nothing (domain.read_model's
rules, uow.py's guards); uow.py writes a batch in a few set-based statements whatever its size. Events the
read model has no use for (window reminders on the timer topic) are passed over."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.intake.domain.read_model import changes
from services.intake.uow import PgUnitOfWork, ReadModelUnitOfWork
from shared.events import Event


class ReadModel:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession] | None,
        *,
        uow: Callable[[], ReadModelUnitOfWork] | None = None,  # PostgreSQL through `sessions` unless given
    ) -> None:
        assert sessions is not None or uow is not None
        self.uow: Callable[[], ReadModelUnitOfWork] = uow or (lambda: PgUnitOfWork(sessions))  # type: ignore[arg-type]

    async def on_events(self, events: list[Event]) -> None:
        async with self.uow() as uow:
            await uow.apply(changes(events))
