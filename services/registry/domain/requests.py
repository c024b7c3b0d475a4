"""The registry's request rows (the SLA board, requests per region), from the three topics that speak of a
request: the request itself, its decisions, its SLA states. Each only sets the fields it knows, in any
order relative to the others, and never moves a decision or an SLA state backwards: `merge` is the rule,
which store.py's PostgreSQL upserts state in SQL and its in-memory store applies as it is.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from shared.events import EmergencySlaChanged, ReactivationDecided, ReactivationRequested
from shared.sla import sla_rank

from .status import Participant, Region

Row = dict[str, Any]
Source = Literal["request", "decision", "sla"]


# Enum values read as `_value_`: `.value` is a Python-level property, several per event.


def request_row(e: ReactivationRequested, region: Region) -> Row:
    letter = e.documents.hospital_letter
    row = _row(e, region, e.path._value_, e.channel._value_, e.sla_deadline)
    row["facility_code"] = letter.facility_code if letter else None
    return row


def decision_row(e: ReactivationDecided, region: Region) -> Row:
    row = _row(e, region, e.path._value_, e.channel._value_, e.sla_deadline)
    row["status"], row["reasons"], row["decided_at"] = e.outcome._value_, [r._value_ for r in e.reasons], e.decided_at
    return row


def sla_row(e: EmergencySlaChanged | ReactivationDecided, region: Region, state: str) -> Row:
    # Only emergency requests have an SLA clock: path and channel are known from that alone.
    row = _row(e, region, "EMERGENCY", "HOSPITAL", e.sla_deadline)
    return {**row, "facility_code": getattr(e, "facility_code", None), "sla_state": state}


def _row(e: Any, region: Region, path: str, channel: str, deadline: dt.datetime | None) -> Row:
    province, regency, district = region
    return {
        "request_id": e.request_id,
        "nik": e.nik,
        "path": path,
        "channel": channel,
        "facility_code": None,
        "province": province,
        "regency": regency,
        "district": district,
        "status": "RECEIVED",
        "reasons": [],
        "received_at": e.received_at,
        "decided_at": None,
        "sla_deadline": deadline,
        "sla_state": "OK" if deadline else None,
    }


def merge(old: Row | None, new: Row, source: Source) -> Row:
    """The stored row after `new` from `source` meets `old` (None: the first word of this request)."""
    if old is None:
        return dict(new)
    if source == "request":
        return {
            **old,
            "path": new["path"],
            "channel": new["channel"],
            "facility_code": _first(new["facility_code"], old["facility_code"]),
            "received_at": new["received_at"],
            "sla_deadline": _first(old["sla_deadline"], new["sla_deadline"]),
            "sla_state": _first(old["sla_state"], new["sla_state"]),
        }
    if source == "decision":
        if old["decided_at"] is not None and old["decided_at"] > new["decided_at"]:
            return old
        return {**old, "status": new["status"], "reasons": new["reasons"], "decided_at": new["decided_at"]}
    if sla_rank(old["sla_state"]) > sla_rank(new["sla_state"]):
        return old
    facility = _first(old["facility_code"], new["facility_code"])
    return {**old, "sla_state": new["sla_state"], "sla_deadline": new["sla_deadline"], "facility_code": facility}


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def region_of(p: Participant | None, fallback: Region) -> Region:
    return (p.province, p.regency, p.district) if p else fallback
