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


@pytest.mark.parametrize("name", FACT_NAMES[1:])
def test_facts_are_equal_exactly_when_every_field_is(name: str) -> None:
    """Facts.__eq__ (the instances' dicts) says what the generated __eq__ said: one field apart is unequal,
    however the copies were made, and equal facts hash alike."""
    other = {"deactivated_on": dt.date(2026, 10, 2), "desil": 4, "next_reminder_at": None}.get(name, True)
    if name in ("desil_effective_on",):
        other = dt.date(2026, 9, 1)
    if name in ("id_semesta",):
        other = "ID-1"
    if name in ("reactivated_at",):
        other = AT
    apart = FACTS.but(**{name: other})
    assert apart != FACTS and not (apart == FACTS)
    row = tuple(getattr(apart, n) for n in FACT_NAMES)
    assert apart == Facts.of_row(row) == dataclasses.replace(FACTS, **{name: other})
    assert hash(apart) == hash(Facts.of_row(row))
    assert FACTS != (FACTS.nik,) and FACTS.__eq__(object()) is NotImplemented
