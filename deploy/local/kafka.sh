#!/usr/bin/env bash
# Local Apache Kafka (KRaft, single broker+controller) from Maven Central jars.
# Usage: kafka.sh start|stop|status|config. Idempotent; data and logs live under $PBI_STATE_DIR/kafka.
# KAFKA_BROKERS=3 (any N > 1): a cluster of N nodes on other ports and data directories instead
# (deploy/local/kafka-cluster.sh: 127.0.0.1:19092-19094 by default); the single broker is left as it is.
# Two client listeners on 127.0.0.1: PLAINTEXT (9092, what `make up` uses) and SCRAM (9094, SASL_PLAINTEXT
# with SCRAM-SHA-512, the cluster's kind of login); its user's settings are written to $PBI_STATE_DIR/kafka/sasl.env.
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/common.sh"

KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/kafka/pom.xml")"
LIBS="$PBI_CACHE_DIR/kafka-$KAFKA_VERSION/libs"
DATA="$PBI_STATE_DIR/kafka/data"
LOG="$PBI_STATE_DIR/kafka/kafka.log"
PIDFILE="$PBI_STATE_DIR/kafka/kafka.pid"
TOOLS="$PBI_CACHE_DIR/kafka-$KAFKA_VERSION/tools"
HOST=127.0.0.1 PORT="${PBI_KAFKA_PORT:-9092}" CONTROLLER_PORT="${PBI_KAFKA_CONTROLLER_PORT:-9093}"
SASL_PORT="${PBI_KAFKA_SASL_PORT:-9094}" SCRAM_USER="${PBI_KAFKA_SCRAM_USER:-pbi-local}"
SASL_ENV="$PBI_STATE_DIR/kafka/sasl.env"
CONFIG="$PBI_STATE_DIR/kafka/server.properties"
mkdir -p "$PBI_STATE_DIR/kafka"

running_pid() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null && cat "$PIDFILE"; }

JAVA="${JAVA:-java}" MVN="${MVN:-mvn}"

ensure_java() {
  if ! command -v "$JAVA" >/dev/null; then warn "java not found"; apt_install openjdk-17-jre-headless; JAVA=java; fi
  local v; v="$("$JAVA" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1)"
  [ "${v:-0}" -ge 17 ] || die "Kafka $KAFKA_VERSION needs Java 17 or newer; found Java ${v:-unknown} at $(command -v "$JAVA")"
}

ensure_jars() {
  if [ -f "$LIBS/.complete" ]; then say "Kafka $KAFKA_VERSION jars cached in $LIBS"; return; fi
  command -v "$MVN" >/dev/null || { warn "mvn not found"; apt_install maven; MVN=mvn; }
  say "resolving Kafka $KAFKA_VERSION jars from Maven Central into $LIBS"
  rm -rf "$LIBS"
  if ! (cd "$here/kafka" && "$MVN" -q -B dependency:copy-dependencies -DoutputDirectory="$LIBS" >"$PBI_STATE_DIR/kafka/mvn.log" 2>&1); then
    tail -n 20 "$PBI_STATE_DIR/kafka/mvn.log" >&2
    die "Maven could not resolve the Kafka jars (offline, or Maven Central unreachable?). Full log: $PBI_STATE_DIR/kafka/mvn.log"
  fi
  touch "$LIBS/.complete"
}

# Run a Kafka class with the cached jars, a modest heap and the repo's logging config.
JAVA_ARGS=(-Xms"${KAFKA_HEAP:-1g}" -Xmx"${KAFKA_HEAP:-1g}" -XX:+UseG1GC -Djava.awt.headless=true
  -Dlog4j2.configurationFile="$here/kafka/log4j2.properties" -cp "$LIBS/*")
kjava() { "$JAVA" "${JAVA_ARGS[@]}" "$@"; }

# The repo's server.properties plus the machine-specific ports and data directory.
render_config() {
  sed -e "s/:9092/:$PORT/g" -e "s/:9093/:$CONTROLLER_PORT/g" -e "s/:9094/:$SASL_PORT/g" "$here/kafka/server.properties"
  echo "log.dirs=$DATA"
}
runtime_config() { render_config >"$CONFIG"; }

