"""testkit.chaos_scenarios.get_each: the chaos harness's reads. A read the loaded machine did not answer (a
connection error, 429, 5xx) is asked again, so the end-of-run recount does not count an unanswered GET as a lost
request or event; an answer (200, 404) is kept as it came, and a URL never answered comes back as None."""

from __future__ import annotations

from collections import Counter

import httpx

from testkit.chaos_scenarios import get_each


async def test_an_unanswered_read_is_asked_again_and_an_answer_is_kept() -> None:
    asked: Counter[str] = Counter()

    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        asked[path] += 1
        if path == "/busy" and asked[path] == 1:
            return httpx.Response(503)
        if path == "/cut" and asked[path] == 1:
            raise httpx.ConnectError("reset", request=request)
        if path == "/never":
            return httpx.Response(429)
        return httpx.Response(404 if path == "/unknown" else 200, json={"path": path})

    urls = {name: f"http://intake/{name}" for name in ("fine", "busy", "cut", "unknown", "never")}
    answers = await get_each(urls, {}, tries=3, pause_s=0, transport=httpx.MockTransport(answer))
    assert {k: r.status_code if r is not None else None for k, r in answers.items()} == {
        "fine": 200,
        "busy": 200,
        "cut": 200,
        "unknown": 404,  # an answer: the registry does not know the person
        "never": 429,  # still no answer after three tries: what the caller counts as missing
    }
    assert asked == {"/fine": 1, "/busy": 2, "/cut": 2, "/unknown": 1, "/never": 3}
