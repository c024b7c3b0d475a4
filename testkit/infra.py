"""Where the tests' and benchmarks' Kafka and PostgreSQL come from, decided in this one place, and the
throwaway databases and topic prefixes a test, an end-to-end session, a benchmark or a chaos run works in.

`PBI_TEST_INFRA` chooses (the same variable tells `deploy/local/infra.sh` whether to start anything):
- `env`: KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL name running services (CI services, a shared cluster).
- `testcontainers`: start Kafka and PostgreSQL in Docker, configured like deploy/compose/compose.yaml.
- `local`: the ones `make infra-up` starts on 127.0.0.1 (the default on a machine without Docker).
Unset: `env` when either variable is set, else `local` when it answers, else `testcontainers` when a
Docker engine answers. Tests never know which.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Collection
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from testkit.system import free_port

LOCAL_KAFKA = "127.0.0.1:9092"
LOCAL_DATABASE = "postgresql+asyncpg://postgres@127.0.0.1:5432/pbi"
CHOICES = ("env", "testcontainers", "local")
COMPOSE_FILE = Path(__file__).resolve().parents[1] / "deploy" / "compose" / "compose.yaml"


@dataclass(frozen=True)
class Infra:
    kafka_bootstrap_servers: str
    database_url: str  # the admin database; tests create their own databases beside it
    how: str


def _docker_available() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _reachable(host_port: str) -> bool:
    host, port = host_port.split(",")[0].rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
        return True
    except OSError:
        return False


def chosen_infra(environ: dict[str, str] | os._Environ[str] = os.environ) -> str:
    """The source of Kafka and PostgreSQL for this run (see the module docstring)."""
    choice = environ.get("PBI_TEST_INFRA", "").strip().lower()
    if choice:
        if choice not in CHOICES:
            raise RuntimeError(f"PBI_TEST_INFRA={choice!r}: expected one of {', '.join(CHOICES)}")
        return choice
    if environ.get("KAFKA_BOOTSTRAP_SERVERS") or environ.get("DATABASE_URL"):
        return "env"
    if _reachable(LOCAL_KAFKA) and _reachable("127.0.0.1:5432"):
        return "local"
    return "testcontainers" if _docker_available() else "local"


def _compose_service(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE_FILE.read_text())["services"][name])


def kafka_container_config(host_port: int) -> tuple[str, dict[str, str]]:
    """Image and environment of a one-node KRaft broker: the compose file's settings, with the
    listener clients use advertised on `host_port` of this machine (bound 1:1 by the container)."""
    service = _compose_service("kafka")
    env = {k: str(v) for k, v in service["environment"].items()}
    env["KAFKA_LISTENERS"] = "PLAINTEXT://:9092,CONTROLLER://:9093,EXTERNAL://:29092"
    env["KAFKA_ADVERTISED_LISTENERS"] = f"PLAINTEXT://localhost:9092,EXTERNAL://localhost:{host_port}"
    env["KAFKA_CONTROLLER_QUORUM_VOTERS"] = f"{env['KAFKA_NODE_ID']}@localhost:9093"
    return str(service["image"]), env


def postgres_image() -> str:
    return str(_compose_service("postgres")["image"])


def _start_containers(stack: ExitStack) -> Infra:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy
    from testcontainers.postgres import PostgresContainer

    pg = stack.enter_context(PostgresContainer(postgres_image(), driver="asyncpg"))
    port = free_port()  # below the ephemeral range: a connection cannot take it before Docker binds it
    image, env = kafka_container_config(port)
    kafka = DockerContainer(image).with_envs(**env).with_bind_ports(29092, port)
    kafka = kafka.waiting_for(LogMessageWaitStrategy("Kafka Server started"))
    stack.enter_context(kafka)
    return Infra(f"127.0.0.1:{port}", pg.get_connection_url(), "testcontainers")


def start_infra(stack: ExitStack) -> Infra:
    how = chosen_infra()
    if how == "env":
        kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", LOCAL_KAFKA)
        return Infra(kafka, os.environ.get("DATABASE_URL", LOCAL_DATABASE), "environment")
    if how == "testcontainers":
        if not _docker_available():
            raise RuntimeError("PBI_TEST_INFRA=testcontainers needs a Docker engine (`docker info` failed)")
        return _start_containers(stack)
    for name, target in (("Kafka", LOCAL_KAFKA), ("PostgreSQL", "127.0.0.1:5432")):
        if not _reachable(target):
            raise RuntimeError(
                f"{name} is not reachable on {target}: run `make infra-up` (or `make test`, "
                "which starts it), set PBI_TEST_INFRA=env with KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL, "
                "or PBI_TEST_INFRA=testcontainers on a machine with Docker."
            )
    return Infra(LOCAL_KAFKA, LOCAL_DATABASE, "local")


# --- throwaway databases ------------------------------------------------------------------------


async def create_database(admin_url: str, name: str) -> str:
    """Creates database `name` beside the admin database; returns its URL."""
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'create database "{name}"'))
    finally:
        await engine.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


async def drop_database(admin_url: str, name: str) -> None:
    """Drops database `name`, disconnecting whoever still uses it."""
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'drop database if exists "{name}" with (force)'))
    finally:
        await engine.dispose()


# A database is given back empty: every schema but the system ones dropped. Only one that nothing else changed
# (the database's own privileges and settings, the public schema's privileges and contents) is kept for reuse.
_PLAIN = """
select d.datacl is null
   and not exists (select from pg_db_role_setting s where s.setdatabase = d.oid)
   and (select nspacl::text from pg_namespace where nspname = 'public') is not distinct from :public_acl
   and not exists (select from pg_class where relnamespace = 'public'::regnamespace)
   and not exists (select from pg_proc where pronamespace = 'public'::regnamespace)
   and not exists (select from pg_type where typnamespace = 'public'::regnamespace)
