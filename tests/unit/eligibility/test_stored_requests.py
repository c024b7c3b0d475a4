"""New requests are stored (store.add_requests) as model_dump_json writes them, packed into one parameter, and
read back (store._requests) as the same requests."""

from __future__ import annotations

import json

from services.eligibility.domain.records import RequestRecord
from services.eligibility.store import _SEP, _events_json
from shared.events import ReactivationRequested
from tests.unit.eligibility.handler_cases import OTHER, T0, emergency, regular


def test_requests_are_stored_as_model_dump_json_writes_them_and_read_back_the_same() -> None:
    requests = [regular(), emergency(OTHER)]
    stored = _events_json([RequestRecord(r, "PENDING", (), T0, None) for r in requests]).split(_SEP)
    assert stored == [r.model_dump_json() for r in requests]
    assert [ReactivationRequested.model_validate(json.loads(s)) for s in stored] == requests
