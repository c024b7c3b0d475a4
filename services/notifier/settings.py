"""Notifier settings: provider endpoints and credentials. Endpoints default to the local simulator;
real credentials in the environment switch to the real providers with no code change. Credentials have
no default outside local development (PBI_ENV=local): unset or a placeholder refuses to start."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator

from shared.secrets import settle_secrets
from shared.settings import NotifierSettings as Base

# What the local simulator expects (tests, `make up`): used only in local mode.
LOCAL_SECRETS = {
    "whatsapp_token": "local-whatsapp-token",
    "whatsapp_app_secret": "local-whatsapp-app-secret",
    "whatsapp_verify_token": "local-verify-token",
    "twilio_auth_token": "local-twilio-auth-token",
}


class NotifierSettings(Base):
    whatsapp_api_base: str = "http://127.0.0.1:8090"
    whatsapp_api_version: str = "v21.0"
    whatsapp_phone_number_id: str = "100000000000001"
    whatsapp_token: SecretStr = SecretStr("")
    whatsapp_app_secret: SecretStr = SecretStr("")  # signs the webhooks (X-Hub-Signature-256)
    whatsapp_verify_token: SecretStr = SecretStr("")
    whatsapp_template: str = "pbi_pembaruan_status"
    twilio_api_base: str = "http://127.0.0.1:8090"
    twilio_account_sid: str = "AC00000000000000000000000000000000"
    twilio_auth_token: SecretStr = SecretStr("")  # also signs the webhooks (X-Twilio-Signature)
    twilio_from: str = "+15005550006"
    public_base_url: str = "http://127.0.0.1:8082"  # how providers reach our webhooks (Twilio signs this URL)
    provider_rate_per_s: float = 20.0
    max_attempts: int = 5
    provider_timeout_s: float = 10.0
    # On-call operations contacts for emergency escalations (12-hour WARNING, 24-hour BREACHED), by
    # Kemendagri code: the regency ("3674" or "36.74") before its province ("36") before the national
    # default. A contact is a WhatsApp number (SMS when WhatsApp refuses it), "sms:<number>", or an
    # https:// webhook URL (JSON POST; bearer token below). ESCALATION_CONTACTS is JSON.
    escalation_contacts: dict[str, str] = {}
    escalation_default: str = ""
    escalation_webhook_token: SecretStr = SecretStr("")
    # Answers to citizens' commands (CEK, MULAI, help) per number: at most this many per window, per
    # replica (in memory, `limits`); what passes the limit is recorded and not answered.
    inbound_replies_per_window: int = Field(5, ge=1)
    inbound_reply_window_s: int = Field(600, ge=1)

    @model_validator(mode="after")
    def _escalation_contacts_are_reachable(self) -> NotifierSettings:
        from services.notifier.domain.escalation import parse_target  # the rule lives with the domain

        for raw in (
            *self.escalation_contacts.values(),
            *([self.escalation_default] if self.escalation_default else []),
        ):
            parse_target(raw)  # a typo refuses to start rather than losing an escalation at 3 a.m.
        return self

    @model_validator(mode="after")
    def _provider_secrets_set_outside_local_mode(self) -> NotifierSettings:
        settle_secrets(self, self.pbi_env, LOCAL_SECRETS)
        return self
