"""shared.columns' packing, which the registry's and the notifier's bulk statements use (their own tests,
tests/unit/registry/test_columns.py and tests/unit/notifier/test_columns.py, hold how their batches travel): a
text column packed into one string comes back as it was, values PostgreSQL would split wrongly are not packed,
aware times travel as microseconds since the epoch, a look-up's texts are packed when they can be."""

from __future__ import annotations

import datetime as dt
import random

from sqlalchemy import Column, DateTime, MetaData, Table

from shared.columns import ARRAY_, RS, US, any_of, columns, pack, pack_times

T0 = dt.datetime(2026, 11, 24, 1, tzinfo=dt.UTC)
RQ = Table("requests", MetaData(), Column("received_at", DateTime(timezone=True)), schema="registry")


def unpacked(packed: str) -> list[str | None]:
    """What `string_to_array(packed, chr(31), chr(30))` gives (PostgreSQL docs, Array Functions)."""
    return [None if v == RS else v for v in packed.split(US)] if packed else []


def test_packed_values_come_back_as_they_were() -> None:
    rng = random.Random(13)
    alphabet = ["", "a", "+62812", "Tangerang Selatan", " ", ",", "{", '"', "\\", "NULL", "é"]
    for _ in range(2000):
        values = [
            None if rng.random() < 0.2 else "".join(rng.choices(alphabet, k=rng.randint(0, 3)))
            for _ in range(rng.randint(1, 5))
        ]
        packed = pack(values)
        if values == [""]:
            assert packed is None  # it would split into no element at all
        else:
            assert packed is not None and unpacked(packed) == values


def test_values_holding_the_separators_are_not_packed() -> None:
    assert pack(["a", f"b{US}c"]) is None
    assert pack(["a", RS]) is None  # it would come back NULL
    assert pack(["a", f"b{RS}"]) == f"a{US}b{RS}"  # only a value equal to RS reads as NULL


def test_times_travel_as_microseconds_since_the_epoch_unless_one_is_naive() -> None:
    wib = dt.timezone(dt.timedelta(hours=7))
    times = [
        T0,
        None,
        T0.astimezone(wib) + dt.timedelta(microseconds=7),
        dt.datetime(1969, 12, 31, 23, 59, tzinfo=dt.UTC),
    ]
    micros = (T0 - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)
    assert pack_times(times) == US.join([str(micros), RS, str(micros + 7), "-60000000"])
    assert pack_times([T0, T0.replace(tzinfo=None)]) is None
    assert columns(RQ, {"received_at": [T0, T0.replace(tzinfo=None)]}).modes == (ARRAY_,)


def test_a_look_up_packs_its_values_when_it_can() -> None:
    assert any_of(["+6281", "+6282"]) == (True, f"+6281{US}+6282")
    assert any_of([""]) == (False, [""]) and any_of(["a", f"b{US}"]) == (False, ["a", f"b{US}"])
