"""Webhook signatures: ours agree with Twilio's own RequestValidator (random URLs, forms, repeated keys,
port variants); the webhook endpoints answer 401/400, never 500, whatever the header or body; replies
older than 5 minutes are not acted on."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, quote_from_bytes, urlencode

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from services.notifier import api
from services.notifier.domain.messages import is_opt_out
from services.notifier.domain.webhooks import MalformedWebhook, Receipt, Reply, parse_whatsapp, to_act_on
from services.notifier.inbound import Inbound
from services.notifier.settings import NotifierSettings
from services.notifier.signatures import (
    form_pairs,
    twilio_signature,
    twilio_url_variants,
    twilio_valid,
    valid,
    whatsapp_signature,
)

TOKEN = "f0e1d2c3b4a5968778695a4b3c2d1e0f"


class MultiDict(dict[str, list[str]]):
    """A form with repeated keys, as Twilio's validator reads one (Flask/Werkzeug's getall)."""

    def getall(self, key: str) -> list[str]:
        return self[key]


_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=8)
_urls = st.builds(
    lambda scheme, host, port, path, query: f"{scheme}://{host}{port}/{path}{query}",
    st.sampled_from(["http", "https"]),
    st.from_regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z]{2,5}){0,2}", fullmatch=True),
    st.sampled_from(["", ":443", ":80", ":8082", ":1"]),
    st.from_regex(r"[a-z0-9/_-]{0,20}", fullmatch=True),
    st.one_of(st.just(""), st.builds(lambda q: "?" + urlencode(q), st.dictionaries(_text, _text, max_size=3))),
)
_forms = st.lists(st.tuples(st.sampled_from(["Body", "From", "To", "b", "B", "é", ""]) | _text, _text), max_size=8)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(url=_urls, pairs=_forms)
def test_our_twilio_signature_is_twilios_on_random_urls_and_forms_with_repeated_keys(
    url: str, pairs: list[tuple[str, str]]
) -> None:
    form = MultiDict()
    for key, value in pairs:
        form.setdefault(key, []).append(value)
    reference = RequestValidator(TOKEN)
    for variant in twilio_url_variants(url):
        theirs = reference.compute_signature(variant, form)
        assert twilio_signature(TOKEN, variant, pairs) == theirs
        # What Twilio accepts, we accept (with or without the port, as the body says), and the reverse.
        assert twilio_valid(TOKEN, url, pairs, theirs)
        assert reference.validate(url, form, theirs)
    # The same form as bytes pairs (how the endpoint reads it, before decoding) signs the same.
    as_bytes = [(k.encode(), v.encode()) for k, v in pairs]
    assert twilio_signature(TOKEN, url, as_bytes) == twilio_signature(TOKEN, url, pairs)
    assert not twilio_valid(TOKEN + "x", url, pairs, reference.compute_signature(url, form))


def test_the_default_port_variants_match_twilios_examples() -> None:
    assert twilio_url_variants("https://example.com/webhooks/twilio?ref=1") == (
        "https://example.com/webhooks/twilio?ref=1",
        "https://example.com:443/webhooks/twilio?ref=1",
    )
    assert twilio_url_variants("http://127.0.0.1:8082/webhooks/twilio")[0] == "http://127.0.0.1/webhooks/twilio"


@pytest.mark.parametrize("given_header", [None, "", "sha256=00", "sha256=\u00e9\u00ff", "\u00ff" * 71])
def test_valid_answers_false_and_never_raises(given_header: str | None) -> None:
    assert valid(whatsapp_signature("s", b"{}"), given_header) is False


# ---------- the endpoints ----------


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    applied: list[tuple[Any, ...]] = []

    async def record(request: Any, receipts: list[Any], replies: list[Any], provider: str) -> None:
        applied.append((provider, receipts, replies))

    monkeypatch.setattr(api, "_apply", record)
    app = FastAPI()
    app.include_router(api.router)
    app.state.settings = NotifierSettings(pbi_env="local", public_base_url="http://testserver")
    with TestClient(app, raise_server_exceptions=False) as c:
        c.applied = applied  # type: ignore[attr-defined]
        yield c


def _secret() -> str:
    return NotifierSettings(pbi_env="local").whatsapp_app_secret.get_secret_value()


def _twilio_token() -> str:
    return NotifierSettings(pbi_env="local").twilio_auth_token.get_secret_value()


_header_bytes = st.binary(max_size=80).filter(lambda b: b"\r" not in b and b"\n" not in b and b"\x00" not in b)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(signature=_header_bytes, body=st.binary(max_size=300))
def test_whatsapp_webhook_never_answers_500_to_any_signature_or_body(
    client: TestClient, signature: bytes, body: bytes
) -> None:
    r = client.post("/webhooks/whatsapp", content=body, headers={"X-Hub-Signature-256": signature.strip()})
    assert r.status_code == 401


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(signature=_header_bytes, body=st.binary(max_size=300))
def test_twilio_webhook_never_answers_500_to_any_signature_or_body(
    client: TestClient, signature: bytes, body: bytes
) -> None:
    headers = {"X-Twilio-Signature": signature.strip(), "Content-Type": "application/x-www-form-urlencoded"}
    r = client.post("/webhooks/twilio", content=body, headers=headers)
    assert r.status_code == 401


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    body=st.binary(max_size=300)
    | st.recursive(st.none() | st.integers() | _text, st.lists, max_leaves=5).map(
        lambda v: json.dumps({"entry": v}).encode()
    )
)
def test_a_correctly_signed_body_of_any_shape_is_400_or_accepted_never_500(client: TestClient, body: bytes) -> None:
    signature = whatsapp_signature(_secret(), body)
    r = client.post("/webhooks/whatsapp", content=body, headers={"X-Hub-Signature-256": signature})
    assert r.status_code in (200, 400), r.text


def test_non_ascii_signature_and_non_utf8_form_are_401_and_400_not_500(client: TestClient) -> None:
    form = b"Body=BERHENTI&From=%2B6281234567890&X=%FF%FE"  # not UTF-8 once decoded
    latin = "sha256=\u00e9t\u00e9".encode("latin-1")
    assert client.post("/webhooks/whatsapp", content=b"{}", headers={"X-Hub-Signature-256": latin}).status_code == 401
    headers = {"X-Twilio-Signature": "caf\u00e9".encode("latin-1"), "Content-Type": "application/x-www-form-urlencoded"}
    assert client.post("/webhooks/twilio", content=form, headers=headers).status_code == 401
    assert (
        client.get(
            "/webhooks/whatsapp", params={"hub.mode": "subscribe", "hub.verify_token": "\u00e9", "hub.challenge": "1"}
        ).status_code
        == 403
    )
    # Signed by someone holding the token (Twilio signs the bytes it sends): a clear 400, nothing applied.
    pairs = [(b"Body", b"BERHENTI"), (b"From", b"+6281234567890"), (b"X", b"\xff\xfe")]
    signed = twilio_signature(_twilio_token(), "http://testserver/webhooks/twilio", pairs)
    headers["X-Twilio-Signature"] = signed.encode()
    assert client.post("/webhooks/twilio", content=form, headers=headers).status_code == 400
    assert client.applied == []  # type: ignore[attr-defined]


def test_twilio_repeated_keys_and_the_443_variant_are_accepted(client: TestClient) -> None:
    form = [("Body", "STOP"), ("From", "+6281234567890"), ("MediaUrl", "b"), ("MediaUrl", "a")]
    signed = RequestValidator(_twilio_token()).compute_signature(
        "http://testserver:80/webhooks/twilio",
        MultiDict({"Body": ["STOP"], "From": ["+6281234567890"], "MediaUrl": ["b", "a"]}),
    )
    r = client.post(
        "/webhooks/twilio",
        content=urlencode(form).encode(),
        headers={"X-Twilio-Signature": signed, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200, r.text
    # No MessageSid: an inbound without an id (acted on if it is an opt-out, never answered: inbound.py).
    assert client.applied == [("SMS", [], [Inbound(None, "+6281234567890", "STOP", "SMS")])]  # type: ignore[attr-defined]


# ---------- replays ----------

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def _whatsapp(ts: dt.datetime, text: str) -> dict[str, Any]:
    stamp = str(int(ts.timestamp()))
    value = {
        "statuses": [{"id": "wamid.1", "status": "delivered", "timestamp": stamp}],
        "messages": [{"from": "6281234567890", "timestamp": stamp, "type": "text", "text": {"body": text}}],
    }
    return {"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value": value}]}]}


@pytest.mark.parametrize(
    ("age", "text", "acted_on"),
    [
        (dt.timedelta(seconds=10), "CEK", True),
        (dt.timedelta(minutes=5), "CEK", True),
        (dt.timedelta(minutes=5, seconds=1), "CEK", False),  # a replay (or too late to answer)
        (dt.timedelta(days=2), "MULAI", False),
        (dt.timedelta(days=2), "berhenti", True),  # stopping is honoured however late
        (-dt.timedelta(minutes=1), "CEK", True),  # the provider's clock a little ahead
    ],
)
def test_replies_older_than_five_minutes_are_not_acted_on(age: dt.timedelta, text: str, acted_on: bool) -> None:
    receipts, replies = parse_whatsapp(_whatsapp(NOW - age, text))
    kept, stale = to_act_on(replies, NOW, is_opt_out)
    assert (kept == replies) is acted_on and (stale == replies) is (not acted_on)
    # Receipts are applied whatever their age: the delivery state only moves forward.
    assert receipts == [Receipt("wamid.1", "DELIVERED", None, NOW.replace(microsecond=0) - age)]


@pytest.mark.parametrize(
    "payload",
    [
        [],
        {"entry": {"a": 1}},
        {"entry": [{"changes": [{"value": [1]}]}]},
        {"entry": [{"changes": [{"value": {"messages": [{}]}}]}]},
        {"entry": [{"changes": [{"value": {"statuses": [{"id": "x", "status": "read", "timestamp": "soon"}]}}]}]},
    ],
)
def test_malformed_signed_payloads_are_named(payload: Any) -> None:
    with pytest.raises(MalformedWebhook):
        parse_whatsapp(payload)


def test_a_stale_whatsapp_reply_is_ignored_end_to_end(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api, "_clock", lambda request: NOW)
    body = json.dumps(_whatsapp(NOW - dt.timedelta(hours=1), "MULAI")).encode()
    r = client.post(
        "/webhooks/whatsapp", content=body, headers={"X-Hub-Signature-256": whatsapp_signature(_secret(), body)}
    )
    assert r.status_code == 200
    ((provider, receipts, replies),) = client.applied  # type: ignore[attr-defined]
    assert provider == "WHATSAPP" and replies == [] and receipts == [("wamid.1", "DELIVERED", None)]
    assert Reply  # the parsed type, re-exported for readers of this test


@given(st.lists(st.tuples(_text, _text), max_size=6))
def test_form_pairs_reads_a_form_as_parse_qsl_does(pairs: list[tuple[str, str]]) -> None:
    body = urlencode(pairs).encode()
    assert [(k.decode(), v.decode()) for k, v in form_pairs(body)] == parse_qsl(body.decode(), keep_blank_values=True)


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    pairs=st.lists(
        st.tuples(
            st.sampled_from([b"Body", b"From", b"MessageSid", b"MessageStatus"]) | st.binary(max_size=6),
            st.binary(max_size=12),
        ),
        max_size=6,
    )
)
def test_a_correctly_signed_twilio_form_of_any_bytes_is_200_or_400_never_500(
    client: TestClient, pairs: list[tuple[bytes, bytes]]
) -> None:
    body = "&".join(f"{quote_from_bytes(k)}={quote_from_bytes(v)}" for k, v in pairs).encode()
    signature = twilio_signature(_twilio_token(), "http://testserver/webhooks/twilio", form_pairs(body))
    headers = {"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"}
    assert client.post("/webhooks/twilio", content=body, headers=headers).status_code in (200, 400)
