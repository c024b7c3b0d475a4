"""Webhook signatures: WhatsApp's X-Hub-Signature-256 and Twilio's X-Twilio-Signature."""

from __future__ import annotations

import base64
import hashlib
import hmac


def whatsapp_signature(app_secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def twilio_signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    payload = url + "".join(k + params[k] for k in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()).decode()


def valid(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected, given)