# The local SCRAM user's password: made once per machine, kept (mode 600) with the client settings that use it.
scram_password() {
  if [ ! -f "$SASL_ENV" ]; then
    local pw; pw="$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')"
    ( umask 077
      printf '%s\n' "# Settings of a client of the local SCRAM listener (written by deploy/local/kafka.sh)." \
        "KAFKA_BOOTSTRAP_SERVERS=$HOST:$SASL_PORT" "KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT" \
        "KAFKA_SASL_MECHANISM=SCRAM-SHA-512" "KAFKA_SASL_USERNAME=$SCRAM_USER" "KAFKA_SASL_PASSWORD=$pw" >"$SASL_ENV" )
  fi
  sed -n 's/^KAFKA_SASL_PASSWORD=//p' "$SASL_ENV"
}

# The data directory remembers the Kafka version that formatted it. Data of another version (the project
# moved to another Kafka, deploy/versions.toml) is local test data: it is deleted and formatted anew,
# since a broker cannot start on metadata written by a newer one.
VERSION_MARK="$DATA/.kafka-version"
forget_other_version() {
  [ -d "$DATA" ] || return 0
  [ "$(cat "$VERSION_MARK" 2>/dev/null)" = "$KAFKA_VERSION" ] && return
  warn "Kafka data in $DATA is not from Kafka $KAFKA_VERSION ($(cat "$VERSION_MARK" 2>/dev/null || echo 'version unknown')): deleting it (local test data)"
  rm -rf "$DATA"
}

format_storage() {
  forget_other_version
  [ -f "$DATA/meta.properties" ] && return
  say "formatting KRaft storage in $DATA (with the SCRAM user $SCRAM_USER)"
  mkdir -p "$DATA"
  local cluster_id; cluster_id="$(kjava kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1)"
  kjava kafka.tools.StorageTool format --standalone -t "$cluster_id" -c "$CONFIG" \
    --add-scram "SCRAM-SHA-512=[name=$SCRAM_USER,password=$(scram_password)]" >>"$LOG" 2>&1 \
    || { tail -n 20 "$LOG" >&2; die "formatting Kafka storage failed (see $LOG)"; }
  touch "$DATA/.scram-$SCRAM_USER"
  echo "$KAFKA_VERSION" >"$VERSION_MARK"
}

ensure_tools() {
  [ -f "$TOOLS/.complete" ] && return
  command -v "$MVN" >/dev/null || { warn "mvn not found"; apt_install maven; MVN=mvn; }
  say "resolving kafka-tools $KAFKA_VERSION from Maven Central into $TOOLS"
  rm -rf "$TOOLS"
  (cd "$here/kafka/tools" && "$MVN" -q -B dependency:copy-dependencies -Dkafka.version="$KAFKA_VERSION" \
    -DoutputDirectory="$TOOLS" >"$PBI_STATE_DIR/kafka/mvn-tools.log" 2>&1) \
    || die "Maven could not resolve kafka-tools (see $PBI_STATE_DIR/kafka/mvn-tools.log)"
  touch "$TOOLS/.complete"
}

# A broker formatted before the SCRAM listener existed has no SCRAM user: add it through the plaintext
# listener (kafka-configs --alter sets the same password again when run twice). The marker lives in the
# data directory, so `reset` (new data) formats with the user instead.
ensure_scram_user() {
  [ -f "$DATA/.scram-$SCRAM_USER" ] && return
  ensure_tools
  say "adding the SCRAM-SHA-512 user $SCRAM_USER to the running broker"
  "$JAVA" -Xmx256m -Dlog4j2.configurationFile="$here/kafka/tools-log4j2.properties" -cp "$LIBS/*:$TOOLS/*" \
    org.apache.kafka.tools.ConfigCommand --bootstrap-server "$HOST:$PORT" --alter --entity-type users \
    --entity-name "$SCRAM_USER" --add-config "SCRAM-SHA-512=[password=$(scram_password)]" >>"$LOG" 2>&1 \
    || { tail -n 20 "$LOG" >&2; die "adding the SCRAM user failed (see $LOG)"; }
  touch "$DATA/.scram-$SCRAM_USER"
}

