"""Escalation of an emergency's SLA to the on-call operations contact of its region (pure).

An emergency at its 12-hour WARNING and at BREACHED (24 h) is told to a person who can act: the contact
configured for the request's regency, else its province, else the national default. A contact is a
WhatsApp number (SMS when WhatsApp refuses it), `sms:<number>`, or an `https://` webhook URL that gets
the escalation as JSON. One message per (request, state) whatever is redelivered or re-fired: the
message id is derived from both. Urgent (quiet hours do not hold it); the NIK is masked in every text.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.enums import SlaState
from shared.events import EmergencySlaChanged
from shared.nik import mask_nik, parse_nik
from shared.phone import PhoneError, normalize_phone
from shared.timezones import zone_for_nik

WHATSAPP, SMS, WEBHOOK = "WHATSAPP", "SMS", "WEBHOOK"
ESCALATED = (SlaState.WARNING, SlaState.BREACHED)
KINDS = {SlaState.WARNING: "escalation_warning", SlaState.BREACHED: "escalation_breached"}
_NAMESPACE = uuid.UUID("3f0c2a71-5d8e-4b6f-9a1c-7e2d4b8f6a30")
_ZONE_NAMES = {7: "WIB", 8: "WITA", 9: "WIT"}


@dataclass(frozen=True)
class Target:
    channel: str  # WHATSAPP, SMS or WEBHOOK
    address: str  # E.164 number or URL


def parse_target(raw: str) -> Target:
    """`+62812…`/`0812…` (WhatsApp, SMS fallback), `sms:<number>`, `https://…` (webhook). ValueError else."""
    value = raw.strip()
    if value.startswith(("https://", "http://")):
        return Target(WEBHOOK, value)
    channel, number = (SMS, value[4:]) if value.lower().startswith("sms:") else (WHATSAPP, value)
    try:
        return Target(channel, normalize_phone(number))
    except PhoneError as exc:
        raise ValueError(f"escalation contact {raw[:6]}…: not a mobile number, sms:<number> or URL") from exc


def region_key(code: str) -> str:
    """'36.74' and '3674' name the same regency."""
    return code.replace(".", "").strip()


def target_for(nik: str, contacts: Mapping[str, str], default: str | None) -> Target | None:
    """The on-call contact for the NIK's region: regency first, then province, then the national default."""
    by_code = {region_key(k): v for k, v in contacts.items()}
    raw = by_code.get(nik[:4]) or by_code.get(nik[:2]) or default
    return parse_target(raw) if raw else None


@dataclass(frozen=True)
class Escalation:
    message_id: uuid.UUID
    kind: str
    state: SlaState


def escalation_for(e: EmergencySlaChanged) -> Escalation | None:
    if e.sla_state not in ESCALATED:
        return None
    return Escalation(uuid.uuid5(_NAMESPACE, f"{e.request_id}:{e.sla_state}"), KINDS[e.sla_state], e.sla_state)


def _local(nik: str, at: dt.datetime) -> str:
    local = at.astimezone(zone_for_nik(nik))
    offset = local.utcoffset() or dt.timedelta()
    return f"{local:%d-%m-%Y %H:%M} {_ZONE_NAMES.get(int(offset.total_seconds() // 3600), '')}".strip()


def text_for(e: EmergencySlaChanged) -> str:
    """What the on-call person reads (Bahasa Indonesia, one SMS or two): masked NIK, where, which request."""
    parts = parse_nik(e.nik)
    ref, where = str(e.request_id)[:8], parts.regency_name
    facility = f" Faskes {e.facility_code}." if e.facility_code else ""
    if e.sla_state is SlaState.BREACHED:
        return (
            f"PBI ESKALASI: batas 24 jam reaktivasi darurat TERLEWATI. Permintaan {ref}, NIK {mask_nik(e.nik)}, "
            f"{where}, batas {_local(e.nik, e.sla_deadline)}.{facility} Segera putuskan dan aktifkan."
        )
    return (
        f"PBI ESKALASI 12 jam: reaktivasi darurat belum diputus. Permintaan {ref}, NIK {mask_nik(e.nik)}, "
        f"{where}, batas {_local(e.nik, e.sla_deadline)}.{facility} Mohon tindak lanjut."
    )


def webhook_body(e: EmergencySlaChanged, message_id: uuid.UUID) -> str:
    """The JSON a webhook target receives (masked NIK; `escalation_id` repeats on a resend: de-duplicate on it)."""
    parts = parse_nik(e.nik)
    body: dict[str, Any] = {
        "escalation_id": str(message_id),
        "type": "emergency.sla_escalated",
        "sla_state": e.sla_state.value,
        "request_id": str(e.request_id),
        "nik": mask_nik(e.nik),
        "region": {"province": parts.province_name, "regency": parts.regency_name},
        "region_code": parts.regency_code,
        "facility_code": e.facility_code,
        "received_at": e.received_at.isoformat(),
        "sla_deadline": e.sla_deadline.isoformat(),
        "occurred_at": e.occurred_at.isoformat(),
    }
    return json.dumps(body, separators=(",", ":"))
