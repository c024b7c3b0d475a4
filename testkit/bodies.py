"""JSON bodies a source system posts to intake's `POST /v1/events`, and the NIKs they name."""

from __future__ import annotations

import datetime as dt
from typing import Any

from testkit.events import NIK

TODAY = dt.datetime.now(dt.UTC)


def nik(serial: int, district: str = "01") -> str:
    """A distinct valid NIK of Kota Tangerang Selatan per serial (and district code)."""
    return f"3674{district}1708{90}{serial:04d}"


def deactivation(nik: str = NIK, **extra: Any) -> dict[str, Any]:
    """A deactivation dated 2026-11-01 (no phone unless given)."""
    return {
        "type": "participant.deactivated",
        "occurred_at": "2026-11-01T08:00:00+07:00",
        "source": "SIKS-NG",
        "nik": nik,
        "deactivated_on": "2026-11-01",
        "reason": "DESIL_ABOVE_5",
        **extra,
    }


def recent_deactivation(nik: str, days_ago: int = 30, phone: str | None = "081234500001") -> dict[str, Any]:
    """Deactivated `days_ago` days ago (the window closes after 180), reported now."""
    on = (TODAY - dt.timedelta(days=days_ago)).date().isoformat()
    return {
        "type": "participant.deactivated",
        "occurred_at": TODAY.isoformat(),
        "source": "SIKS-NG",
        "nik": nik,
        "deactivated_on": on,
        "reason": "DESIL_ABOVE_5",
        **({"phone": phone} if phone else {}),
    }


def fact(nik: str, type_: str, **fields: Any) -> dict[str, Any]:
    """Any other participant fact (`participant.desil_updated`, ...), reported now by DUKCAPIL."""
    return {"type": type_, "occurred_at": TODAY.isoformat(), "source": "DUKCAPIL", "nik": nik, **fields}
