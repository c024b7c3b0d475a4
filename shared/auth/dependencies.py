"""FastAPI dependencies: 401 for a missing or unknown key, 403 for a key without the scope.

Behind shared.http_guard.FrontDoor the key was checked before the body was read and its principal
waits in the scope; without it (an app that does not mount the guard) the key is checked here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.auth.keys import ApiKeyStore, Principal
from shared.http_guard import PRINCIPAL

bearer = HTTPBearer(auto_error=False, description="API key issued with `pbi keys issue`")


async def current_principal(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)
) -> Principal:
    checked: Principal | None = request.scope.get(PRINCIPAL)
    if checked is not None:
        return checked
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            401, "missing API key (Authorization: Bearer <key>)", headers={"WWW-Authenticate": "Bearer"}
        )
    store: ApiKeyStore = request.app.state.api_keys
    principal = await store.authenticate(credentials.credentials)
    if principal is None:
        raise HTTPException(401, "unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"})
    return principal


def require_any_scope(*scopes: str) -> Callable[..., Awaitable[Principal]]:
    async def dependency(principal: Principal = Depends(current_principal)) -> Principal:
        if not principal.scopes & set(scopes):
            raise HTTPException(403, f"this key lacks the scope {' or '.join(scopes)}")
        return principal

    return dependency
