#!/usr/bin/env bash
# Start a single-node Apache Kafka (KRaft) on 127.0.0.1:${KAFKA_PORT:-9092} and wait until it serves.
# Jars come from Maven Central via Maven (cached in ~/.m2 and $CACHE_DIR); idempotent: exits 0 if already up.
#
# --sasl: every client authenticates (SASL/SCRAM-SHA-512) and needs ACLs (StandardAuthorizer, nothing allowed by
# default; the super user is `admin`). Its password is $KAFKA_ADMIN_PASSWORD, else generated once and kept in
# $STATE_DIR/kafka-$PORT/admin.password; admin.properties there is a client config for the Kafka tools (see
# kafka-admin.sh). Use its own port and state (kafka-sasl-start.sh: 9094, controller 9095).
# Heap: $KAFKA_HEAP_OPTS (default -Xms256m -Xmx${KAFKA_HEAP:-768m}).
set -euo pipefail
source "$(dirname "$0")/common.sh"

SASL=0
for arg in "$@"; do
  case "$arg" in
    --sasl) SASL=1 ;;
    *) die "unknown argument: $arg (usage: kafka-start.sh [--sasl])" ;;
  esac
done

KAFKA_VERSION="${KAFKA_VERSION:-3.9.1}"
PORT="${KAFKA_PORT:-9092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
LIB_DIR="$CACHE_DIR/kafka-$KAFKA_VERSION/lib"
DATA_DIR="$STATE_DIR/kafka-$PORT/data"
RUN_DIR="$STATE_DIR/kafka-$PORT"
TIMEOUT="${KAFKA_START_TIMEOUT:-120}"
MODE=$([ "$SASL" = 1 ] && echo sasl || echo plaintext)

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
if [ -f "$DATA_DIR/meta.properties" ] && [ "$(cat "$RUN_DIR/mode" 2>/dev/null || echo plaintext)" != "$MODE" ]; then
  die "$DATA_DIR was formatted for a $(cat "$RUN_DIR/mode" 2>/dev/null || echo plaintext) broker, not $MODE: use another KAFKA_PORT, or delete $RUN_DIR"
fi
CONF="$RUN_DIR/server.properties"
TEMPLATES=("$ROOT/infra/kafka/server.properties.in")
ADMIN_PASSWORD=""
if [ "$SASL" = 1 ]; then
  TEMPLATES+=("$ROOT/infra/kafka/sasl.properties.in")
  umask 077  # the config, the password and the tools' client config hold the admin's password
  if [ -n "${KAFKA_ADMIN_PASSWORD:-}" ]; then printf '%s' "$KAFKA_ADMIN_PASSWORD" > "$RUN_DIR/admin.password"; fi
  [ -s "$RUN_DIR/admin.password" ] || od -An -N24 -tx1 /dev/urandom | tr -d ' \n' > "$RUN_DIR/admin.password"
  ADMIN_PASSWORD="$(cat "$RUN_DIR/admin.password")"
  [[ "$ADMIN_PASSWORD" =~ ^[A-Za-z0-9._-]+$ ]] || die "the admin password may only hold letters, digits and . _ -"
  cat > "$RUN_DIR/admin.properties" <<PROPS
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$ADMIN_PASSWORD";
PROPS
fi
cat "${TEMPLATES[@]}" | sed -e "s#@DATA_DIR@#$DATA_DIR#" -e "s#@PORT@#$PORT#g" \
    -e "s#@CONTROLLER_PORT@#$CONTROLLER_PORT#g" -e "s#@ADMIN_PASSWORD@#$ADMIN_PASSWORD#g" > "$CONF"

read -r -a HEAP_OPTS <<< "${KAFKA_HEAP_OPTS:--Xms256m -Xmx${KAFKA_HEAP:-768m}}"
JAVA_OPTS=("${HEAP_OPTS[@]}" -XX:+UseG1GC -Djava.awt.headless=true
           -Dlog4j.configuration="file:$ROOT/infra/kafka/log4j.properties")

if [ ! -f "$DATA_DIR/meta.properties" ]; then
  CLUSTER_ID="$(java -cp "$LIB_DIR/*" "${JAVA_OPTS[@]}" kafka.tools.StorageTool random-uuid)"
  log "formatting KRaft storage in $DATA_DIR (cluster $CLUSTER_ID, $MODE)"
  SCRAM=()
  [ "$SASL" = 1 ] && SCRAM=(--add-scram "SCRAM-SHA-512=[name=admin,password=$ADMIN_PASSWORD]")
  java -cp "$LIB_DIR/*" "${JAVA_OPTS[@]}" kafka.tools.StorageTool format -t "$CLUSTER_ID" -c "$CONF" "${SCRAM[@]}" >&2
  echo "$MODE" > "$RUN_DIR/mode"
fi

log "starting Kafka $KAFKA_VERSION ($MODE) on 127.0.0.1:$PORT (log: $RUN_DIR/kafka.log)"
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
