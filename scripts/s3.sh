#!/usr/bin/env bash
# A real S3-compatible server on 127.0.0.1: S3Proxy (Apache 2.0, from Maven
# Central) serving a local folder, with AWS Signature V4 authentication and
# conditional writes (PUT with If-None-Match: * answers 412 when the key
# exists), run from the jars scripts/setup.sh cached. Not a mock.
#
# Usage: scripts/s3.sh start|stop|restart|status|clean
#
# Env:   S3_PORT                port (default 9000); endpoint http://127.0.0.1:S3_PORT
#        S3_ACCESS_KEY          the one access key the server accepts (required for start)
#        S3_SECRET_KEY          its secret (required for start; never printed, kept in a 0600 file)
#        S3_BUCKETS             buckets to create at start, space-separated (default: lake)
#        LAKEHOUSE_S3_DIR       objects, config, logs, pid (default .s3/)
#        S3_HEAP                server heap (default 256m)
#        S3_START_TIMEOUT       seconds to wait for the server (default 60)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PORT=${S3_PORT:-9000}
if [[ ! "$PORT" =~ ^[0-9]+$ ]] || [ "$PORT" -lt 1 ] || [ "$PORT" -gt 65535 ]; then
  echo "s3.sh: error: invalid port '$PORT' (S3_PORT)" >&2
  exit 2
fi
DIR=${LAKEHOUSE_S3_DIR:-$ROOT/.s3}
JARS=${LAKEHOUSE_JARS_DIR:-$ROOT/.cache/jars}/s3server
HEAP=${S3_HEAP:-256m}
TIMEOUT=${S3_START_TIMEOUT:-60}
BUCKETS=${S3_BUCKETS:-lake}
PIDFILE=$DIR/server.pid
ENDPOINT=http://127.0.0.1:$PORT

if [ -x "$ROOT/.venv/bin/python" ]; then PY=$ROOT/.venv/bin/python; else PY=python3; fi

# shellcheck source=scripts/service.sh
source "$ROOT/scripts/service.sh"

die() { echo "s3.sh: error: $*" >&2; exit 1; }

answers() { # does anything answer HTTP at ENDPOINT? (an anonymous request gets 403)
  "$PY" - "$ENDPOINT" <<'EOF'
import sys, urllib.error, urllib.request
try:
    urllib.request.urlopen(sys.argv[1] + "/", timeout=2)
except urllib.error.HTTPError:
    pass  # S3's AccessDenied: the server is up
except OSError:
    sys.exit(1)
EOF
}

write_config() {
  mkdir -p "$DIR/data" "$DIR/logs"
  local bucket
  for bucket in $BUCKETS; do
    [[ "$bucket" =~ ^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$ ]] \
      || { echo "s3.sh: error: invalid bucket name '$bucket' (S3_BUCKETS)" >&2; exit 2; }
    mkdir -p "$DIR/data/$bucket" # the filesystem backend: a bucket is a folder
  done
  (
    umask 077
    cat > "$DIR/s3proxy.conf" <<EOF
# written by scripts/s3.sh; edit the script, not this file
s3proxy.endpoint=$ENDPOINT
s3proxy.authorization=aws-v2-or-v4
s3proxy.identity=$S3_ACCESS_KEY
s3proxy.credential=$S3_SECRET_KEY
jclouds.provider=filesystem-nio2
jclouds.filesystem.basedir=$DIR/data
EOF
  )
  cat > "$DIR/logback.xml" <<EOF
<configuration>
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>$DIR/logs/server.log</file>
    <encoder><pattern>%d %-5level %logger{24} %msg%n</pattern></encoder>
  </appender>
  <root level="WARN"><appender-ref ref="FILE"/></root>
</configuration>
EOF
}

cmd_start() {
  if pid=$(running_pid); then
    answers || die "process $pid is up but does not answer at $ENDPOINT; see $DIR/logs/"
    echo "s3: already running (pid $pid) at $ENDPOINT"
    return 0
  fi
  [ -n "${S3_ACCESS_KEY:-}" ] || { echo "s3.sh: error: S3_ACCESS_KEY is not set (the server's access key)" >&2; exit 2; }
  [ -n "${S3_SECRET_KEY:-}" ] || { echo "s3.sh: error: S3_SECRET_KEY is not set (the server's secret key)" >&2; exit 2; }
  [ -f "$JARS/manifest.json" ] && ls "$JARS"/s3proxy-*.jar >/dev/null 2>&1 \
    || die "S3Proxy jars not found in $JARS: run scripts/setup.sh"
  # shellcheck source=scripts/java.sh
  source "$ROOT/scripts/java.sh"
  require_java 17
  port_in_use "$PORT" && die "port $PORT on 127.0.0.1 is already in use by another process (set S3_PORT)"
  write_config
  echo "s3: starting S3Proxy at $ENDPOINT (buckets: $BUCKETS; objects in $DIR/data)"
  nohup "$JAVA" -Xms64m -Xmx"$HEAP" -Djava.awt.headless=true \
    -Dlogback.configurationFile="$DIR/logback.xml" \
    -cp "$JARS/*" org.gaul.s3proxy.Main --properties "$DIR/s3proxy.conf" \
    > "$DIR/logs/server.out" 2>&1 < /dev/null &
  echo $! > "$PIDFILE"
  local rc=0
  wait_ready "$TIMEOUT" answers "$DIR/logs/server.out" "$DIR/logs/server.log" || rc=$?
  [ "$rc" -ne 1 ] || die "server exited during start-up (logs above, all in $DIR/logs)"
  [ "$rc" -ne 2 ] || die "server did not answer within ${TIMEOUT}s; see $DIR/logs/"
  echo "s3: ready at $ENDPOINT (pid $(cat "$PIDFILE"))"
}

cmd_stop() {
  stop_service s3 S3Proxy 10
}

cmd_status() {
  local pid
  if pid=$(running_pid) && answers; then
    echo "s3: running (pid $pid) at $ENDPOINT, objects in $DIR/data"
    return 0
  fi
  if pid=$(running_pid); then
    echo "s3: process $pid is up but does not answer at $ENDPOINT"
    return 1
  fi
  echo "s3: stopped"
  return 3
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  restart) cmd_stop; cmd_start ;;
  status) cmd_status ;;
  clean) cmd_stop; rm -rf "$DIR"; echo "s3: removed $DIR" ;;
  *) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
