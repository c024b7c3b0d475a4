#!/usr/bin/env bash
# Local Apache Kafka (KRaft, single broker+controller) from Maven Central jars.
# Usage: kafka.sh start|stop|status. Idempotent; data and logs live under $PBI_STATE_DIR/kafka.
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/common.sh"

KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/kafka/pom.xml")"
LIBS="$PBI_CACHE_DIR/kafka-$KAFKA_VERSION/libs"
DATA="$PBI_STATE_DIR/kafka/data"
LOG="$PBI_STATE_DIR/kafka/kafka.log"
PIDFILE="$PBI_STATE_DIR/kafka/kafka.pid"
HOST=127.0.0.1 PORT="${PBI_KAFKA_PORT:-9092}" CONTROLLER_PORT="${PBI_KAFKA_CONTROLLER_PORT:-9093}"
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

# The repo's server.properties plus the machine-specific data directory.
runtime_config() {
  { sed -e "s/:9092/:$PORT/g" -e "s/:9093/:$CONTROLLER_PORT/g" "$here/kafka/server.properties"
    echo "log.dirs=$DATA"; } >"$PBI_STATE_DIR/kafka/server.properties"
}

format_storage() {
  [ -f "$DATA/meta.properties" ] && return
  say "formatting KRaft storage in $DATA"
  mkdir -p "$DATA"
  local cluster_id; cluster_id="$(kjava kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1)"
  kjava kafka.tools.StorageTool format --standalone -t "$cluster_id" \
    -c "$PBI_STATE_DIR/kafka/server.properties" >>"$LOG" 2>&1 \
    || { tail -n 20 "$LOG" >&2; die "formatting Kafka storage failed (see $LOG)"; }
}

start() {
  if pid="$(running_pid)"; then say "Kafka already running (pid $pid) on $HOST:$PORT"; return; fi
  ensure_java; ensure_jars
  for p in $PORT $CONTROLLER_PORT; do
    if port_open $HOST $p; then die "port $p is already taken by $(port_owner $p || echo 'another program') (not a Kafka started by this project). Stop it or free the port."; fi
  done
  runtime_config; format_storage
  say "starting Kafka $KAFKA_VERSION on $HOST:$PORT (log: $LOG)"
  ( trap '' HUP; exec "$JAVA" "${JAVA_ARGS[@]}" kafka.Kafka "$PBI_STATE_DIR/kafka/server.properties" ) >>"$LOG" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 120); do
    if ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then tail -n 30 "$LOG" >&2; die "Kafka exited during start-up (see $LOG)"; fi
    if port_open $HOST $PORT && grep -q "Kafka Server started" "$LOG"; then say "Kafka is up"; return; fi
    sleep 0.5
  done
  die "Kafka did not open $HOST:$PORT within 60 s (see $LOG)"
}

stop() {
  if pid="$(running_pid)"; then
    say "stopping Kafka (pid $pid)"; kill "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && { warn "Kafka did not stop in 30 s, killing"; kill -9 "$pid"; }
  else say "Kafka is not running"; fi
  rm -f "$PIDFILE"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if pid="$(running_pid)"; then echo "kafka: running (pid $pid)"; else echo "kafka: stopped"; exit 1; fi ;;
  reset) stop; say "deleting Kafka data in $DATA"; rm -rf "$DATA" ;;
  *) echo "usage: $0 start|stop|status|reset" >&2; exit 2 ;;
esac
