"""One database role per service, on real PostgreSQL (shared/db_roles.py): each service migrates and works
in its own schema as its own role; the key checkers (intake, registry) check API keys; the internet-facing
notifier cannot read auth.api_keys, nor another service's tables.

Roles belong to the whole server, so this test makes its own (a unique prefix) and drops them after.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from services.eligibility.store import MIGRATIONS as ELIGIBILITY_MIGRATIONS
from services.intake.store import MIGRATIONS as INTAKE_MIGRATIONS
from services.notifier.store import MIGRATIONS as NOTIFIER_MIGRATIONS
from services.registry.store import MIGRATIONS as REGISTRY_MIGRATIONS
from shared.auth import ApiKeyStore
from shared.db import migrate
from shared.db_roles import SERVICES, Roles, apply

MIGRATIONS = {
    "intake": INTAKE_MIGRATIONS,
    "eligibility": ELIGIBILITY_MIGRATIONS,
    "registry": REGISTRY_MIGRATIONS,
    "notifier": NOTIFIER_MIGRATIONS,
}
PEPPER = "test-pepper-for-role-checks"


@pytest.fixture
async def roles(database_url: str) -> AsyncIterator[Roles]:
    roles = Roles(prefix=f"t{uuid.uuid4().hex[:8]}_")
    admin = create_async_engine(database_url)
    yield roles
    names = ", ".join(f'"{r}"' for r in [*roles.logins(), roles.auth_owner])
    async with admin.begin() as conn:
        await conn.execute(text(f"drop owned by {names} cascade"))
        await conn.execute(text(f"drop role if exists {names}"))
    await admin.dispose()


PASSWORD = uuid.uuid4().hex  # set on every test role (a server that asks for passwords gets the right one)


def engine_as(database_url: str, role: str) -> AsyncEngine:
    return create_async_engine(make_url(database_url).set(username=role, password=PASSWORD))


@pytest.fixture
async def engines(database_url: str, roles: Roles) -> AsyncIterator[dict[str, AsyncEngine]]:
    admin = create_async_engine(database_url)
    await apply(admin, roles, {s: PASSWORD for s in SERVICES})
    await admin.dispose()
    made = {s: engine_as(database_url, roles.service(s)) for s in SERVICES}
    yield made
    for engine in made.values():
        await engine.dispose()


async def owners(database_url: str) -> dict[str, set[str]]:
    admin = create_async_engine(database_url)
    async with admin.connect() as conn:
        rows = await conn.execute(
            text(
                "select schemaname, tableowner from pg_tables "
                "where schemaname in ('intake', 'eligibility', 'registry', 'notifier', 'auth')"
            )
        )
        found: dict[str, set[str]] = {}
        for schema, owner in rows:
            found.setdefault(schema, set()).add(owner)
    await admin.dispose()
    return found


async def refused(engine: AsyncEngine, sql: str) -> bool:
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    except DBAPIError as exc:
        return "permission denied" in str(exc.orig)
    return False


async def test_each_service_migrates_its_own_schema_as_its_own_role(
    database_url: str, roles: Roles, engines: dict[str, AsyncEngine]
) -> None:
    for service, engine in engines.items():
        await migrate(engine, MIGRATIONS[service], service)
    for checker in ("intake", "registry"):  # both run the auth migrations at start-up (app.py)
        await ApiKeyStore(engines[checker], PEPPER).migrate()
    found = await owners(database_url)
    assert found == {**{s: {roles.service(s)} for s in SERVICES}, "auth": {roles.auth_owner}}


async def test_notifier_cannot_read_api_keys_while_intake_and_registry_check_them(
    roles: Roles, engines: dict[str, AsyncEngine]
) -> None:
    for service, engine in engines.items():
        await migrate(engine, MIGRATIONS[service], service)
    intake_keys = ApiKeyStore(engines["intake"], PEPPER)
    await intake_keys.migrate()
    key = await intake_keys.issue("puskesmas-test", ["participants:read"])

    assert await intake_keys.authenticate(key) is not None
    assert await ApiKeyStore(engines["registry"], PEPPER).authenticate(key) is not None

    assert await refused(engines["notifier"], "select * from auth.api_keys")
    assert await refused(engines["eligibility"], "select * from auth.api_keys")
    with pytest.raises(DBAPIError, match="permission denied"):
        await ApiKeyStore(engines["notifier"], PEPPER).authenticate(key)


async def test_a_service_role_cannot_touch_another_services_schema(engines: dict[str, AsyncEngine]) -> None:
    for service, engine in engines.items():
        await migrate(engine, MIGRATIONS[service], service)
    async with engines["registry"].connect() as conn:
        registry_table = await conn.scalar(
            text("select tablename from pg_tables where schemaname = 'registry' order by tablename limit 1")
        )
    assert await refused(engines["notifier"], f"select * from registry.{registry_table}")
    assert await refused(engines["intake"], f"delete from registry.{registry_table}")
    assert await refused(engines["notifier"], "create table registry.intruder (x int)")
    assert await refused(engines["notifier"], "create schema intruder")


async def test_setting_the_roles_up_again_is_harmless_and_hands_over_older_tables(
    database_url: str, roles: Roles
) -> None:
    admin = create_async_engine(database_url)
    # An installation from before the roles: the admin user migrated every schema and owns the tables.
    await migrate(admin, INTAKE_MIGRATIONS, "intake")
    await ApiKeyStore(admin, PEPPER).migrate()
    await apply(admin, roles, {s: PASSWORD for s in SERVICES})
    await apply(admin, roles, {s: PASSWORD for s in SERVICES})
    await admin.dispose()
    found = await owners(database_url)
    assert found["intake"] == {roles.service("intake")} and found["auth"] == {roles.auth_owner}
    intake = engine_as(database_url, roles.service("intake"))
    await migrate(intake, INTAKE_MIGRATIONS, "intake")  # at head, as its own role: nothing to do, no error
    await intake.dispose()
