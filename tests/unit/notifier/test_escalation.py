"""Escalation rules (pure): who is told (regency before province before the national default), on which
channel, one message per (request, state), what they read (Bahasa Indonesia, masked NIK) and what a
webhook gets; a contact that cannot be reached refuses the settings."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from pydantic import ValidationError

from services.notifier.domain.escalation import (
    SMS,
    WEBHOOK,
    WHATSAPP,
    Target,
    escalation_for,
    parse_target,
    target_for,
    text_for,
    webhook_body,
)
from services.notifier.settings import NotifierSettings
from shared.enums import SlaState
from shared.events import EmergencySlaChanged

T0 = dt.datetime(2026, 11, 24, 1, tzinfo=dt.UTC)
NIK = "3674015708900001"
RID = uuid.UUID("00000000-0000-4000-8000-000000000042")


def sla(state: str, nik: str = NIK, request_id: uuid.UUID = RID) -> EmergencySlaChanged:
    return EmergencySlaChanged(
        occurred_at=T0 + dt.timedelta(hours=12),
        source="eligibility",
        nik=nik,
        request_id=request_id,
        sla_state=state,  # type: ignore[arg-type]
        sla_deadline=T0 + dt.timedelta(hours=24),
        received_at=T0,
        facility_code="3674R001",
    )


@pytest.mark.parametrize(
    ("raw", "target"),
    [
        ("+6281234567890", Target(WHATSAPP, "+6281234567890")),
        ("081234567890", Target(WHATSAPP, "+6281234567890")),
        ("sms:081234567890", Target(SMS, "+6281234567890")),
        ("SMS:+6281234567890", Target(SMS, "+6281234567890")),
        ("https://ops.example.go.id/hooks/pbi", Target(WEBHOOK, "https://ops.example.go.id/hooks/pbi")),
    ],
)
def test_a_contact_names_its_channel(raw: str, target: Target) -> None:
    assert parse_target(raw) == target


@pytest.mark.parametrize("raw", ["0215551234", "sms:12", "ops@example.go.id", "ftp://x"])
def test_a_contact_nobody_can_be_reached_at_is_refused(raw: str) -> None:
    with pytest.raises(ValueError):
        parse_target(raw)


CONTACTS = {"36.74": "+6281100000001", "36": "sms:+6281100000002", "51": "https://bali.example/hook"}


@pytest.mark.parametrize(
    ("nik", "address"),
    [
        ("3674015708900001", "+6281100000001"),  # Kota Tangerang Selatan: its own on-call number
        ("3671015708900001", "+6281100000002"),  # Kota Tangerang: Banten's
        ("5171015708900001", "https://bali.example/hook"),
        ("9171015708900001", "+6281100000009"),  # nobody in Papua: the national default
    ],
)
def test_the_regency_before_the_province_before_the_national_default(nik: str, address: str) -> None:
    target = target_for(nik, CONTACTS, "+6281100000009")
    assert target is not None and target.address == address


def test_nobody_configured_is_nobody_told() -> None:
    assert target_for(NIK, {}, None) is None


@pytest.mark.parametrize(("state", "kind"), [("WARNING", "escalation_warning"), ("BREACHED", "escalation_breached")])
def test_warning_and_breach_escalate_once_per_request_and_state(state: str, kind: str) -> None:
    first, resent = escalation_for(sla(state)), escalation_for(sla(state))
    assert first is not None and resent is not None
    assert first.kind == kind and first.message_id == resent.message_id  # a new event id, the same message
    other_state = escalation_for(sla("BREACHED" if state == "WARNING" else "WARNING"))
    assert other_state is not None and other_state.message_id != first.message_id
    other_request = escalation_for(sla(state, request_id=uuid.uuid4()))
    assert other_request is not None and other_request.message_id != first.message_id


@pytest.mark.parametrize("state", ["OK", "MET", "CLOSED"])
def test_other_states_escalate_nothing(state: str) -> None:
    assert escalation_for(sla(state)) is None


def test_the_texts_name_the_request_where_and_the_deadline_never_the_whole_nik() -> None:
    warning, breached = text_for(sla("WARNING")), text_for(sla("BREACHED"))
    for text in (warning, breached):
        assert NIK not in text and "3674********0001" in text
        assert "Kota Tangerang Selatan" in text and "00000000" in text and "3674R001" in text
        assert "25-11-2026 08:00 WIB" in text  # the deadline in the patient's zone
        assert len(text) <= 306  # two SMS segments at most
    assert "12 jam" in warning and "TERLEWATI" in breached


def test_a_webhook_gets_json_with_the_nik_masked() -> None:
    escalation = escalation_for(sla("BREACHED"))
    assert escalation is not None
    body = json.loads(webhook_body(sla("BREACHED"), escalation.message_id))
    assert body["sla_state"] == "BREACHED" and body["nik"] == "3674********0001"
    assert body["escalation_id"] == str(escalation.message_id) and body["request_id"] == str(RID)
    assert body["region"] == {"province": "Banten", "regency": "Kota Tangerang Selatan"}
    assert NIK not in json.dumps(body)
    assert SlaState(body["sla_state"]) is SlaState.BREACHED


def test_settings_with_a_contact_nobody_can_reach_refuse_to_start() -> None:
    with pytest.raises(ValidationError):
        NotifierSettings(pbi_env="local", escalation_contacts={"36": "0215551234"})
    with pytest.raises(ValidationError):
        NotifierSettings(pbi_env="local", escalation_default="nobody")
    ok = NotifierSettings(pbi_env="local", escalation_contacts=CONTACTS, escalation_default="+6281100000009")
    assert ok.escalation_contacts == CONTACTS