from pg_database d where d.datname = current_database()
"""
_PUBLIC_ACL = "select nspacl::text from pg_namespace where nspname = 'public'"
_END_OTHERS = (
    "select pg_terminate_backend(pid) from pg_stat_activity "
    "where datname = current_database() and pid <> pg_backend_pid()"
)
_DROP_SCHEMAS = """
do $$ declare s record; begin
  for s in select nspname from pg_namespace
           where nspname not in ('public', 'information_schema') and nspname not like 'pg\\_%'
  loop
    execute format('drop schema %I cascade', s.nspname);
  end loop;
end $$
"""


class DatabasePool:
    """Throwaway databases for one test session, each as empty as a new one whenever it is taken, but made
    once and reused: on PostgreSQL 15 every DROP DATABASE forces a checkpoint (seconds on a busy server, for
    everyone on it) and CREATE DATABASE copies the template, while dropping a used database's schemas takes a
    fraction of a second. Given back, a database is emptied (its connections ended, every non-system schema
    dropped); one whose privileges, settings or public schema a test changed is dropped instead. `close`
    drops them all. One pool per session and event loop; the databases' names are its own."""

    def __init__(self, admin_url: str, prefix: str = "pbi_t_") -> None:
        self.admin_url = admin_url
        self.prefix = prefix
        self.free: list[str] = []
        self.made: set[str] = set()
        self._public_acl: dict[str, str | None] = {}

    def url(self, name: str) -> str:
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    async def take(self) -> str:
        """The URL of an empty database nobody else uses until it is given back."""
        if self.free:
            return self.url(self.free.pop())
        name = f"{self.prefix}{uuid.uuid4().hex[:12]}"
        url = await create_database(self.admin_url, name)
        self.made.add(name)
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                self._public_acl[name] = await conn.scalar(text(_PUBLIC_ACL))
        finally:
            await engine.dispose()
        return url

    async def give_back(self, url: str) -> None:
        name = str(make_url(url).database)
        if name not in self.made:
            raise ValueError(f"database {name!r} is not this pool's")
        try:
            await self._empty(name)
        except Exception:  # noqa: BLE001 - not emptied: not reused
            await self._drop(name)
        else:
            self.free.append(name)

    async def _empty(self, name: str) -> None:
        engine = create_async_engine(self.url(name), isolation_level="AUTOCOMMIT", poolclass=NullPool)
        try:
            async with engine.connect() as conn:
                await conn.execute(text(_END_OTHERS))  # the test's leftover connections and their locks
                await conn.execute(text("set lock_timeout = '20s'"))
                plain = await conn.scalar(text(_PLAIN), {"public_acl": self._public_acl[name]})
                if not plain:
                    raise RuntimeError(f"database {name} was changed beyond its schemas")
                await conn.execute(text(_DROP_SCHEMAS))
        finally:
            await engine.dispose()

    async def _drop(self, name: str) -> None:
        self.made.discard(name)
        await drop_database(self.admin_url, name)

    async def close(self) -> None:
        self.free.clear()
        for name in sorted(self.made):
            await self._drop(name)


# --- topic prefixes and the sweep of leftovers ---------------------------------------------------------


