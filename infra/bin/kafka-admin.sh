#!/usr/bin/env bash
# Kafka's admin tools against a broker started by this project, as its super user when it was started with
# --sasl (client config: $STATE_DIR/kafka-$PORT/admin.properties). Usage:
#   KAFKA_PORT=9094 kafka-admin.sh acls --add --allow-principal User:router --operation All \
#       --resource-pattern-type prefixed --topic llm. --group llm-router
#   echo "$PASSWORD" | KAFKA_PORT=9094 kafka-admin.sh scram-user NAME   # create/change a SCRAM-SHA-512 user
#   KAFKA_PORT=9094 kafka-admin.sh configs --describe --entity-type users
set -euo pipefail
source "$(dirname "$0")/common.sh"
PORT="${KAFKA_PORT:-9092}"
LIB_DIR="$CACHE_DIR/kafka-${KAFKA_VERSION:-3.9.1}/lib"
ADMIN_CONF="$STATE_DIR/kafka-$PORT/admin.properties"
[ -f "$LIB_DIR/.complete" ] || die "Kafka is not installed yet (run kafka-start.sh first)"
COMMAND_CONFIG=()
[ -f "$ADMIN_CONF" ] && COMMAND_CONFIG=(--command-config "$ADMIN_CONF")
# a short-lived tool: small heap, quick start-up (no optimising compiler)
JAVA=(java -cp "$LIB_DIR/*" -Xmx128m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Djava.awt.headless=true
      -Dlog4j.configuration="file:$ROOT/infra/kafka/log4j.properties")
tool="${1:-}"; shift || true
case "$tool" in
  acls) exec "${JAVA[@]}" kafka.admin.AclCommand --bootstrap-server "127.0.0.1:$PORT" "${COMMAND_CONFIG[@]}" "$@" ;;
  configs) exec "${JAVA[@]}" kafka.admin.ConfigCommand --bootstrap-server "127.0.0.1:$PORT" "${COMMAND_CONFIG[@]}" "$@" ;;
  scram-user)  # the password comes on stdin and goes through a private file, never on a command line
    [ $# = 1 ] || die "usage: echo PASSWORD | kafka-admin.sh scram-user NAME"
    IFS= read -r password || [ -n "$password" ] || die "no password on stdin"
    file="$(umask 077; mktemp)"; trap 'rm -f "$file"' EXIT
    printf 'SCRAM-SHA-512=password=%s\n' "$password" > "$file"
    "${JAVA[@]}" kafka.admin.ConfigCommand --bootstrap-server "127.0.0.1:$PORT" "${COMMAND_CONFIG[@]}" \
      --alter --entity-type users --entity-name "$1" --add-config-file "$file" ;;
  *) die "usage: kafka-admin.sh {acls|configs|scram-user} ARGS... (see the header of this script)" ;;
esac
