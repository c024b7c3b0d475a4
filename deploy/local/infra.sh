#!/usr/bin/env bash
# Brings the local infrastructure (PostgreSQL, Kafka) up or down. Usage: infra.sh up|down|status
# KAFKA_BROKERS=3: Kafka is a local 3-node cluster (deploy/local/kafka-cluster.sh) instead of the single broker;
# `down` then stops the cluster alone (PostgreSQL and the single broker serve everyone else).
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/common.sh"
case "${1:-}" in
  up)
    # Something else already provides them (CI service containers, testcontainers, a cluster):
    # KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL set by hand mean "use those, start nothing".
    # PBI_TEST_INFRA=env|testcontainers (testkit/infra.py reads the same variable) means the same;
    # PBI_EXTERNAL_INFRA is its older name.
    case "${PBI_TEST_INFRA:-local}" in
      env|testcontainers) say "PBI_TEST_INFRA=$PBI_TEST_INFRA: not starting local Kafka/PostgreSQL"; exit 0 ;;
    esac
    if [ -n "${PBI_EXTERNAL_INFRA:-}" ]; then say "PBI_EXTERNAL_INFRA set: not starting local Kafka/PostgreSQL"; exit 0; fi
    "$here/postgres.sh" start
    "$here/kafka.sh" start ;;
  down)
    "$here/kafka.sh" stop
    if [ "${KAFKA_BROKERS:-1}" = 1 ]; then "$here/postgres.sh" stop; fi ;;
  status) "$here/postgres.sh" status || true; "$here/kafka.sh" status || true ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
