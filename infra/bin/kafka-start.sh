#!/usr/bin/env bash
# Start a single-node Apache Kafka (KRaft) on 127.0.0.1:${KAFKA_PORT:-9092} and wait until it serves.
# Jars come from Maven Central via Maven (cached in ~/.m2 and $CACHE_DIR); idempotent: exits 0 if already up.
set -euo pipefail
source "$(dirname "$0")/common.sh"

KAFKA_VERSION="${KAFKA_VERSION:-3.9.1}"
PORT="${KAFKA_PORT:-9092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
LIB_DIR="$CACHE_DIR/kafka-$KAFKA_VERSION/lib"
DATA_DIR="$STATE_DIR/kafka-$PORT/data"
RUN_DIR="$STATE_DIR/kafka-$PORT"
TIMEOUT="${KAFKA_START_TIMEOUT:-120}"

if port_open 127.0.0.1 "$PORT"; then
  log "Kafka already accepting connections on 127.0.0.1:$PORT"
  exit 0
fi

command -v java >/dev/null || die "java not found (install a JDK 17+: apt-get install -y openjdk-17-jre-headless)"

if [ ! -f "$LIB_DIR/.complete" ]; then
  command -v mvn >/dev/null || { log "installing maven"; run_as_root apt-get update -qq; run_as_root apt-get install -y -qq maven >/dev/null; }
  log "resolving Apache Kafka $KAFKA_VERSION from Maven Central into $LIB_DIR"
  rm -rf "$LIB_DIR"; mkdir -p "$LIB_DIR"
  mvn -q -B -Dstyle.color=never -f "$ROOT/infra/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$LIB_DIR" >&2
  touch "$LIB_DIR/.complete"
fi

mkdir -p "$RUN_DIR" "$DATA_DIR"
CONF="$RUN_DIR/server.properties"
sed -e "s#@DATA_DIR@#$DATA_DIR#" -e "s#@PORT@#$PORT#g" -e "s#@CONTROLLER_PORT@#$CONTROLLER_PORT#g" \
    "$ROOT/infra/kafka/server.properties.in" > "$CONF"

JAVA_OPTS=(-Xms256m -Xmx${KAFKA_HEAP:-768m} -XX:+UseG1GC -Djava.awt.headless=true
           -Dlog4j.configuration="file:$ROOT/infra/kafka/log4j.properties")

if [ ! -f "$DATA_DIR/meta.properties" ]; then
  CLUSTER_ID="$(java -cp "$LIB_DIR/*" "${JAVA_OPTS[@]}" kafka.tools.StorageTool random-uuid)"
  log "formatting KRaft storage in $DATA_DIR (cluster $CLUSTER_ID)"
  java -cp "$LIB_DIR/*" "${JAVA_OPTS[@]}" kafka.tools.StorageTool format -t "$CLUSTER_ID" -c "$CONF" >&2
fi

log "starting Kafka $KAFKA_VERSION on 127.0.0.1:$PORT (log: $RUN_DIR/kafka.log)"
nohup java -cp "$LIB_DIR/*" "${JAVA_OPTS[@]}" kafka.Kafka "$CONF" > "$RUN_DIR/kafka.log" 2>&1 &
echo $! > "$RUN_DIR/kafka.pid"

for ((i = 0; i < TIMEOUT * 2; i++)); do
  if ! kill -0 "$(cat "$RUN_DIR/kafka.pid")" 2>/dev/null; then
    tail -n 40 "$RUN_DIR/kafka.log" >&2
    die "Kafka exited during start-up (see $RUN_DIR/kafka.log)"
  fi
  if port_open 127.0.0.1 "$PORT" && grep -q "Kafka Server started\|KafkaRaftServer.*started" "$RUN_DIR/kafka.log"; then
    log "Kafka is up on 127.0.0.1:$PORT after $((i / 2)) s"
    exit 0
  fi
  sleep 0.5
done
die "Kafka did not accept connections within ${TIMEOUT}s (see $RUN_DIR/kafka.log)"
