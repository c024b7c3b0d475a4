"""DATABASE_URL's libpq TLS settings reach asyncpg (shared.db.connect_options): the cluster's
`sslmode=verify-full&sslrootcert=...` checks the server's certificate and name; a local URL is untouched."""

from __future__ import annotations

import ssl

import certifi

from shared.db import connect_options, make_engine
from shared.settings import Settings

CLUSTER = f"postgresql+asyncpg://pbi_notifier:pw@pg-rw.db:5432/pbi?sslmode=verify-full&sslrootcert={certifi.where()}"


def test_local_url_is_used_as_it_is() -> None:
    url = "postgresql+asyncpg://postgres@127.0.0.1:5432/pbi"
    assert connect_options(url) == (url, {})


def test_verify_full_checks_the_certificate_and_the_host_name() -> None:
    url, args = connect_options(CLUSTER)
    assert url == "postgresql+asyncpg://pbi_notifier:pw@pg-rw.db:5432/pbi"  # asyncpg would refuse `sslmode`
    context = args["ssl"]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname is True


def test_verify_ca_checks_the_certificate_only_and_require_is_passed_on() -> None:
    _, args = connect_options(CLUSTER.replace("verify-full", "verify-ca"))
    assert args["ssl"].verify_mode == ssl.CERT_REQUIRED and args["ssl"].check_hostname is False
    assert connect_options("postgresql+asyncpg://u@h/pbi?ssl=require")[1] == {"ssl": "require"}


def test_the_engine_gets_a_url_asyncpg_accepts() -> None:
    engine = make_engine(Settings(database_url=CLUSTER))
    assert "sslmode" not in str(engine.url)
    _, kwargs = engine.dialect.create_connect_args(engine.url)
    assert "sslmode" not in kwargs and "sslrootcert" not in kwargs