def new_test_prefix(kind: str, now: float | None = None) -> str:
    """A topic prefix stamped with its creation time, so a sweep can tell an abandoned run's topics
    from those of a run going on beside this one (another `make test`, a helper's tests)."""
    return f"{kind}{_stamp(now)}{uuid.uuid4().hex[:8]}."


def new_run_prefix(kind: str, now: float | None = None) -> str:
    """The prefix of a benchmark's, chaos run's or demo's topics (`chaos-6b0d91471a2b3c4d.`): stamped too, and
    swept only once older than any such run could last (the run deletes them itself when it ends; a killed
    one leaves them to the sweep)."""
    return f"{kind}-{_stamp(now)}{uuid.uuid4().hex[:8]}."


def _stamp(now: float | None) -> str:
    return f"{int(time.time() if now is None else now):08x}"


# Prefixes of topics that tests, benchmarks and demos create; never the real topics. Stamped ones are swept once
# older than any run of their kind. Unstamped ones are shapes no code makes any longer (runs before the stamp
# existed): thousands of them made the shared broker take over a minute to start, and CI failed waiting for it.
# The random part is 8 hex digits (6 until 2026-12-02: 100 prefixes of one second collided once in CI32).
STAMPED_TEST_TOPIC = re.compile(r"^(?:t|e2e)([0-9a-f]{8})[0-9a-f]{6}(?:[0-9a-f]{2})?\.")
STAMPED_RUN_TOPIC = re.compile(r"^[a-z]+-([0-9a-f]{8})[0-9a-f]{6}(?:[0-9a-f]{2})?\.")
UNSTAMPED_TEST_TOPIC = re.compile(
    r"^(t[0-9a-f]{10}|e2e[0-9a-f]{8}|chaos[0-9a-f]{6}|pp[0-9a-f]{6}"  # tests before the stamp
    r"|[a-z]+-[0-9a-f]{8}|[0-9a-f]{8}|b[0-9a-f]{8}|bench(?:elig|reg)?[0-9a-f]{6}|rows[0-9a-f]{8}"  # benchmarks
    r"|[ck][0-9a-f]{6}|demo[0-9a-f]{6}|idle[0-9a-f]*|m[0-9a-f]{6})\."  # cluster tests, demos, old tests
)
LEFTOVER_AFTER_S = 3 * 3600
RUN_LEFTOVER_AFTER_S = 24 * 3600


def is_leftover_test_topic(name: str, now: float) -> bool:
    if stamped := STAMPED_TEST_TOPIC.match(name):
        return now - int(stamped.group(1), 16) > LEFTOVER_AFTER_S
    if stamped := STAMPED_RUN_TOPIC.match(name):
        return now - int(stamped.group(1), 16) > RUN_LEFTOVER_AFTER_S
    return bool(UNSTAMPED_TEST_TOPIC.match(name))


async def delete_topics(bootstrap: str, wanted: Callable[[str], bool]) -> None:
    """Deletes the topics `wanted` picks. Keeps the shared broker lean: thousands of leftover partitions
    make it slow to restart. Best effort: cleanup never fails a test or a run."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        await admin.start()
        names = [n for n in await admin.list_topics() if wanted(n)]
        for i in range(0, len(names), 200):
            await admin.delete_topics(names[i : i + 200])
    except Exception:  # noqa: BLE001 - cleanup is best effort
        pass
    finally:
        await admin.close()


async def delete_prefixed_topics(bootstrap: str, prefix: str) -> None:
    await delete_topics(bootstrap, lambda name: name.startswith(prefix))


async def wait_for_topics(bootstrap: str, names: Collection[str], timeout: float = 180) -> None:  # noqa: ASYNC109
    """Returns once the broker's metadata lists every topic of `names` with a leader for each partition. The
    controller answers a creation before the broker that serves clients has applied it: a fraction of a
    second on a quiet machine, tens of seconds on a busy one (several test runs creating and deleting
    topics at once), and a consumer started meanwhile gives up with UnknownTopicOrPartitionError."""
    if not names:
        return
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        deadline = time.monotonic() + timeout
        while True:
            described = await admin.describe_topics(list(names))
            missing = [t["topic"] for t in described if not _served(t)]
            if not missing:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{len(missing)} topics not served by the broker after {timeout:.0f} s: {missing[:3]}"
                )
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


def _served(topic: dict[str, Any]) -> bool:
    return topic["error_code"] == 0 and bool(topic["partitions"]) and all(p["leader"] >= 0 for p in topic["partitions"])
