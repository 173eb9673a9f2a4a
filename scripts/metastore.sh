#!/usr/bin/env bash
# A Hive metastore on 127.0.0.1 for a lake on one machine: the metastore of
# the Hive 2.3 jars pyspark ships, over an embedded Derby database, served
# by lakehouse.catalog.LoopbackMetastore (jvm/src) so that it listens on the
# loopback interface only. Several Spark applications (a stream, batch loads,
# an analyst's spark-sql) share it; Derby's files stay owned by one JVM.
#
# Usage: scripts/metastore.sh start|stop|restart|status|clean
#
# Env:   METASTORE_PORT              port (default 9083); URI thrift://127.0.0.1:PORT
#        LAKEHOUSE_METASTORE_DIR     Derby database, logs, pid (default .lake/_catalog/metastore)
#        METASTORE_WAREHOUSE         warehouse of managed tables (default file:<dir>/warehouse)
#        METASTORE_HEAP              server heap (default 512m)
#        METASTORE_START_TIMEOUT     seconds to wait for the server (default 90)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PORT=${METASTORE_PORT:-9083}
if [[ ! "$PORT" =~ ^[0-9]+$ ]] || [ "$PORT" -lt 1 ] || [ "$PORT" -gt 65535 ]; then
  echo "metastore.sh: error: invalid port '$PORT' (METASTORE_PORT)" >&2
  exit 2
fi
DIR=${LAKEHOUSE_METASTORE_DIR:-$ROOT/.lake/_catalog/metastore}
JARS=${LAKEHOUSE_JARS_DIR:-$ROOT/.cache/jars}/lakehouse
HEAP=${METASTORE_HEAP:-512m}
TIMEOUT=${METASTORE_START_TIMEOUT:-90}
PIDFILE=$DIR/server.pid

if [ -x "$ROOT/.venv/bin/python" ]; then PY=$ROOT/.venv/bin/python; else PY=python3; fi

# shellcheck source=scripts/service.sh
source "$ROOT/scripts/service.sh"

die() { echo "metastore.sh: error: $*" >&2; exit 1; }

answers() { port_in_use "$PORT"; } # the Thrift server accepts connections

cmd_start() {
  if pid=$(running_pid); then
    answers || die "process $pid is up but does not answer on port $PORT; see $DIR/logs/"
    echo "metastore: already running (pid $pid) at thrift://127.0.0.1:$PORT"
    return 0
  fi
  [ -f "$JARS/lakehouse-jvm.jar" ] || die "the project's jar is not built in $JARS: run scripts/setup.sh"
  local spark_jars
  spark_jars=$("$PY" -c 'import os, pyspark; print(os.path.join(os.path.dirname(pyspark.__file__), "jars"))' 2>/dev/null) \
    || die "pyspark not found for $PY: run scripts/setup.sh"
  ls "$spark_jars"/hive-metastore-*.jar >/dev/null 2>&1 || die "no Hive metastore jar in $spark_jars"
  # shellcheck source=scripts/java.sh
  source "$ROOT/scripts/java.sh"
  require_java 17
  port_in_use "$PORT" && die "port $PORT on 127.0.0.1 is already in use by another process (set METASTORE_PORT)"
  mkdir -p "$DIR/logs"
  local warehouse=${METASTORE_WAREHOUSE:-file:$DIR/warehouse}
  echo "metastore: starting at thrift://127.0.0.1:$PORT (database $DIR/metastore_db)"
  (
    cd "$DIR/logs" # derby.log and Hive's scratch files land here, not in the caller's folder
    nohup "$JAVA" -Xms64m -Xmx"$HEAP" -Djava.awt.headless=true \
      -Dhive.async.log.enabled=false -Dderby.stream.error.file="$DIR/logs/derby.log" \
      --add-opens=java.base/java.lang=ALL-UNNAMED --add-opens=java.base/java.net=ALL-UNNAMED \
      --add-opens=java.base/java.util=ALL-UNNAMED --add-opens=java.base/java.nio=ALL-UNNAMED \
      --add-opens=java.base/sun.nio.ch=ALL-UNNAMED \
      -cp "$JARS/*:$spark_jars/*" lakehouse.catalog.LoopbackMetastore \
      127.0.0.1 "$PORT" "$DIR/metastore_db" "$warehouse" \
      > "$DIR/logs/server.out" 2>&1 < /dev/null &
    echo $! > "$PIDFILE"
  )
  local rc=0
  wait_ready "$TIMEOUT" answers "$DIR/logs/server.out" || rc=$?
  [ "$rc" -ne 1 ] || die "metastore exited during start-up (log above, all in $DIR/logs)"
  [ "$rc" -ne 2 ] || die "metastore did not answer within ${TIMEOUT}s; see $DIR/logs/"
  echo "metastore: ready at thrift://127.0.0.1:$PORT (pid $(cat "$PIDFILE"))"
}

cmd_status() {
  local pid
  if pid=$(running_pid) && answers; then
    echo "metastore: running (pid $pid) at thrift://127.0.0.1:$PORT, database $DIR/metastore_db"
    return 0
  fi
  if pid=$(running_pid); then
    echo "metastore: process $pid is up but does not answer on port $PORT"
    return 1
  fi
  echo "metastore: stopped"
  return 3
}

case "${1:-}" in
  start) cmd_start ;;
  stop) stop_service metastore "the metastore" 15 ;;
  restart) stop_service metastore "the metastore" 15; cmd_start ;;
  status) cmd_status ;;
  clean) stop_service metastore "the metastore" 15; rm -rf "$DIR"; echo "metastore: removed $DIR" ;;
  *) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
