"""One PostgreSQL role per service, each owning its own schema and nothing else.

    python -m shared.db_roles --database-url postgresql+asyncpg://admin@host:5432/pbi

- `pbi_intake`, `pbi_eligibility`, `pbi_registry`, `pbi_notifier` (LOGIN) own the schema of the same
  name: a service's startup migration runs as that owner (shared.db.migrate), its queries too, and it has
  no privilege on another service's schema.
- `pbi_auth` (NOLOGIN) owns `auth` (the API keys). Only the services that check keys (intake, registry)
  are members of it; the internet-facing notifier and eligibility cannot read `auth.api_keys`.
  A member migrating `auth` does so as `pbi_auth` (shared.db.migrate sets the role), so every key table
  keeps one owner.
- Nothing for PUBLIC: no CONNECT on the database, no CREATE in `public`.

Idempotent (run it at every deploy, as a pre-deploy Job): roles are created when missing, objects an
earlier version created as another user are handed to their schema's owner, and a password is (re)set
for each DB_PASSWORD_<SERVICE> variable given (rotation: docs/operations.md).
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.db import connect_options

SERVICES = ("intake", "eligibility", "registry", "notifier")
AUTH_SCHEMA = "auth"
KEY_CHECKERS = ("intake", "registry")  # the services with an API (shared.auth.ApiKeyStore on app.state)


@dataclass(frozen=True)
class Roles:
    prefix: str = "pbi_"  # tests use their own prefix: roles are shared by every database of a server

    def service(self, name: str) -> str:
        return f"{self.prefix}{name}"

    @property
    def auth_owner(self) -> str:
        return f"{self.prefix}{AUTH_SCHEMA}"

    def owners(self) -> dict[str, str]:
        """Schema -> owning role."""
        return {**{s: self.service(s) for s in SERVICES}, AUTH_SCHEMA: self.auth_owner}

    def logins(self) -> list[str]:
        return [self.service(s) for s in SERVICES]


def _ident(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"unexpected role or schema name {name!r}")
    return f'"{name}"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _create_role(role: str, login: bool) -> str:
    kind = "LOGIN" if login else "NOLOGIN"
    return (
        f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {_literal(role)}) "
        f"THEN CREATE ROLE {_ident(role)} {kind}; END IF; END $$"
    )


# Hands every table, view, sequence (not one a table owns: it follows its table) and enum type of a schema
# to the schema's owner, e.g. those that an earlier version's migrations created as the admin user.
_HAND_OVER = """
DO $$ DECLARE r record; BEGIN
  FOR r IN SELECT c.relname, c.relkind FROM pg_class c
           WHERE c.relnamespace = {schema_lit}::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
             AND c.relowner <> {owner_lit}::regrole
             AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                             AND d.deptype IN ('a', 'i'))
  LOOP
    EXECUTE format(CASE r.relkind WHEN 'm' THEN 'ALTER MATERIALIZED VIEW %I.%I OWNER TO %I'
                                  ELSE 'ALTER TABLE %I.%I OWNER TO %I' END, {schema_lit}, r.relname, {owner_lit});
  END LOOP;
  FOR r IN SELECT t.typname FROM pg_type t WHERE t.typnamespace = {schema_lit}::regnamespace
           AND t.typtype = 'e' AND t.typowner <> {owner_lit}::regrole
  LOOP
    EXECUTE format('ALTER TYPE %I.%I OWNER TO %I', {schema_lit}, r.typname, {owner_lit});
  END LOOP;
END $$
"""


def statements(database: str, roles: Roles = Roles(), passwords: Mapping[str, str] | None = None) -> list[str]:
    """The SQL that sets the roles up on `database` (pure: what apply() runs, in order)."""
    passwords = passwords or {}
    out = [_create_role(role, login=True) for role in roles.logins()]
    out.append(_create_role(roles.auth_owner, login=False))
    for service, password in sorted(passwords.items()):
        out.append(f"ALTER ROLE {_ident(roles.service(service))} PASSWORD {_literal(password)}")
    out.append(f"GRANT {_ident(roles.auth_owner)} TO {', '.join(_ident(roles.service(s)) for s in KEY_CHECKERS)}")
    db = _ident(database)
    out.append(f"REVOKE ALL ON DATABASE {db} FROM PUBLIC")
    out.append(f"GRANT CONNECT, TEMPORARY ON DATABASE {db} TO {', '.join(_ident(r) for r in roles.logins())}")
    out.append("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    for schema, owner in roles.owners().items():
        out.append(f"CREATE SCHEMA IF NOT EXISTS {_ident(schema)} AUTHORIZATION {_ident(owner)}")
        out.append(f"ALTER SCHEMA {_ident(schema)} OWNER TO {_ident(owner)}")
        out.append(f"REVOKE ALL ON SCHEMA {_ident(schema)} FROM PUBLIC")
        out.append(_HAND_OVER.format(schema_lit=_literal(schema), owner_lit=_literal(owner)))
    return out


async def apply(admin: AsyncEngine, roles: Roles = Roles(), passwords: Mapping[str, str] | None = None) -> None:
    """Run statements() on the admin engine's database, in one transaction, one deploy at a time."""
    async with admin.begin() as conn:
        await conn.execute(text("select pg_advisory_xact_lock(hashtext('pbi:db_roles'))"))
        database = await conn.scalar(text("select current_database()"))
        for statement in statements(str(database), roles, passwords):
            await conn.execute(text(statement))


def passwords_from_env(env: Mapping[str, str] = os.environ) -> dict[str, str]:
    return {s: env[f"DB_PASSWORD_{s.upper()}"] for s in SERVICES if env.get(f"DB_PASSWORD_{s.upper()}")}


async def _main(database_url: str, prefix: str) -> None:
    url, connect_args = connect_options(database_url)
    engine = create_async_engine(url, connect_args=connect_args, hide_parameters=True)
    try:
        await apply(engine, Roles(prefix), passwords_from_env())
    finally:
        await engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.db_roles", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", default=os.environ.get("DATABASE_ADMIN_URL") or os.environ.get("DATABASE_URL")
    )
    parser.add_argument("--prefix", default="pbi_")
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("--database-url (or DATABASE_ADMIN_URL) is required")
    asyncio.run(_main(args.database_url, args.prefix))
    print(f"roles ready on {make_url(args.database_url).render_as_string(hide_password=True)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
