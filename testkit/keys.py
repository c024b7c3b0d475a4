"""API keys for a running system's database, issued as an operator would (`pbi keys issue`)."""

from __future__ import annotations

from shared.auth import ApiKeyStore
from shared.db import make_engine
from shared.settings import Settings


class Keys:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def issue(self, scopes: str, facility: list[str] | None = None, name: str = "e2e") -> str:
        """A new key with the comma-separated `scopes` (bound to `facility` codes when given)."""
        store = ApiKeyStore(make_engine(self.settings), self.settings.api_key_pepper.get_secret_value())
        await store.migrate()
        try:
            return await store.issue(name, scopes.split(","), facility)
        finally:
            await store.engine.dispose()
