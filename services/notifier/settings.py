"""Notifier settings: provider endpoints and credentials. Defaults point at the local simulator;
real credentials in the environment switch to the real providers with no code change."""

from __future__ import annotations

from pydantic import Field

from shared.settings import NotifierSettings as Base


class NotifierSettings(Base):
    whatsapp_api_base: str = "http://127.0.0.1:8090"
    whatsapp_api_version: str = "v21.0"
    whatsapp_phone_number_id: str = "100000000000001"
    whatsapp_token: str = "local-whatsapp-token"
    whatsapp_app_secret: str = "local-whatsapp-app-secret"
    whatsapp_verify_token: str = "local-verify-token"
    whatsapp_template: str = "pbi_pembaruan_status"
    twilio_api_base: str = "http://127.0.0.1:8090"
    twilio_account_sid: str = "AC00000000000000000000000000000000"
    twilio_auth_token: str = "local-twilio-auth-token"
    twilio_from: str = "+15005550006"
    public_base_url: str = "http://127.0.0.1:8082"  # how providers reach our webhooks (Twilio signs this URL)
    provider_rate_per_s: float = 20.0
    max_attempts: int = 5
    provider_timeout_s: float = 10.0
    # CPU priority next to the other services on a shared machine (niceness set by `pbi run`, 0 = equal):
    # messages wait for the providers' rate limits anyway, so they yield the CPU to decisions and
    # the registry during a wave. On their own pods (Kubernetes) it changes nothing.
    cpu_niceness: int = Field(5, ge=0, le=19)
