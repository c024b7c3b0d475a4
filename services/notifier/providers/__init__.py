"""Message providers behind one interface; add an Indonesian SMS gateway as one more file here."""

from __future__ import annotations

from typing import Protocol

import httpx
import sniffio  # noqa: F401 - pinned in pyproject.toml for httpcore, see below

# httpcore asks `import sniffio` at every lock and event it makes, several per request. sniffio no longer
# comes with anyio (4.x): then each ask was a failed import, a search of every path entry (65-150 us), some
# 1.4 ms of CPU per provider call or webhook callback (cProfile, issue 20). It is a dependency of the project
# now, imported here so that an environment without it fails at once instead of running slow.


class PermanentError(Exception):
    """The provider will never accept this (invalid number, not on WhatsApp): do not retry."""


class TransientError(Exception):
    """Timeout, 429 or 5xx: retry later. `ambiguous`: the request may have reached the provider
    (a read timeout), so ask the provider before sending again."""

    def __init__(self, message: str, ambiguous: bool = False) -> None:
        super().__init__(message)
        self.ambiguous = ambiguous


def transport_error(exc: Exception) -> TransientError:
    """No answer from the provider: a refused connection never reached it, a timeout may have."""
    reached = not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
    return TransientError(type(exc).__name__, ambiguous=reached)


class Provider(Protocol):
    channel: str

    async def send(self, to: str, text: str, reference: str) -> str:
        """Send `text` to E.164 number `to`; `reference` is our message id. Returns the provider's id."""
        ...

    async def lookup(self, reference: str, to: str, text: str) -> str | None:
        """The provider's id of a message we sent with `reference` (to `to`, saying `text`) if the
        provider has it; None when it does not or cannot tell (then the message is sent again)."""
        ...


def classify(status: int, body: str) -> Exception:
    if status == 429 or status >= 500:
        return TransientError(f"HTTP {status}: {body[:200]}")
    return PermanentError(f"HTTP {status}: {body[:200]}")
