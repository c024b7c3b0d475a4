"""How a registry batch's columns travel (shared/columns.py, which the notifier uses too): a text column
packed into one string comes back as it was, values PostgreSQL would split wrongly go as an array, a column
of one value travels once; the worklist's insert keeps its `held` rule whichever way each column went."""

from __future__ import annotations

import datetime as dt
import uuid

from services.registry.store import RQ, H
from services.registry.worklist import _OPENED, _OPENING, _open
from shared.columns import ARRAY_, MICROS, ONE, PACKED, RS, US, columns
from shared.enums import ParticipantStatus as S

T0 = dt.datetime(2026, 11, 24, 1, tzinfo=dt.UTC)


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
