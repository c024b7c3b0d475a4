"""SMS through Twilio's Messages API (form-encoded POST, basic auth).

Twilio's Messages API has no idempotency key, so our message id travels in the StatusCallback URL
(`?ref=`), which Twilio calls back (signed) with every status, and reconciliation after a crash
lists the messages sent to the number since the attempt (GET Messages.json?To=&DateSent>=) and
matches the body."""

from __future__ import annotations

import datetime as dt

import httpx

from services.notifier.providers import classify, transport_error
from services.notifier.settings import NotifierSettings


class TwilioSms:
    channel = "SMS"

    def __init__(self, settings: NotifierSettings, client: httpx.AsyncClient) -> None:
        self.s, self.client = settings, client

    @property
    def _messages_url(self) -> str:
        return f"{self.s.twilio_api_base}/2010-04-01/Accounts/{self.s.twilio_account_sid}/Messages.json"

    async def send(self, to: str, text: str, reference: str) -> str:
        form = {
            "To": to,
            "From": self.s.twilio_from,
            "Body": text,
            "StatusCallback": f"{self.s.public_base_url}/webhooks/twilio?ref={reference}",
        }
        try:
            r = await self.client.post(
                self._messages_url,
                data=form,
                auth=(self.s.twilio_account_sid, self.s.twilio_auth_token.get_secret_value()),
            )
        except httpx.TransportError as exc:
            raise transport_error(exc) from exc
        if r.status_code >= 300:
            raise classify(r.status_code, r.text)
        return str(r.json()["sid"])

    async def lookup(self, reference: str, to: str, text: str) -> str | None:
        since = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).date().isoformat()
        try:
            r = await self.client.get(
                self._messages_url,
                params={"To": to, "DateSent>": since, "PageSize": 50},
                auth=(self.s.twilio_account_sid, self.s.twilio_auth_token.get_secret_value()),
            )
        except httpx.TransportError:
            return None
        if r.status_code != 200:
            return None
        for message in r.json().get("messages", []):
            if message.get("body") == text and message.get("status") not in {"failed", "canceled"}:
                return str(message["sid"])
        return None
