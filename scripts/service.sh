# Sourced by scripts/kafka.sh and scripts/s3.sh: a local server run in the
# background with a pid file. Needs PIDFILE set by the caller.

running_pid() { # the server's pid, if its pid file names a live process
  [ -f "$PIDFILE" ] || return 1
  local pid
  pid=$(cat "$PIDFILE")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then echo "$pid"; return 0; fi
  return 1
}

port_in_use() { # does anything accept connections on 127.0.0.1:PORT?
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

stop_service() { # stop_service LABEL WHAT SECONDS: TERM, wait up to SECONDS, then KILL
  local label=$1 what=$2 seconds=$3 pid
  if ! pid=$(running_pid); then
    rm -f "$PIDFILE"
    echo "$label: not running"
    return 0
  fi
  echo "$label: stopping $what (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 $((seconds * 4))); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$PIDFILE"; echo "$label: stopped"; return 0; }
    sleep 0.25
  done
  echo "$label: $what did not stop within ${seconds}s; killing it" >&2
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$PIDFILE"
}
