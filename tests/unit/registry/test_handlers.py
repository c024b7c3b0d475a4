"""Pure parts of the registry's batch handler."""

from __future__ import annotations

import datetime as dt

from services.registry.handlers import _first_deliveries, region_from_nik
from shared.events import BiometricRecorded, DesilUpdated

NIK = "3674015708900001"
T0 = dt.datetime(2026, 9, 1, 8, tzinfo=dt.UTC)


def test_a_repeated_event_keeps_the_place_of_its_first_delivery() -> None:
    a = DesilUpdated(occurred_at=T0, source="DTSEN", nik=NIK, desil=4, effective_on=dt.date(2026, 9, 1))
    b = BiometricRecorded(occurred_at=T0, source="DUKCAPIL", nik=NIK, recorded_on=dt.date(2026, 9, 1))
    assert _first_deliveries([a, b, a, b, a]) == [a, b]


def test_region_comes_from_the_nik_names() -> None:
    assert region_from_nik(NIK) == ("Banten", "Kota Tangerang Selatan", "Serpong")
    assert region_from_nik("3674015708900002") == ("Banten", "Kota Tangerang Selatan", "Serpong")
