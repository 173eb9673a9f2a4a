#!/usr/bin/env bash
# A real single-node Apache Kafka broker (KRaft: broker + controller in one
# JVM) on 127.0.0.1, run from the jars scripts/setup.sh cached. Not a mock.
#
# Usage: scripts/kafka.sh start|stop|restart|status|clean
#        scripts/kafka.sh topics [list | create NAME [PARTITIONS] | delete NAME]
#
# Env:   KAFKA_PORT              client port (default 9092)
#        KAFKA_CONTROLLER_PORT   KRaft controller port (default KAFKA_PORT + 1)
#        LAKEHOUSE_KAFKA_DIR     data, logs, config, pid (default .kafka/)
#        KAFKA_HEAP              broker heap (default 512m)
#        KAFKA_START_TIMEOUT     seconds to wait for the broker (default 60)
#        KAFKA_CLUSTER_ID        cluster id for a first format (default: a new random one)
#        KAFKA_SASL_PORT         opt-in second listener SASL_PLAINTEXT://127.0.0.1:PORT with
#                                SCRAM-SHA-512 (PLAINTEXT stays, for the broker itself)
#        KAFKA_SASL_USER         its SCRAM user (default lakehouse), added at the first format
#        KAFKA_SASL_PASSWORD     that user's password (needed with KAFKA_SASL_PORT; never printed)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PORT=${KAFKA_PORT:-9092}
SASL_PORT=${KAFKA_SASL_PORT:-}
for value in "$PORT" "${KAFKA_CONTROLLER_PORT:-1}" "${SASL_PORT:-1}"; do
  if [[ ! "$value" =~ ^[0-9]+$ ]] || [ "$value" -lt 1 ] || [ "$value" -gt 65534 ]; then
    echo "kafka.sh: error: invalid port '$value' (KAFKA_PORT / KAFKA_CONTROLLER_PORT / KAFKA_SASL_PORT)" >&2
    exit 2
  fi
done
SASL_USER=${KAFKA_SASL_USER:-lakehouse}
if [ -n "$SASL_PORT" ] && [ -z "${KAFKA_SASL_PASSWORD:-}" ]; then
  echo "kafka.sh: error: KAFKA_SASL_PORT needs KAFKA_SASL_PASSWORD (the SCRAM user's password)" >&2
  exit 2
fi
CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-$((PORT + 1))}
DIR=${LAKEHOUSE_KAFKA_DIR:-$ROOT/.kafka}
JARS=${LAKEHOUSE_JARS_DIR:-$ROOT/.cache/jars}/kafka
HEAP=${KAFKA_HEAP:-512m}
TIMEOUT=${KAFKA_START_TIMEOUT:-60}
PIDFILE=$DIR/broker.pid
BOOTSTRAP=127.0.0.1:$PORT

if [ -x "$ROOT/.venv/bin/python" ]; then PY=$ROOT/.venv/bin/python; else PY=python3; fi

# shellcheck source=scripts/service.sh
source "$ROOT/scripts/service.sh"

die() { echo "kafka.sh: error: $*" >&2; exit 1; }

probe() { # probe [WAIT_SECONDS]: does a broker answer on BOOTSTRAP?
  PYTHONPATH="$ROOT/lib" "$PY" -m lakehouse.stream.probe "$BOOTSTRAP" --wait "${1:-0}"
}

require_jars() {
  [ -f "$JARS/manifest.json" ] && ls "$JARS"/kafka_2.13-*.jar >/dev/null 2>&1 \
    || die "Kafka broker jars not found in $JARS: run scripts/setup.sh"
}

java_setup() {
  # shellcheck source=scripts/java.sh
  source "$ROOT/scripts/java.sh"
  require_java 17
}

write_config() {
  mkdir -p "$DIR/data" "$DIR/logs"
  local listeners="PLAINTEXT://127.0.0.1:$PORT" protocols="PLAINTEXT:PLAINTEXT"
  if [ -n "$SASL_PORT" ]; then
    listeners="$listeners,SASL_PLAINTEXT://127.0.0.1:$SASL_PORT"
    protocols="$protocols,SASL_PLAINTEXT:SASL_PLAINTEXT"
  fi
  cat > "$DIR/server.properties" <<EOF
# written by scripts/kafka.sh; edit the script, not this file
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=$listeners,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=$listeners
controller.listener.names=CONTROLLER
listener.security.protocol.map=$protocols,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$DIR/data
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
delete.topic.enable=true
log.retention.hours=168
EOF
  if [ -n "$SASL_PORT" ]; then # the users live in the cluster metadata (added at format time)
    cat >> "$DIR/server.properties" <<EOF
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
EOF
  fi
  cat > "$DIR/log4j2.properties" <<EOF
status = error
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = $DIR/logs/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.controller.name = org.apache.kafka.controller
logger.controller.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
EOF
  cat > "$DIR/tools-log4j2.properties" <<EOF
status = error
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = %p %m%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = STDERR
EOF
}

jvm() { # jvm MAIN_CLASS ARGS...: run a Kafka class from the cached jars
  [ -f "$DIR/tools-log4j2.properties" ] || write_config
  "$JAVA" -Xmx256m -Dlog4j2.configurationFile="$DIR/tools-log4j2.properties" \
    -cp "$JARS/*" "$@"
}

