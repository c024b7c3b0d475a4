#!/usr/bin/env bash
# Local PostgreSQL for development and CI: Debian packages, our own cluster on 127.0.0.1:5432,
# trust auth for local use, database "pbi". Usage: postgres.sh start|stop|status. Idempotent.
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/common.sh"

HOST=127.0.0.1 PORT="${PGPORT:-5432}" DB=pbi
# The server refuses to run as root: as root the cluster belongs to the "postgres" user,
# in a directory that user can reach.
if [ "$(id -u)" = 0 ]; then PGDATA="${PBI_PG_DATA:-/var/lib/pbi/postgres}"; RUN_AS=postgres
else PGDATA="${PBI_PG_DATA:-$PBI_STATE_DIR/postgres}"; RUN_AS="$(id -un)"; fi
PGLOG="$PGDATA/../postgres.log"

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1; }
as_pg() { if [ "$(id -un)" = "$RUN_AS" ]; then "$@"; else runuser -u "$RUN_AS" -- "$@"; fi; }
psql_ok() { PGCONNECT_TIMEOUT=3 psql -h $HOST -p $PORT -U postgres -d postgres -Atqc "$1" 2>/dev/null; }

ensure_packages() {
  [ -n "$(pg_bin)" ] && command -v psql >/dev/null && return
  warn "PostgreSQL server not found"
  apt_install postgresql postgresql-contrib
  # Debian's package may have started its own "main" cluster; ours is the one the project manages.
  if command -v pg_lsclusters >/dev/null; then
    pg_lsclusters -h 2>/dev/null | awk '$4=="online"{print $1, $2}' | while read -r v c; do
      say "stopping Debian's default cluster $v/$c so the project's own cluster can use port $PORT"
      as_root pg_ctlcluster "$v" "$c" stop || true
    done
  fi
}

ensure_database() {
  if [ "$(psql_ok "select 1 from pg_database where datname='$DB'")" != 1 ]; then
    say "creating database $DB"
    psql_ok "create database $DB" >/dev/null || die "could not create database $DB"
  fi
}

# One role per service owning its schema (shared/db_roles.py, idempotent). Local services still connect as
# postgres (trust on 127.0.0.1); the roles make local schemas look like the cluster's, and the tests use them.
ensure_roles() {
  local py="$here/../../.venv/bin/python"
  if [ ! -x "$py" ]; then say "no .venv yet: database roles are set up by the next \`make infra-up\`"; return; fi
  (cd "$here/../.." && "$py" -m shared.db_roles --database-url "postgresql+asyncpg://postgres@$HOST:$PORT/$DB" >/dev/null) \
    || die "setting up the database roles failed (python -m shared.db_roles)"
}

start() {
  if port_open $HOST $PORT; then
    if [ "$(psql_ok 'select 1')" = 1 ]; then say "PostgreSQL already answering on $HOST:$PORT"; ensure_database; ensure_roles; return; fi
    die "port $PORT is taken by $(port_owner $PORT || echo 'another program'), which does not accept user postgres without a password. Stop it, or point DATABASE_URL at a database you can use."
  fi
  ensure_packages
  local bin; bin="$(pg_bin)"
  if [ ! -f "$PGDATA/PG_VERSION" ]; then
    say "initialising a PostgreSQL cluster in $PGDATA"
    mkdir -p "$PGDATA"; [ "$RUN_AS" = postgres ] && chown -R postgres:postgres "$(dirname "$PGDATA")"
    chmod 700 "$PGDATA"
    as_pg "$bin/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null \
      || die "initdb failed"
    cat >>"$PGDATA/postgresql.conf" <<CONF
# pbi-reactivation local settings
listen_addresses = '$HOST'
port = $PORT
unix_socket_directories = '$PGDATA'
max_connections = 300
shared_buffers = 256MB
synchronous_commit = on
CONF
  fi
  say "starting PostgreSQL on $HOST:$PORT (log: $PGLOG)"
  touch "$PGLOG"; [ "$RUN_AS" = postgres ] && chown postgres "$PGLOG"
  as_pg "$bin/pg_ctl" -D "$PGDATA" -l "$PGLOG" -w -t 60 start >/dev/null || { tail -n 20 "$PGLOG" >&2; die "PostgreSQL did not start (see $PGLOG)"; }
  ensure_database; ensure_roles
  say "PostgreSQL is up"
}

stop() {
  local bin; bin="$(pg_bin)"
  if [ -n "$bin" ] && [ -f "$PGDATA/postmaster.pid" ]; then
    say "stopping PostgreSQL ($PGDATA)"; as_pg "$bin/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null || true
  else say "PostgreSQL (project cluster) is not running"; fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if [ "$(psql_ok 'select 1')" = 1 ]; then echo "postgres: running on $HOST:$PORT"; else echo "postgres: stopped"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
