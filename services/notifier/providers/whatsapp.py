"""WhatsApp Business Cloud API: template messages (POST /{version}/{phone_number_id}/messages)."""

from __future__ import annotations

import httpx

from services.notifier.providers import classify, transport_error
from services.notifier.settings import NotifierSettings


class WhatsAppCloud:
    channel = "WHATSAPP"

    def __init__(self, settings: NotifierSettings, client: httpx.AsyncClient) -> None:
        self.s, self.client = settings, client
        # Made once: the URL (httpx parsed its text again at every message, a check of every character) and the
        # bearer header, about 0.1 of the 1.2-1.4 CPU ms a send costs the client (issue 20).
        path = f"/{settings.whatsapp_api_version}/{settings.whatsapp_phone_number_id}/messages"
        self._messages_url = httpx.URL(settings.whatsapp_api_base + path)
        self._auth = {"Authorization": f"Bearer {settings.whatsapp_token.get_secret_value()}"}

    async def send(self, to: str, text: str, reference: str) -> str:
        body = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to.lstrip("+"),
            "type": "template",
            "biz_opaque_callback_data": reference,
            "template": {
                "name": self.s.whatsapp_template,
                "language": {"code": "id"},
                "components": [{"type": "body", "parameters": [{"type": "text", "text": text}]}],
            },
        }
        try:
            r = await self.client.post(self._messages_url, json=body, headers=self._auth)
        except httpx.TransportError as exc:
            raise transport_error(exc) from exc
        if r.status_code >= 300:
            raise classify(r.status_code, r.text)
        return str(r.json()["messages"][0]["id"])

    async def lookup(self, reference: str, to: str, text: str) -> str | None:
        """The Cloud API cannot be asked by our reference: biz_opaque_callback_data only comes back on
        status webhooks, which api.py matches to the message (that also settles a send that timed out).
        So a message whose send was ambiguous and whose webhook never came is sent again (at least
        once). The local simulator can answer: services/notifier/simulator.py SimulatorWhatsApp."""
        return None