start() {
  if pid="$(running_pid)"; then
    if [ -f "$CONFIG" ] && render_config | cmp -s - "$CONFIG"; then
      say "Kafka already running (pid $pid) on $HOST:$PORT"; ensure_java; ensure_scram_user
      # Not restarted behind the back of whoever uses it: the next start after a stop switches versions.
      [ "$(cat "$VERSION_MARK" 2>/dev/null)" = "$KAFKA_VERSION" ] \
        || warn "the running Kafka is not $KAFKA_VERSION (deploy/versions.toml): \`make infra-down infra-up\` switches"
      return
    fi
    # Started from an older server.properties (e.g. before the SCRAM listener): one restart applies it.
    say "server.properties changed since Kafka started: restarting it once"; stop
  fi
  ensure_java; ensure_jars
  for p in $PORT $CONTROLLER_PORT $SASL_PORT; do
    if port_open $HOST $p; then die "port $p is already taken by $(port_owner $p || echo 'another program') (not a Kafka started by this project). Stop it or free the port."; fi
  done
  runtime_config; format_storage
  rotate_log
  say "starting Kafka $KAFKA_VERSION on $HOST:$PORT, SCRAM on $HOST:$SASL_PORT (log: $LOG)"
  local seen=0; [ -f "$LOG" ] && seen="$(wc -c <"$LOG")"  # earlier runs' lines do not count
  ( trap '' HUP; exec "$JAVA" "${JAVA_ARGS[@]}" kafka.Kafka "$PBI_STATE_DIR/kafka/server.properties" ) >>"$LOG" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  wait_until_started "$seen"
}

# A broker that holds thousands of partitions (a machine that ran many test sessions), or that was killed and
# recovers its logs, takes minutes to start on a loaded machine: wait as long as it lives, up to
# KAFKA_START_TIMEOUT_S, and say what it is doing meanwhile.
wait_until_started() {
  local seen=$1 limit="${KAFKA_START_TIMEOUT_S:-600}" started=$SECONDS next_note=$((SECONDS + 15))
  while [ $((SECONDS - started)) -lt "$limit" ]; do
    if ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then tail -n 30 "$LOG" >&2; die "Kafka exited during start-up (see $LOG)"; fi
    if port_open $HOST $PORT && log_since "$seen" "Kafka Server started"; then
      say "Kafka is up after $((SECONDS - started)) s"; ensure_scram_user; return
    fi
    if [ "$SECONDS" -ge "$next_note" ]; then
      say "Kafka still starting after $((SECONDS - started)) s: $(loaded_logs "$seen") partition logs loaded so far"
      next_note=$((SECONDS + 15))
    fi
    sleep 0.5
  done
  die "Kafka did not start within $limit s (KAFKA_START_TIMEOUT_S; see $LOG)"
}
loaded_logs() { tail -c +"$(($1 + 1))" "$LOG" | grep -c "Completed load of Log" || true; }

# The broker writes its log to one file through the console; keep one earlier generation, not gigabytes.
rotate_log() {
  [ -f "$LOG" ] && [ "$(wc -c <"$LOG")" -gt $((200 * 1024 * 1024)) ] && mv -f "$LOG" "$LOG.1"
  return 0
}

stop() {
  if pid="$(running_pid)"; then
    say "stopping Kafka (pid $pid)"; kill "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && { warn "Kafka did not stop in 30 s, killing"; kill -9 "$pid"; }
  else say "Kafka is not running"; fi
  rm -f "$PIDFILE"
}

KAFKA_BROKERS="${KAFKA_BROKERS:-1}"
case "$KAFKA_BROKERS" in ''|*[!0-9]*|0) die "KAFKA_BROKERS must be a number of brokers (1, or 3 for a cluster): got '$KAFKA_BROKERS'" ;; esac
if [ "$KAFKA_BROKERS" -gt 1 ]; then . "$here/kafka-cluster.sh"; cluster_main "$@"; exit; fi

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  config) render_config ;;
  bootstrap) echo "$HOST:$PORT" ;;
  status) if pid="$(running_pid)"; then echo "kafka: running (pid $pid)"; else echo "kafka: stopped"; exit 1; fi ;;
  reset) stop; say "deleting Kafka data in $DATA"; rm -rf "$DATA" ;;
  *) echo "usage: $0 start|stop|status|reset|config|bootstrap" >&2; exit 2 ;;
esac
