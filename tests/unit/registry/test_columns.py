"""How a registry batch's columns travel (shared/columns.py, which the notifier uses too): a text column
packed into one string comes back as it was, values PostgreSQL would split wrongly go as an array, a column
of one value travels once; the worklist's insert keeps its `held` rule whichever way each column went."""

from __future__ import annotations

import datetime as dt
import random
import uuid

from services.registry.store import RQ, H
from services.registry.worklist import _OPENED, _OPENING, _open
from shared.columns import ARRAY_, MICROS, ONE, PACKED, RS, US, columns, pack, pack_times
from shared.enums import ParticipantStatus as S

T0 = dt.datetime(2026, 11, 24, 1, tzinfo=dt.UTC)


def unpacked(packed: str) -> list[str | None]:
    """What `string_to_array(packed, chr(31), chr(30))` gives (PostgreSQL docs, Array Functions)."""
    return [None if v == RS else v for v in packed.split(US)] if packed else []


def test_packed_values_come_back_as_they_were() -> None:
    rng = random.Random(20)
    alphabet = ["", "a", "Tangerang Selatan", " ", ",", "{", '"', "\\", "NULL", "é"]
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
    assert pack(["a", f"b{US}c"]) is None and pack(["a", RS]) is None


def test_a_history_batch_sends_its_event_type_once_and_its_statuses_packed() -> None:
    ids = [uuid.uuid4(), uuid.uuid4()]
    batch = columns(
        H,
        {
            "nik": ["3674015708900001", "3674015708900002"],
            "event_id": ids,
            "event_type": ["reactivation.decided", "reactivation.decided"],
            "occurred_at": [T0, T0 + dt.timedelta(seconds=1)],
            "previous_status": [S.INACTIVE, None],
            "status": [S.REACTIVATION_PENDING, S.ACTIVE],
            "reasons": [("DESIL_UNKNOWN", "BIOMETRIC_MISSING"), ()],
        },
    )
    assert batch.modes == (PACKED, ARRAY_, ONE, MICROS, PACKED, PACKED, ARRAY_)
    micros = (T0 - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)
    assert batch.params["p3"] == f"{micros}{US}{micros + 1_000_000}"
    assert batch.params["p4"] == f"INACTIVE{US}{RS}" and batch.params["p5"] == f"REACTIVATION_PENDING{US}ACTIVE"
    assert batch.params["p6"] == [f"DESIL_UNKNOWN{US}BIOMETRIC_MISSING", ""] and batch.params["p1"] == ids


def test_a_request_batchs_empty_columns_travel_once_as_null() -> None:
    batch = columns(RQ, {"request_id": [uuid.uuid4(), uuid.uuid4()], "sla_state": [None, None], "reasons": [[], []]})
    assert batch.modes == (ARRAY_, ONE, ONE) and batch.params["p1"] is None and batch.params["p2"] == ""


def test_the_worklist_insert_keeps_held_items_of_finally_decided_requests_out_whichever_way() -> None:
    for modes in ((ARRAY_,) * len(_OPENED), (ARRAY_, ONE, PACKED, ARRAY_, ONE, ONE, ONE, ONE, ONE, ONE)):
        sql = str(_open(modes))
        assert sql.startswith(
            "insert into registry.worklist_items (item_id, kind, nik, request_id, province, regency, district, "
            "opened_at, due_at, state) select "
        )
        held = "u.c9" if modes[9] == ARRAY_ else "cast(:p9 as BOOLEAN)"
        assert f"where not ({held} and exists (select from registry.requests r where r.request_id = u.c3 " in sql
        assert sql.endswith("on conflict (item_id) do nothing returning kind")
    assert _OPENING.c["held"] is not None and "state" not in _OPENED


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
