"""Webhook signatures: WhatsApp's X-Hub-Signature-256 and Twilio's X-Twilio-Signature.

Both are checked on the raw request, before the body is parsed or even decoded: an unsigned or
wrongly signed request costs one HMAC and never reaches a parser. Twilio's algorithm is reproduced
as its own `twilio.request_validator.RequestValidator` computes it (tests/unit/notifier/
test_signatures.py compares the two on random URLs and forms): the form's keys sorted, each key's
distinct values sorted (a repeated key signs every value), appended to the URL, HMAC-SHA1, base64;
the URL is accepted with and without its port (`:443`/`:80` added, any port removed), because
Twilio's own signing is inconsistent about it. Working on bytes keeps a non-UTF-8 body from
failing before the signature says whether it deserves an answer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from urllib.parse import unquote_to_bytes, urlparse

Pairs = Mapping[str, str] | Iterable[tuple[str | bytes, str | bytes]]


def _bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape")


def form_pairs(body: bytes) -> list[tuple[bytes, bytes]]:
    """An application/x-www-form-urlencoded body as (key, value) bytes, repeated keys kept: parse_qsl's
    rules without its decoding (which fails on a byte that is not ASCII)."""
    pairs = []
    for field in body.split(b"&"):
        if field:
            key, _, value = field.partition(b"=")
            pairs.append((unquote_to_bytes(key.replace(b"+", b" ")), unquote_to_bytes(value.replace(b"+", b" "))))
    return pairs


def whatsapp_signature(app_secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def twilio_payload(url: str, params: Pairs) -> bytes:
    """What Twilio signs: the URL, then key+value for each key (sorted) and each of its distinct values (sorted).
    UTF-8 preserves code-point order, so sorting bytes sorts as Twilio sorts its strings."""
    pairs = params.items() if isinstance(params, Mapping) else params
    by_key: dict[bytes, set[bytes]] = {}
    for key, value in pairs:
        by_key.setdefault(_bytes(key), set()).add(_bytes(value))
    return _bytes(url) + b"".join(key + value for key in sorted(by_key) for value in sorted(by_key[key]))


def twilio_signature(auth_token: str, url: str, params: Pairs) -> str:
    digest = hmac.new(auth_token.encode(), twilio_payload(url, params), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def twilio_url_variants(url: str) -> tuple[str, str]:
    """The URL without any port and with the scheme's default port when it names none (as Twilio's
    RequestValidator tries both)."""
    parsed = urlparse(url)
    without = parsed._replace(netloc=parsed.netloc.split(":")[0]).geturl() if parsed.port else parsed.geturl()
    port = 443 if parsed.scheme == "https" else 80
    with_port = parsed.geturl() if parsed.port else parsed._replace(netloc=f"{parsed.netloc}:{port}").geturl()
    return without, with_port


def twilio_valid(auth_token: str, url: str, params: Pairs, given: str | None) -> bool:
    pairs = list(params.items() if isinstance(params, Mapping) else params)
    return any(valid(twilio_signature(auth_token, variant, pairs), given) for variant in twilio_url_variants(url))


def valid(expected: str, given: str | None) -> bool:
    """Constant-time comparison that answers False (never raises) for a header that is not ASCII:
    Starlette hands header bytes over as latin-1 text, and compare_digest refuses non-ASCII text."""
    if given is None:
        return False
    try:
        return hmac.compare_digest(expected.encode("ascii"), given.encode("ascii"))
    except UnicodeEncodeError:
        return False
