"""The benchmarks' and chaos runs' wave: n distinct people shaped like the Tangerang Selatan list, the same ones
for the same seed."""

from __future__ import annotations

from shared.events import participant_event_adapter
from shared.nik import parse_nik
from testkit.chaos import plan_wave
from testkit.wave import wave_events


def test_a_wave_has_n_distinct_valid_deactivations_of_tangerang_selatan() -> None:
    events = wave_events(300, seed=7)
    assert len(events) == len({e["nik"] for e in events}) == 300
    for e in events:
        assert e["type"] == "participant.deactivated"
        assert parse_nik(e["nik"]).regency_code == "3674"
        assert e["region"]["regency"] == "Kota Tangerang Selatan"
        participant_event_adapter.validate_python(e)  # what intake accepts
    assert 0.7 < sum("phone" in e for e in events) / len(events) < 0.95


def test_the_same_seed_gives_the_same_people_and_exclusion_gives_others() -> None:
    first = wave_events(100, seed=3)
    assert wave_events(100, seed=3) == first
    others = wave_events(100, seed=4, exclude={e["nik"] for e in first})
    assert len(others) == 100
    assert not {e["nik"] for e in others} & {e["nik"] for e in first}


def test_a_chaos_wave_asks_for_reactivation_for_three_people_in_ten_never_reusing_a_person() -> None:
    used: set[str] = set()
    wave = plan_wave(100, seed=11, used=used)
    kinds = [p.request for p in wave.people.values()]
    assert (kinds.count("EMERGENCY"), kinds.count("REGULAR"), kinds.count("CHRONIC")) == (10, 10, 10)
    assert len(wave.deactivations) == 100 and set(wave.people) == used
    # each regular request's desil and biometric facts ride in the wave, after the deactivations
    facts = wave.events[100:]
    fact_types = sorted(e["type"] for e in facts)
    assert fact_types == ["participant.biometric_recorded"] * 10 + ["participant.desil_updated"] * 10
    assert all(len(e["event_id"]) == 36 for e in wave.events)
    another = plan_wave(100, seed=12, used=used)
    assert another.people and not set(another.people) & set(wave.people)
