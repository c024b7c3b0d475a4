"""SMS through Twilio's Messages API (form-encoded POST, basic auth, idempotency token)."""

from __future__ import annotations

import httpx

from services.notifier.providers import TransientError, classify
from services.notifier.settings import NotifierSettings


class TwilioSms:
    channel = "SMS"

    def __init__(self, settings: NotifierSettings, client: httpx.AsyncClient) -> None:
        self.s, self.client = settings, client

    async def send(self, to: str, text: str, reference: str) -> str:
        url = f"{self.s.twilio_api_base}/2010-04-01/Accounts/{self.s.twilio_account_sid}/Messages.json"
        form = {
            "To": to,
            "From": self.s.twilio_from,
            "Body": text,
            "StatusCallback": f"{self.s.public_base_url}/webhooks/twilio",
        }
        try:
            r = await self.client.post(
                url,
                data=form,
                auth=(self.s.twilio_account_sid, self.s.twilio_auth_token),
                headers={"I-Twilio-Idempotency-Token": reference},
            )
        except httpx.TransportError as exc:
            raise TransientError(type(exc).__name__)
        if r.status_code >= 300:
            raise classify(r.status_code, r.text)
        return str(r.json()["sid"])

    async def lookup(self, reference: str) -> str | None:
        return None  # resending with the same idempotency token is safe instead
