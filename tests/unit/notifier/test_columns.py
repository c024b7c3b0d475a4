"""How a batch's columns travel (shared/columns.py): a text column packed into one string comes back
as it was, values PostgreSQL would split wrongly are sent as an array, a column of one value travels once."""

from __future__ import annotations

import random

from services.notifier.store import C, M
from shared.columns import ARRAY_, ONE, PACKED, RS, US, any_of, columns, pack


def unpacked(packed: str) -> list[str | None]:
    """What `string_to_array(packed, chr(31), chr(30))` gives (PostgreSQL docs, Array Functions)."""
    return [None if v == RS else v for v in packed.split(US)] if packed else []


def test_packed_values_come_back_as_they_were() -> None:
    rng = random.Random(13)
    alphabet = ["", "a", "+62812", " ", ",", "{", '"', "\\", "NULL", "é"]
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


def test_each_column_travels_as_its_values_allow() -> None:
    batch = columns(
        M,
        {
            "nik": ["3674015708900001", "3674015708900002"],
            "state": ["QUEUED", "QUEUED"],
            "text": ["Halo", f"free{US}text"],
            "phone": ["+6281", None],
        },
        keys=("nik",),
    )
    assert batch.modes == (PACKED, ONE, ARRAY_, PACKED)
    assert batch.params["p0"] == f"3674015708900001{US}3674015708900002" and batch.params["p1"] == "QUEUED"
    assert batch.params["p2"] == ["Halo", f"free{US}text"] and batch.params["p3"] == f"+6281{US}{RS}"
    people = columns(C, {"nik": ["1", "2"], "reasons": [("A", "B"), ("A", "B")], "follow_ups": [(), ("X",)]})
    assert people.modes == (PACKED, ONE, ARRAY_)
    assert people.params["p1"] == f"A{US}B" and people.params["p2"] == ["", "X"]


def test_a_look_up_packs_its_values_when_it_can() -> None:
    assert any_of(["+6281", "+6282"]) == (True, f"+6281{US}+6282")
    assert any_of([""]) == (False, [""]) and any_of(["a", f"b{US}"]) == (False, ["a", f"b{US}"])
