"""The notifier handler's cases (handler_cases.py) against the unit of work in memory."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from services.notifier.domain.intents import OnFile
from services.notifier.domain.people import Person
from services.notifier.domain.standing import Standing
from services.notifier.uow import UnitOfWork
from services.notifier.uow_memory import MemoryStore, MemoryUnitOfWork
from tests.unit.notifier.handler_cases import NotifierHandlerCases


class InMemory:
    def __init__(self) -> None:
        self.store = MemoryStore()

    def uow(self) -> UnitOfWork:
        return MemoryUnitOfWork(self.store)

    async def given_contact(self, nik: str, contact: OnFile) -> None:
        held = self.store.people.get(nik)
        self.store.people[nik] = Person(contact, held.standing if held else Standing(nik))

    async def given_opt_out(self, phone: str) -> None:
        self.store.opt_outs[phone] = True

    async def given_erasure(self, nik: str, at: dt.datetime) -> None:
        self.store.erasures[nik] = at

    async def messages(self) -> list[dict[str, Any]]:
        return list(self.store.messages.values())

    async def standing(self, nik: str) -> Standing | None:
        return held.standing if (held := self.store.people.get(nik)) else None

    async def contact(self, nik: str) -> OnFile | None:
        return held.contact if (held := self.store.people.get(nik)) else None

    async def inbox(self) -> set[uuid.UUID]:
        return set(self.store.processed)


class TestInMemory(NotifierHandlerCases):
    @pytest.fixture
    def backend(self) -> InMemory:
        return InMemory()
