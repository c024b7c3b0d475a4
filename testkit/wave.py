"""The deactivation wave the benchmarks and chaos runs post: people shaped like the Tangerang Selatan
list (pbi_cli.demo_data's generator, scaled), as `POST /v1/events` bodies."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from pbi_cli.demo_data import generate

TANGERANG_SELATAN_LIST = 20_990  # people on the list the generator is shaped after


def wave_events(n: int, seed: int, exclude: Collection[str] = frozenset()) -> list[dict[str, Any]]:
    """n deactivation events shaped like the Tangerang Selatan wave (scaled up, distinct NIKs, none in
    `exclude`); the same `seed` gives the same people."""
    day = generate(scale=n / TANGERANG_SELATAN_LIST * 1.01, seed=seed)
    people = [p for p in day.people if p.nik not in exclude][:n]
    if len(people) < n:
        raise RuntimeError(f"only {len(people):,} distinct people generated, {n:,} wanted")
    return [
        {
            "type": "participant.deactivated",
            "occurred_at": f"{p.deactivated_on}T08:00:00+07:00",
            "source": "SIKS-NG",
            "nik": p.nik,
            "deactivated_on": p.deactivated_on.isoformat(),
            "reason": "DESIL_ABOVE_5",
            "name": p.name,
            **({"phone": p.phone} if p.phone else {}),
            "region": {"province": "Banten", "regency": "Kota Tangerang Selatan", "district": p.district},
        }
        for p in people
    ]