scram_credential() { # the SASL user as StorageTool's --add-scram value, salted here
  # so the password is in no command line and no log (and may hold any character)
  SCRAM_USER=$SASL_USER "$PY" -c '
import base64, hashlib, os
salt, iterations = os.urandom(24), 8192
salted = hashlib.pbkdf2_hmac(
    "sha512", os.environ["KAFKA_SASL_PASSWORD"].encode(), salt, iterations
)
b64 = lambda raw: base64.b64encode(raw).decode()
user = os.environ["SCRAM_USER"]
print(f"SCRAM-SHA-512=[name={user},iterations={iterations},salt=\"{b64(salt)}\",saltedpassword=\"{b64(salted)}\"]")
'
}

cmd_start() {
  if pid=$(running_pid); then
    if probe 0 >/dev/null; then
      echo "kafka: already running (pid $pid) at $BOOTSTRAP"
      return 0
    fi
    echo "kafka: process $pid is up but not answering yet; waiting ..."
    probe "$TIMEOUT" || die "broker (pid $pid) does not answer at $BOOTSTRAP; see $DIR/logs/"
    return 0
  fi
  require_jars
  java_setup
  for p in "$PORT" "$CONTROLLER_PORT" $SASL_PORT; do
    port_in_use "$p" && die "port $p on 127.0.0.1 is already in use by another process (set KAFKA_PORT)"
  done
  write_config
  if [ ! -f "$DIR/data/meta.properties" ]; then
    local cluster_id
    # A URL-safe base64 id may start with "-"; passed as "-t ID" the tool read it
    # as an option (1 start in 64 failed so). Draw again like Kafka's own Uuid, and
    # pass it as --cluster-id=ID so even a given KAFKA_CLUSTER_ID is safe.
    cluster_id=${KAFKA_CLUSTER_ID:-$("$PY" -c '
import base64, uuid
while True:
    cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
    if not cid.startswith("-"):
        print(cid)
        break
')}
    local scram=()
    if [ -n "$SASL_PORT" ]; then
      scram=(--add-scram "$(scram_credential)")
      echo "kafka: adding the SCRAM-SHA-512 user $SASL_USER"
    fi
    echo "kafka: formatting storage in $DIR/data (cluster id $cluster_id)"
    jvm kafka.tools.StorageTool format --cluster-id="$cluster_id" -c "$DIR/server.properties" \
      "${scram[@]}" > "$DIR/logs/format.log" 2>&1 \
      || { cat "$DIR/logs/format.log" >&2; die "storage format failed"; }
  fi
  echo "kafka: starting broker on $BOOTSTRAP (controller 127.0.0.1:$CONTROLLER_PORT, data $DIR)"
  nohup "$JAVA" -Xms128m -Xmx"$HEAP" -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$DIR/log4j2.properties" -Dkafka.logs.dir="$DIR/logs" \
    -cp "$JARS/*" kafka.Kafka "$DIR/server.properties" \
    > "$DIR/logs/broker.out" 2>&1 < /dev/null &
  echo $! > "$PIDFILE"
  local waited=0
  while ! probe 0 >/dev/null 2>&1; do
    if ! running_pid >/dev/null; then
      tail -n 20 "$DIR/logs/broker.out" "$DIR/logs/server.log" 2>/dev/null >&2 || true
      rm -f "$PIDFILE"
      die "broker exited during start-up (logs above, all in $DIR/logs)"
    fi
    if [ "$waited" -ge $((TIMEOUT * 2)) ]; then
      die "broker did not answer within ${TIMEOUT}s; see $DIR/logs/server.log"
    fi
    sleep 0.5
    waited=$((waited + 1))
  done
  echo "kafka: ready at $BOOTSTRAP (pid $(cat "$PIDFILE"))"
  [ -z "$SASL_PORT" ] || echo "kafka: SASL_PLAINTEXT (SCRAM-SHA-512, user $SASL_USER) at 127.0.0.1:$SASL_PORT"
}

cmd_stop() {
  stop_service kafka broker 30
}

cmd_status() {
  local pid
  if pid=$(running_pid) && probe 0 >/dev/null 2>&1; then
    echo "kafka: running (pid $pid) at $BOOTSTRAP, data in $DIR"
    return 0
  fi
  if pid=$(running_pid); then
    echo "kafka: process $pid is up but the broker does not answer at $BOOTSTRAP"
    return 1
  fi
  echo "kafka: stopped"
  return 3
}

cmd_topics() {
  require_jars
  java_setup
  running_pid >/dev/null || die "broker is not running: scripts/kafka.sh start"
  local action=${1:-list}
  case "$action" in
    list) jvm org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" --list ;;
    create)
      [ $# -ge 2 ] || die "usage: kafka.sh topics create NAME [PARTITIONS]"
      jvm org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" --create \
        --if-not-exists --topic "$2" --partitions "${3:-1}" --replication-factor 1 ;;
    delete)
      [ $# -ge 2 ] || die "usage: kafka.sh topics delete NAME"
      jvm org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" --delete --topic "$2" ;;
    describe)
      jvm org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" --describe ${2:+--topic "$2"} ;;
    *) die "unknown topics action '$action' (list, create, delete, describe)" ;;
  esac
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  restart) cmd_stop; cmd_start ;;
  status) cmd_status ;;
  clean) cmd_stop; rm -rf "$DIR"; echo "kafka: removed $DIR" ;;
  topics) shift; cmd_topics "$@" ;;
  *) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
