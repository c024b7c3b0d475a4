"""How a batch's columns travel (shared/columns.py): a text column packed into one string comes back
as it was, values PostgreSQL would split wrongly are sent as an array, a column of one value travels once."""

from __future__ import annotations

from services.notifier.store import C, M
from shared.columns import ARRAY_, ONE, PACKED, RS, US, columns


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
