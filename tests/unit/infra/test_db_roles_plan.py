"""The role plan (shared/db_roles.py) as SQL: who owns what, who may check keys, nothing for PUBLIC.
The same plan runs on real PostgreSQL in tests/integration/test_db_roles.py."""

from __future__ import annotations

import re

import pytest

from shared.db_roles import Roles, passwords_from_env, statements


def plan() -> list[str]:
    return statements("pbi", Roles(), {"notifier": "it's-secret"})


def test_each_schema_is_owned_by_its_own_role() -> None:
    owned = dict(re.findall(r'^CREATE SCHEMA IF NOT EXISTS "(\w+)" AUTHORIZATION "(\w+)"$', "\n".join(plan()), re.M))
    assert owned == {
        "intake": "pbi_intake",
        "eligibility": "pbi_eligibility",
        "registry": "pbi_registry",
        "notifier": "pbi_notifier",
        "auth": "pbi_auth",
    }


def test_only_the_key_checkers_may_act_as_the_owner_of_the_api_keys() -> None:
    grants = [s for s in plan() if s.startswith("GRANT") and "pbi_auth" in s]
    assert grants == ['GRANT "pbi_auth" TO "pbi_intake", "pbi_registry"']
    assert not any("pbi_notifier" in s and "auth" in s for s in plan() if s.startswith("GRANT"))


def test_public_gets_nothing_and_the_auth_owner_cannot_log_in() -> None:
    sql = plan()
    assert 'REVOKE ALL ON DATABASE "pbi" FROM PUBLIC' in sql
    assert "REVOKE CREATE ON SCHEMA public FROM PUBLIC" in sql
    assert not any(s.startswith("GRANT") and "PUBLIC" in s for s in sql)
    assert any('CREATE ROLE "pbi_auth" NOLOGIN' in s for s in sql)


def test_passwords_come_from_the_environment_and_are_quoted() -> None:
    assert "ALTER ROLE \"pbi_notifier\" PASSWORD 'it''s-secret'" in plan()
    env = {"DB_PASSWORD_INTAKE": "a", "DB_PASSWORD_NOTIFIER": "", "DB_PASSWORD_AUTH": "x"}
    assert passwords_from_env(env) == {"intake": "a"}  # empty is unset; auth has no login


def test_a_strange_name_is_refused() -> None:
    with pytest.raises(ValueError, match="unexpected role or schema name"):
        statements('pbi"; drop table x; --', Roles())
