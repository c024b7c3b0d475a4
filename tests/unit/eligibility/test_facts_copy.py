"""Facts.but and Facts.of_row, the cheap copies a wave's folds and every batch's reads make, give what
dataclasses.replace and Facts(*row) give (equal, same hash, still frozen), and refuse unknown names."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from services.eligibility.domain.rules import FACT_NAMES, Facts

AT = dt.datetime(2026, 11, 1, 3, tzinfo=dt.UTC)
FACTS = Facts("3674015708000001", deactivated_on=dt.date(2026, 10, 1), desil=3, next_reminder_at=AT)


def test_but_is_replace() -> None:
    changes = {"reactivated": True, "reactivated_at": AT, "next_reminder_at": None}
    copy = FACTS.but(**changes)
    assert copy == dataclasses.replace(FACTS, **changes)
    assert hash(copy) == hash(dataclasses.replace(FACTS, **changes))
    assert FACTS.reactivated is False and FACTS.next_reminder_at == AT  # the original is untouched
    with pytest.raises(dataclasses.FrozenInstanceError):
        copy.desil = 4  # type: ignore[misc]


def test_but_refuses_an_unknown_field() -> None:
    with pytest.raises(TypeError, match="reactivated_on"):
        FACTS.but(reactivated_on=AT)


def test_of_row_is_the_constructor() -> None:
    row = tuple(getattr(FACTS, name) for name in FACT_NAMES)
    assert FACT_NAMES == tuple(f.name for f in dataclasses.fields(Facts))
    assert Facts.of_row(row) == Facts(*row) == FACTS
    assert hash(Facts.of_row(row)) == hash(FACTS)
    with pytest.raises(ValueError):
        Facts.of_row(row[:-1])
