"""A message's id and when it may go (domain/messages.py) are what they were before they were made cheaper:
the id is uuid.uuid5 of its event and kind (a redelivered event finds its row by it, whichever code wrote it),
and the end of quiet hours is computed per province as it was per NIK."""

from __future__ import annotations

import datetime as dt
import random
import uuid

from services.notifier.domain.messages import NAMESPACE, QUIET_END, QUIET_START, message_id, send_after
from shared.timezones import zone_for_nik


def test_a_message_id_is_the_uuid5_of_its_event_and_kind() -> None:
    for kind in ("deactivated", "pending", "received", "emergency_approved", "appeal_refused"):
        for _ in range(200):
            event_id = uuid.uuid4()
            made, expected = message_id(event_id, kind), uuid.uuid5(NAMESPACE, f"{event_id}:{kind}")
            assert made == expected and made.version == 5 and hash(made) == hash(expected)
            assert str(made) == str(expected) and made.bytes == expected.bytes and made.is_safe == expected.is_safe


def reference(nik: str, urgent: bool, now: dt.datetime) -> dt.datetime:
    """send_after as it was written before its per-province cache."""
    if urgent:
        return now
    local = now.astimezone(zone_for_nik(nik))
    if QUIET_END <= local.time() < QUIET_START:
        return now
    release = local.replace(hour=7, minute=0, second=0, microsecond=0)
    if local.time() >= QUIET_START:
        release += dt.timedelta(days=1)
    return release.astimezone(dt.UTC)


def test_the_end_of_quiet_hours_is_the_same_for_every_province_and_time() -> None:
    rng = random.Random(7)
    provinces = ["11", "31", "36", "51", "64", "73", "81", "94"]
    start = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
    for _ in range(3000):
        now = start + dt.timedelta(minutes=rng.randint(0, 3 * 24 * 60), microseconds=rng.randint(0, 999_999))
        nik = rng.choice(provinces) + f"{rng.randint(0, 10**14 - 1):014d}"
        urgent = rng.random() < 0.2
        assert send_after(nik, urgent, now) == reference(nik, urgent, now)
